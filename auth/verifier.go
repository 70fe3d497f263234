package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/videoforge/videoforge"
)

const (
	maxTokenLen  = 16 << 10
	maxJWKSBytes = 1 << 20
	fetchTimeout = 10 * time.Second
	// forcedGap is the least time between two fetches forced by unknown kids, so that a
	// flood of bogus kids cannot hammer the issuer.
	forcedGap = 10 * time.Second
	// retryGap is the least time between two fetches while no keys are cached; callers
	// within it share the last failure.
	retryGap = time.Second
)

// Verifier checks Bearer JWTs against the keys an issuer publishes. It is safe for
// concurrent use.
type Verifier struct {
	cfg    Config
	client *http.Client

	mu   sync.RWMutex
	keys map[string]jwk.Key // by kid; nil until the first successful fetch; replaced, never mutated

	sem        chan struct{} // held while fetching; guards the fields below
	lastForced time.Time
	lastFail   time.Time
	lastErr    error
}

// NewVerifier returns a Verifier for cfg that fetches over client (a client with a
// timeout when nil). It fetches nothing yet, because the issuer may be this very
// process starting up: keys are fetched on first use and then refreshed in the
// background until ctx ends.
func NewVerifier(ctx context.Context, cfg Config, client *http.Client) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if client == nil {
		client = &http.Client{Timeout: fetchTimeout}
	}
	v := &Verifier{cfg: cfg, client: client, sem: make(chan struct{}, 1)}
	go v.refreshLoop(ctx)
	return v, nil
}

// TokenVerifier checks a Bearer token and returns its user: what the gallery's and the
// edge's servers take (a *Verifier, or a stand-in in tests).
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*User, error)
}

var _ TokenVerifier = (*Verifier)(nil)

// Verify checks a compact JWT and returns its caller. Every failure is an EUNAUTHORIZED
// *videoforge.Error with a short message safe to show, except that it is EUNAVAILABLE
// when no keys could ever be fetched.
func (v *Verifier) Verify(ctx context.Context, token string) (*User, error) {
	if !compactJWS(token) {
		return nil, fail(videoforge.EUNAUTHORIZED, "malformed token", nil)
	}
	msg, err := jws.ParseString(token)
	if err != nil {
		return nil, fail(videoforge.EUNAUTHORIZED, "malformed token", err)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return nil, fail(videoforge.EUNAUTHORIZED, "malformed token", nil)
	}
	// The header's alg is checked here because jwx verifies under the algorithm given
	// with the key and, by default, never compares it with the header.
	hdr := sigs[0].ProtectedHeaders()
	if alg, ok := hdr.Algorithm(); !ok || alg.String() != jwa.RS256().String() {
		return nil, fail(videoforge.EUNAUTHORIZED, "unsupported algorithm", nil)
	}
	kid, _ := hdr.KeyID()
	if kid == "" {
		return nil, fail(videoforge.EUNAUTHORIZED, "missing key id", nil)
	}
	key, err := v.key(ctx, kid)
	if err != nil {
		return nil, err
	}
	tok, err := jwt.ParseString(token, jwt.WithKey(jwa.RS256(), key), jwt.WithValidate(false))
	if errors.Is(err, jws.VerificationError()) || errors.Is(err, jws.VerifyError()) {
		return nil, fail(videoforge.EUNAUTHORIZED, "bad signature", err)
	} else if err != nil {
		return nil, fail(videoforge.EUNAUTHORIZED, "malformed token", err)
	}
	if err := v.validate(tok); err != nil {
		return nil, err
	}
	u := &User{}
	u.ID, _ = tok.Subject()
	_ = tok.Get("token_use", &u.TokenUse)
	if u.TokenUse == "id" {
		_ = tok.Get("cognito:username", &u.Username)
	}
	if u.Username == "" {
		_ = tok.Get("username", &u.Username)
	}
	return u, nil
}

