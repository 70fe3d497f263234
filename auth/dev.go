package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// The identity of the development issuer, which stands in for Cognito when VideoForge
// runs on one machine.
const (
	DevIssuer   = "videoforge-dev" // iss of dev tokens
	DevClientID = "videoforge-dev" // client_id of dev tokens
)

// DevKeyFile is the name, inside the data directory, of the dev issuer's private key
// (PKCS#8 PEM).
const DevKeyFile = "dev-signing-key.pem"

// Issuer mints development tokens with an RSA key kept in a data directory, and
// publishes its public half as a JWKS so that the ordinary Verifier checks them.
type Issuer struct {
	key  jwk.Key // private, with kid and alg set
	jwks []byte
}

// LoadOrCreateIssuer reads the dev signing key from dir, creating dir (0700) and a new
// RSA 2048 key (0600) when there is none.
func LoadOrCreateIssuer(dir string) (*Issuer, error) {
	iss, err := LoadIssuer(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		return iss, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: create dev key dir: %w", err)
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("auth: generate dev key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("auth: encode dev key: %w", err)
	}
	// Written aside and linked into place, so that a concurrent start never reads half a
	// key and the first of two concurrent writers wins.
	tmp, err := os.CreateTemp(dir, DevKeyFile+".*")
	if err != nil {
		return nil, fmt.Errorf("auth: write dev key: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), filepath.Join(dir, DevKeyFile))
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("auth: write dev key: %w", err)
	}
	return LoadIssuer(dir)
}

// LoadIssuer reads the dev signing key from dir. Tokens are minted only for a data
// directory that a dev server has set up, so a missing key is an error saying so.
func LoadIssuer(dir string) (*Issuer, error) {
	path := filepath.Join(dir, DevKeyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("auth: no dev signing key in %s: run `videoforge dev -data %s` first: %w", dir, dir, err)
	} else if err != nil {
		return nil, fmt.Errorf("auth: read dev key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("auth: %s holds no PKCS#8 PEM private key", path)
	}
	raw, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("auth: parse %s: %w", path, err)
	}
	priv, ok := raw.(*rsa.PrivateKey)
	if !ok || priv.N.BitLen() < 2048 {
		return nil, fmt.Errorf("auth: %s is not an RSA key of at least 2048 bits", path)
	}
	key, err := jwk.Import(priv)
	if err != nil {
		return nil, fmt.Errorf("auth: import dev key: %w", err)
	}
	if err := jwk.AssignKeyID(key); err != nil { // the RFC 7638 thumbprint
		return nil, fmt.Errorf("auth: dev key id: %w", err)
	}
	if err := key.Set(jwk.AlgorithmKey, jwa.RS256()); err != nil {
		return nil, fmt.Errorf("auth: dev key alg: %w", err)
	}
	pub, err := key.PublicKey()
	if err == nil {
		err = pub.Set(jwk.KeyUsageKey, jwk.ForSignature)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: dev public key: %w", err)
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		return nil, fmt.Errorf("auth: dev JWKS: %w", err)
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("auth: dev JWKS: %w", err)
	}
	return &Issuer{key: key, jwks: jwks}, nil
}

// KeyID returns the kid of the signing key: its RFC 7638 thumbprint.
func (i *Issuer) KeyID() string {
	kid, _ := i.key.KeyID()
	return kid
}

// Mint signs an access token for user, valid for ttl, shaped like Cognito's.
func (i *Issuer) Mint(user string, ttl time.Duration) (string, error) {
	if user == "" || ttl <= 0 {
		return "", fmt.Errorf("auth: mint: need a user and a positive ttl, got %q and %v", user, ttl)
	}
	var jti [16]byte
	_, _ = rand.Read(jti[:]) // never fails, per crypto/rand
	now := time.Now()
	tok, err := jwt.NewBuilder().
		Issuer(DevIssuer).Subject(user).Claim("username", user).
		Claim("token_use", "access").Claim("client_id", DevClientID).
		IssuedAt(now).NotBefore(now).Expiration(now.Add(ttl)).JwtID(hex.EncodeToString(jti[:])).
		Build()
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), i.key))
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return string(signed), nil
}

// JWKS returns the public key set as JSON.
func (i *Issuer) JWKS() []byte {
	return append([]byte(nil), i.jwks...)
}

// JWKSHandler serves the public key set. Verifiers cache it, so clients may too.
func (i *Issuer) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(i.jwks)
	})
}

// DevConfig returns the verifier Config for the dev issuer whose JWKS is served at
// jwksURL.
func DevConfig(jwksURL string) Config {
	return Config{JWKSURL: jwksURL, Issuer: DevIssuer, ClientID: DevClientID}
}
