package auth_test

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/internal/testutil"
)

const (
	testIssuer = "https://issuer.test/pool"
	testClient = "client-1"
)

// rsaKeys are generated once: RSA key generation is slow under -race.
var rsaKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 3)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// signingKey returns test RSA key n as a private JWK with the given kid.
func signingKey(t testing.TB, n int, kid string) jwk.Key {
	t.Helper()
	k, err := jwk.Import(rsaKeys()[n])
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Set(jwk.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	return k
}

// jwksServer publishes a JWKS over loopback and counts the requests for it.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64
	body atomic.Pointer[[]byte] // nil answers 503
}

func newJWKSServer(t testing.TB, keys ...jwk.Key) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		body := s.body.Load()
		if body == nil {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*body)
	}))
	t.Cleanup(s.Close)
	if len(keys) > 0 {
		s.serve(t, keys...)
	}
	return s
}

// serve makes the server publish the public halves of keys.
func (s *jwksServer) serve(t testing.TB, keys ...jwk.Key) {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		pub, err := k.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := set.AddKey(pub); err != nil {
			t.Fatal(err)
		}
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.body.Store(&body)
}

func newVerifier(t testing.TB, s *jwksServer, mod ...func(*auth.Config)) *auth.Verifier {
	t.Helper()
	cfg := auth.Config{JWKSURL: s.URL, Issuer: testIssuer, ClientID: testClient}
	for _, m := range mod {
		m(&cfg)
	}
	v, err := auth.NewVerifier(t.Context(), cfg, s.Client())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// claims returns the claims of a valid access token, changed by mod.
func claims(mod func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": testIssuer, "sub": "user-1", "username": "alice", "token_use": "access",
		"client_id": testClient, "iat": now, "exp": now.Add(time.Hour),
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func sign(t testing.TB, key jwk.Key, c map[string]any) string {
	t.Helper()
	tok := jwt.New()
	for k, v := range c {
		if err := tok.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), key))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// handBuilt assembles a compact JWS without jwx, for headers jwx refuses to produce.
func handBuilt(t testing.TB, header map[string]any, c map[string]any, sig func(input []byte) []byte) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	for k, v := range c {
		if tm, ok := v.(time.Time); ok {
			c[k] = tm.Unix()
		}
	}
	input := enc(header) + "." + enc(c)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig([]byte(input)))
}

func wantErr(t testing.TB, err error, code, msg string) {
	t.Helper()
	if got := videoforge.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
	if msg != "" && videoforge.ErrorMessage(err) != msg {
		t.Fatalf("error %v: message %q, want %q", err, videoforge.ErrorMessage(err), msg)
	}
}

