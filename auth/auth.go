// Package auth verifies the Bearer JWTs of callers against an issuer's JWKS and provides
// the development token issuer.
package auth

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/videoforge/videoforge"
)

// Defaults applied by NewVerifier to the zero values of Config.
const (
	DefaultLeeway          = 30 * time.Second
	DefaultRefreshInterval = 15 * time.Minute
)

// Config says whose tokens a Verifier accepts.
type Config struct {
	JWKSURL         string        // where the signing keys are published
	Issuer          string        // expected `iss`, exact match
	ClientID        string        // expected `client_id` of access tokens and `aud` of id tokens; "" = not checked
	Leeway          time.Duration // clock skew allowed on exp, nbf and iat; 0 means DefaultLeeway
	RefreshInterval time.Duration // how often the JWKS is refreshed in the background; 0 means DefaultRefreshInterval
}

// Validate checks the configuration before anything is fetched and names what is
// missing or wrong.
func (c Config) Validate() error {
	var errs []error
	if c.JWKSURL == "" {
		errs = append(errs, errors.New("auth: JWKS URL is not set"))
	} else if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("auth: JWKS URL %q is not an absolute http(s) URL", c.JWKSURL))
	}
	if c.Issuer == "" {
		errs = append(errs, errors.New("auth: issuer is not set"))
	}
	if c.Leeway < 0 {
		errs = append(errs, fmt.Errorf("auth: leeway %v is negative", c.Leeway))
	}
	if c.RefreshInterval < 0 {
		errs = append(errs, fmt.Errorf("auth: JWKS refresh interval %v is negative", c.RefreshInterval))
	}
	return errors.Join(errs...)
}

var (
	cognitoRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	cognitoPoolID = regexp.MustCompile(`^([a-z]{2}(?:-[a-z]+)+-[0-9]+)_[0-9A-Za-z]+$`)
)

// CognitoConfig returns the Config for the tokens of a Cognito user pool. The region is
// taken from the pool id ("ap-southeast-2_jft50FBre") when region is "".
func CognitoConfig(region, poolID, clientID string) (Config, error) {
	m := cognitoPoolID.FindStringSubmatch(poolID)
	if m == nil {
		return Config{}, fmt.Errorf("auth: Cognito user pool id %q is not of the form <region>_<id>", poolID)
	}
	if region == "" {
		region = m[1]
	} else if !cognitoRegion.MatchString(region) {
		return Config{}, fmt.Errorf("auth: %q is not an AWS region", region)
	}
	iss := "https://cognito-idp." + region + ".amazonaws.com/" + poolID
	return Config{JWKSURL: iss + "/.well-known/jwks.json", Issuer: iss, ClientID: clientID}, nil
}

// User is an authenticated caller.
type User struct {
	ID       string // the token's `sub`, stable for the life of the account
	Username string // `username` (access tokens) or `cognito:username` (id tokens); may be ""
	TokenUse string // "access" or "id"
}

// BearerToken extracts the token from the value of an Authorization header. An empty
// header means an anonymous caller and gives ("", false, nil); a header that is not
// "Bearer <token>" (scheme in any case) is an EUNAUTHORIZED error, so that a client
// sending broken credentials learns of it instead of being served as anonymous.
func BearerToken(header string) (string, bool, error) {
	if header == "" {
		return "", false, nil
	}
	scheme, token, _ := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", false, videoforge.Errorf(videoforge.EUNAUTHORIZED, "malformed Authorization header: want \"Bearer <token>\"")
	}
	return token, true, nil
}

// fail returns a caller-safe *videoforge.Error, wrapped together with the detailed
// cause (for logs) when there is one.
func fail(code, msg string, cause error) error {
	e := videoforge.Errorf(code, "%s", msg)
	if cause == nil {
		return e
	}
	return fmt.Errorf("auth: %w: %w", e, cause)
}