// validate checks the claims of a token whose signature is good.
func (v *Verifier) validate(tok jwt.Token) error {
	err := jwt.Validate(tok, jwt.WithIssuer(v.cfg.Issuer), jwt.WithAcceptableSkew(v.cfg.Leeway), jwt.WithRequiredClaim(jwt.ExpirationKey))
	switch {
	case err == nil:
	case errors.Is(err, jwt.TokenExpiredError()):
		return fail(videoforge.EUNAUTHORIZED, "token expired", err)
	case errors.Is(err, jwt.TokenNotYetValidError()):
		return fail(videoforge.EUNAUTHORIZED, "token not valid yet", err)
	case errors.Is(err, jwt.InvalidIssuedAtError()):
		return fail(videoforge.EUNAUTHORIZED, "token issued in the future", err)
	case errors.Is(err, jwt.InvalidIssuerError()):
		return fail(videoforge.EUNAUTHORIZED, "wrong issuer", err)
	case errors.Is(err, jwt.MissingRequiredClaimError()):
		return fail(videoforge.EUNAUTHORIZED, "missing expiry", err)
	default:
		return fail(videoforge.EUNAUTHORIZED, "invalid token", err)
	}
	if sub, _ := tok.Subject(); sub == "" {
		return fail(videoforge.EUNAUTHORIZED, "missing subject", nil)
	}
	var use string
	_ = tok.Get("token_use", &use)
	switch use {
	case "access":
		var client string
		_ = tok.Get("client_id", &client)
		if v.cfg.ClientID != "" && client != v.cfg.ClientID {
			return fail(videoforge.EUNAUTHORIZED, "wrong client", nil)
		}
	case "id":
		aud, _ := tok.Audience()
		if v.cfg.ClientID != "" && !slices.Contains(aud, v.cfg.ClientID) {
			return fail(videoforge.EUNAUTHORIZED, "wrong audience", nil)
		}
	default:
		return fail(videoforge.EUNAUTHORIZED, "wrong token use", nil)
	}
	return nil
}

// compactJWS reports whether s has the shape of a compact JWS: three base64url
// segments. It keeps the JSON serialization and oversized input away from the parser.
func compactJWS(s string) bool {
	if len(s) > maxTokenLen {
		return false
	}
	dots := 0
	for i := range len(s) {
		switch c := s[i]; {
		case c == '.':
			dots++
		case c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		default:
			return false
		}
	}
	return dots == 2
}

// key returns the key with the given kid, fetching the JWKS when none is cached yet or,
// at most once per forcedGap, when the kid is unknown (the issuer may have rotated).
func (v *Verifier) key(ctx context.Context, kid string) (jwk.Key, error) {
	if k, ok := v.cached()[kid]; ok {
		return k, nil
	}
	select {
	case v.sem <- struct{}{}:
		defer func() { <-v.sem }()
	case <-ctx.Done():
		return nil, fail(videoforge.EUNAVAILABLE, "signing keys unavailable", ctx.Err())
	}
	keys := v.cached() // another caller may have fetched while this one waited
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	var err error
	switch {
	case keys == nil && time.Since(v.lastFail) < retryGap:
		err = v.lastErr
	case keys != nil && time.Since(v.lastForced) < forcedGap:
	default:
		if keys != nil {
			v.lastForced = time.Now()
		}
		err = v.fetch(ctx)
		if err != nil && ctx.Err() == nil { // a caller that went away is no failure of the issuer
			v.lastFail, v.lastErr = time.Now(), err
		}
	}
	keys = v.cached()
	if k, ok := keys[kid]; ok {
		return k, nil
	} else if keys == nil {
		return nil, fail(videoforge.EUNAVAILABLE, "signing keys unavailable", err)
	}
	return nil, fail(videoforge.EUNAUTHORIZED, "unknown signing key", err)
}

func (v *Verifier) cached() map[string]jwk.Key {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.keys
}

// refreshLoop refetches the JWKS every RefreshInterval once it has been used; failures
// keep the keys already cached, and are noticed by the next unknown kid.
func (v *Verifier) refreshLoop(ctx context.Context) {
	t := time.NewTicker(v.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if v.cached() == nil {
			continue
		}
		select {
		case v.sem <- struct{}{}:
			_ = v.fetch(ctx)
			<-v.sem
		case <-ctx.Done():
			return
		}
	}
}

// fetch downloads the JWKS and replaces the cached keys with its RSA signing keys. The
// caller holds v.sem.
func (v *Verifier) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return fmt.Errorf("auth: fetch JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return fmt.Errorf("auth: fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("auth: fetch JWKS %s: status %s", v.cfg.JWKSURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return fmt.Errorf("auth: fetch JWKS %s: %w", v.cfg.JWKSURL, err)
	} else if len(body) > maxJWKSBytes {
		return fmt.Errorf("auth: fetch JWKS %s: larger than %d bytes", v.cfg.JWKSURL, maxJWKSBytes)
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return fmt.Errorf("auth: parse JWKS %s: %w", v.cfg.JWKSURL, err)
	}
	keys := make(map[string]jwk.Key, set.Len())
	for i := range set.Len() {
		k, _ := set.Key(i)
		kid, _ := k.KeyID()
		use, _ := k.KeyUsage()
		alg, hasAlg := k.Algorithm()
		if _, dup := keys[kid]; dup || kid == "" || k.KeyType().String() != jwa.RSA().String() || (use != "" && use != "sig") || (hasAlg && alg.String() != jwa.RS256().String()) {
			continue
		}
		if pub, err := k.PublicKey(); err == nil {
			keys[kid] = pub
		}
	}
	v.mu.Lock()
	v.keys = keys
	v.mu.Unlock()
	return nil
}