func TestVerify(t *testing.T) {
	k1 := signingKey(t, 0, "k1")
	s := newJWKSServer(t, k1)
	v := newVerifier(t, s)

	pubDER, err := x509.MarshalPKIXPublicKey(&rsaKeys()[0].PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	valid := sign(t, k1, claims(nil))

	tests := []struct {
		name  string
		token string
		code  string // "" means accepted
		msg   string
		want  auth.User
	}{
		{name: "OK/Access", token: valid, want: auth.User{ID: "user-1", Username: "alice", TokenUse: "access"}},
		{name: "OK/ID", token: sign(t, k1, claims(func(c map[string]any) {
			delete(c, "client_id")
			delete(c, "username")
			c["token_use"], c["aud"], c["cognito:username"] = "id", testClient, "alice"
		})), want: auth.User{ID: "user-1", Username: "alice", TokenUse: "id"}},
		{name: "OK/WithinLeeway", token: sign(t, k1, claims(func(c map[string]any) { c["exp"] = time.Now().Add(-10 * time.Second) })),
			want: auth.User{ID: "user-1", Username: "alice", TokenUse: "access"}},
		{name: "Expired", token: sign(t, k1, claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour) })), code: videoforge.EUNAUTHORIZED, msg: "token expired"},
		{name: "NotYetValid", token: sign(t, k1, claims(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour) })), code: videoforge.EUNAUTHORIZED, msg: "token not valid yet"},
		{name: "IssuedInFuture", token: sign(t, k1, claims(func(c map[string]any) { c["iat"] = time.Now().Add(time.Hour) })), code: videoforge.EUNAUTHORIZED, msg: "token issued in the future"},
		{name: "WrongIssuer", token: sign(t, k1, claims(func(c map[string]any) { c["iss"] = "https://evil.test/pool" })), code: videoforge.EUNAUTHORIZED, msg: "wrong issuer"},
		{name: "MissingIssuer", token: sign(t, k1, claims(func(c map[string]any) { delete(c, "iss") })), code: videoforge.EUNAUTHORIZED},
		{name: "WrongClientID", token: sign(t, k1, claims(func(c map[string]any) { c["client_id"] = "other" })), code: videoforge.EUNAUTHORIZED, msg: "wrong client"},
		{name: "WrongAudience", token: sign(t, k1, claims(func(c map[string]any) { c["token_use"], c["aud"] = "id", "other" })), code: videoforge.EUNAUTHORIZED, msg: "wrong audience"},
		{name: "MissingTokenUse", token: sign(t, k1, claims(func(c map[string]any) { delete(c, "token_use") })), code: videoforge.EUNAUTHORIZED, msg: "wrong token use"},
		{name: "RefreshTokenUse", token: sign(t, k1, claims(func(c map[string]any) { c["token_use"] = "refresh" })), code: videoforge.EUNAUTHORIZED, msg: "wrong token use"},
		{name: "MissingSub", token: sign(t, k1, claims(func(c map[string]any) { delete(c, "sub") })), code: videoforge.EUNAUTHORIZED, msg: "missing subject"},
		{name: "MissingExp", token: sign(t, k1, claims(func(c map[string]any) { delete(c, "exp") })), code: videoforge.EUNAUTHORIZED, msg: "missing expiry"},
		{name: "OtherKeySameKid", token: sign(t, signingKey(t, 1, "k1"), claims(nil)), code: videoforge.EUNAUTHORIZED, msg: "bad signature"},
		{name: "UnknownKid", token: sign(t, signingKey(t, 1, "k9"), claims(nil)), code: videoforge.EUNAUTHORIZED, msg: "unknown signing key"},
		{name: "MissingKid", token: sign(t, signingKey(t, 0, ""), claims(nil)), code: videoforge.EUNAUTHORIZED, msg: "missing key id"},
		{name: "AlgNone", token: handBuilt(t, map[string]any{"alg": "none", "kid": "k1"}, claims(nil), func([]byte) []byte { return nil }),
			code: videoforge.EUNAUTHORIZED, msg: "unsupported algorithm"},
		{name: "AlgConfusionHS256", token: handBuilt(t, map[string]any{"alg": "HS256", "kid": "k1", "typ": "JWT"}, claims(nil), func(in []byte) []byte {
			m := hmac.New(sha256.New, pubPEM)
			m.Write(in)
			return m.Sum(nil)
		}), code: videoforge.EUNAUTHORIZED, msg: "unsupported algorithm"},
		{name: "HandBuiltRS256", token: handBuilt(t, map[string]any{"alg": "RS256", "kid": "k1"}, claims(nil), func(in []byte) []byte {
			sum := sha256.Sum256(in)
			sig, err := rsa.SignPKCS1v15(nil, rsaKeys()[0], crypto.SHA256, sum[:])
			if err != nil {
				t.Fatal(err)
			}
			return sig
		}), want: auth.User{ID: "user-1", Username: "alice", TokenUse: "access"}},
		{name: "Empty", token: "", code: videoforge.EUNAUTHORIZED, msg: "malformed token"},
		{name: "Garbage", token: "not a token", code: videoforge.EUNAUTHORIZED, msg: "malformed token"},
		{name: "GarbageDots", token: "a.b.c", code: videoforge.EUNAUTHORIZED, msg: "malformed token"},
		{name: "OnlyDots", token: "..", code: videoforge.EUNAUTHORIZED, msg: "malformed token"},
		{name: "JSONSerialization", token: `{"payload":"e30","signatures":[]}`, code: videoforge.EUNAUTHORIZED, msg: "malformed token"},
		{name: "ExtraDot", token: valid + ".", code: videoforge.EUNAUTHORIZED, msg: "malformed token"},
		{name: "DotInside", token: strings.Replace(valid, ".", "..", 1), code: videoforge.EUNAUTHORIZED, msg: "malformed token"},
		{name: "TamperedPayload", token: func() string {
			p := strings.Split(valid, ".")
			other := strings.Split(sign(t, k1, claims(func(c map[string]any) { c["sub"] = "admin" })), ".")
			return p[0] + "." + other[1] + "." + p[2]
		}(), code: videoforge.EUNAUTHORIZED, msg: "bad signature"},
		{name: "TruncatedSignature", token: valid[:len(valid)-10], code: videoforge.EUNAUTHORIZED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := v.Verify(t.Context(), tt.token)
			if tt.code != "" {
				if u != nil {
					t.Errorf("user %+v returned with an error", u)
				}
				wantErr(t, err, tt.code, tt.msg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *u != tt.want {
				t.Errorf("user %+v, want %+v", *u, tt.want)
			}
		})
	}
	if n := s.hits.Load(); n != 2 { // the first fetch and one forced by the unknown kid
		t.Errorf("JWKS fetched %d times, want 2", n)
	}
}

func TestVerifyNoClientID(t *testing.T) {
	k1 := signingKey(t, 0, "k1")
	v := newVerifier(t, newJWKSServer(t, k1), func(c *auth.Config) { c.ClientID = "" })
	for _, c := range []map[string]any{
		claims(func(c map[string]any) { c["client_id"] = "anything" }),
		claims(func(c map[string]any) { c["token_use"], c["aud"] = "id", "anything" }),
	} {
		if _, err := v.Verify(t.Context(), sign(t, k1, c)); err != nil {
			t.Error(err)
		}
	}
}

func TestVerifyKeyRotation(t *testing.T) {
	k1, k2 := signingKey(t, 0, "k1"), signingKey(t, 1, "k2")
	s := newJWKSServer(t, k1)
	v := newVerifier(t, s) // the refresh interval is 15m: only an unknown kid can refresh
	if _, err := v.Verify(t.Context(), sign(t, k1, claims(nil))); err != nil {
		t.Fatal(err)
	}
	s.serve(t, k2)
	u, err := v.Verify(t.Context(), sign(t, k2, claims(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != "user-1" {
		t.Errorf("user %+v", u)
	}
	if n := s.hits.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2", n)
	}
	// The retired key is gone with the set that listed it.
	_, err = v.Verify(t.Context(), sign(t, k1, claims(nil)))
	wantErr(t, err, videoforge.EUNAUTHORIZED, "unknown signing key")
}

func TestVerifyForcedRefreshRateLimited(t *testing.T) {
	k1 := signingKey(t, 0, "k1")
	s := newJWKSServer(t, k1)
	v := newVerifier(t, s)
	if _, err := v.Verify(t.Context(), sign(t, k1, claims(nil))); err != nil {
		t.Fatal(err)
	}
	bogus := signingKey(t, 1, "")
	var wg sync.WaitGroup
	for i := range 50 {
		kid := fmt.Sprintf("bogus-%d", i)
		if err := bogus.Set(jwk.KeyIDKey, kid); err != nil {
			t.Fatal(err)
		}
		tok := sign(t, bogus, claims(nil))
		wg.Go(func() {
			_, err := v.Verify(t.Context(), tok)
			wantErr(t, err, videoforge.EUNAUTHORIZED, "unknown signing key")
		})
	}
	wg.Wait()
	if n := s.hits.Load(); n != 2 { // the first fetch and a single forced refresh
		t.Errorf("JWKS fetched %d times, want 2", n)
	}
	// A real rotation inside the same window waits for the next one.
	k2 := signingKey(t, 2, "k2")
	s.serve(t, k1, k2)
	_, err := v.Verify(t.Context(), sign(t, k2, claims(nil)))
	wantErr(t, err, videoforge.EUNAUTHORIZED, "unknown signing key")
}

func TestVerifyJWKSDownBeforeFirstFetch(t *testing.T) {
	k1 := signingKey(t, 0, "k1")
	tok := sign(t, k1, claims(nil))

	t.Run("Refused", func(t *testing.T) {
		s := newJWKSServer(t)
		s.Close()
		_, err := newVerifier(t, s).Verify(t.Context(), tok)
		wantErr(t, err, videoforge.EUNAVAILABLE, "signing keys unavailable")
	})
	t.Run("ErrorStatusThenRecovers", func(t *testing.T) {
		s := newJWKSServer(t)
		v := newVerifier(t, s)
		for range 5 {
			_, err := v.Verify(t.Context(), tok)
			wantErr(t, err, videoforge.EUNAVAILABLE, "signing keys unavailable")
		}
		if n := s.hits.Load(); n != 1 {
			t.Errorf("JWKS fetched %d times while failing, want 1", n)
		}
		s.serve(t, k1)
		checkFor(t, 5*time.Second, func() error {
			_, err := v.Verify(t.Context(), tok)
			return err
		})
	})
}

func TestVerifyJWKSDownAfterFetch(t *testing.T) {
	k1 := signingKey(t, 0, "k1")
	s := newJWKSServer(t, k1)
	v := newVerifier(t, s, func(c *auth.Config) { c.RefreshInterval = 10 * time.Millisecond })
	tok := sign(t, k1, claims(nil))
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 5*time.Second, func() error { // the background refresher runs
		if n := s.hits.Load(); n < 3 {
			return fmt.Errorf("JWKS fetched %d times", n)
		}
		return nil
	})
	s.Close()
	time.Sleep(30 * time.Millisecond) // let the refresher fail a few times
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(t.Context(), sign(t, signingKey(t, 1, "k2"), claims(nil)))
	wantErr(t, err, videoforge.EUNAUTHORIZED, "unknown signing key")
}

// checkFor polls f until it returns nil or d has passed.
func checkFor(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	testutil.WaitFor(t, d, "condition", f)
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header, token string
		ok, err       bool
	}{
		{header: ""},
		{header: "Bearer abc.def.ghi", token: "abc.def.ghi", ok: true},
		{header: "bearer x", token: "x", ok: true},
		{header: "BEARER x", token: "x", ok: true},
		{header: "Bearer   x ", token: "x", ok: true},
		{header: "Bearer", err: true},
		{header: "Bearer ", err: true},
		{header: "Bearer a b", err: true},
		{header: "Basic dXNlcjpwYXNz", err: true},
		{header: "abc.def.ghi", err: true},
		{header: " Bearer x", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			token, ok, err := auth.BearerToken(tt.header)
			if tt.err {
				wantErr(t, err, videoforge.EUNAUTHORIZED, "")
			} else if err != nil {
				t.Fatal(err)
			}
			if token != tt.token || ok != tt.ok {
				t.Errorf("got (%q, %v), want (%q, %v)", token, ok, tt.token, tt.ok)
			}
		})
	}
}

func TestCognitoConfig(t *testing.T) {
	tests := []struct {
		region, pool, iss string
		err               bool
	}{
		{pool: "ap-southeast-2_jft50FBre", iss: "https://cognito-idp.ap-southeast-2.amazonaws.com/ap-southeast-2_jft50FBre"},
		{region: "us-east-1", pool: "us-east-1_Abc123", iss: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Abc123"},
		{pool: "us-gov-west-1_Abc", iss: "https://cognito-idp.us-gov-west-1.amazonaws.com/us-gov-west-1_Abc"},
		{pool: "", err: true},
		{pool: "jft50FBre", err: true},
		{pool: "ap-southeast-2_jft/../x", err: true},
		{region: "evil.com/", pool: "ap-southeast-2_jft50FBre", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.pool, func(t *testing.T) {
			cfg, err := auth.CognitoConfig(tt.region, tt.pool, testClient)
			if tt.err {
				if err == nil {
					t.Fatalf("got %+v, want an error", cfg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := auth.Config{JWKSURL: tt.iss + "/.well-known/jwks.json", Issuer: tt.iss, ClientID: testClient}
			if cfg != want {
				t.Errorf("got %+v, want %+v", cfg, want)
			}
			if err := cfg.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  auth.Config
		want string // a word the error must name
	}{
		{"NoJWKSURL", auth.Config{Issuer: "x"}, "JWKS URL"},
		{"RelativeJWKSURL", auth.Config{JWKSURL: "/jwks.json", Issuer: "x"}, "JWKS URL"},
		{"NoIssuer", auth.Config{JWKSURL: "https://x/jwks.json"}, "issuer"},
		{"NegativeLeeway", auth.Config{JWKSURL: "https://x/jwks.json", Issuer: "x", Leeway: -time.Second}, "leeway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %q", err, tt.want)
			}
			if _, err := auth.NewVerifier(t.Context(), tt.cfg, nil); err == nil {
				t.Error("NewVerifier accepted the config")
			}
		})
	}
}

// FuzzVerify checks that no input panics the verifier and that whatever it accepts
// carries a valid RS256 signature by the test key, checked here without jwx.
func FuzzVerify(f *testing.F) {
	k1 := signingKey(f, 0, "k1")
	s := newJWKSServer(f, k1)
	v := newVerifier(f, s)
	for _, c := range []map[string]any{
		claims(nil),
		claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour) }),
		claims(func(c map[string]any) { c["token_use"], c["aud"] = "id", []string{testClient, "x"} }),
	} {
		f.Add(sign(f, k1, c))
	}
	f.Add(sign(f, signingKey(f, 1, "k1"), claims(nil)))
	f.Add(handBuilt(f, map[string]any{"alg": "none", "kid": "k1"}, claims(nil), func([]byte) []byte { return nil }))
	f.Add(handBuilt(f, map[string]any{"alg": "HS256", "kid": "k1"}, claims(nil), func([]byte) []byte { return []byte("sig") }))
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30.")
	pub := &rsaKeys()[0].PublicKey
	f.Fuzz(func(t *testing.T, token string) {
		u, err := v.Verify(t.Context(), token)
		if err != nil {
			if code := videoforge.ErrorCode(err); code != videoforge.EUNAUTHORIZED {
				t.Fatalf("error %v: code %q", err, code)
			}
			return
		}
		if u == nil || u.ID == "" {
			t.Fatalf("accepted %q as %+v", token, u)
		}
		parts := strings.Split(token, ".")
		sig, derr := base64.RawURLEncoding.DecodeString(parts[len(parts)-1])
		sum := sha256.Sum256([]byte(strings.Join(parts[:len(parts)-1], ".")))
		if len(parts) != 3 || derr != nil || rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
			t.Fatalf("accepted %q, which the test key did not sign", token)
		}
	})
}
