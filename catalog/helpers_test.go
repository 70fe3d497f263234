package catalog_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
	"github.com/videoforge/videoforge/storage/s3test"
)

func TestMain(m *testing.M) {
	// The S3 gateway of the upload tests moves the working folder: start it first.
	if _, err := s3test.Endpoint(); err != nil {
		panic(err)
	}
	pgtest.Main(m, func(ctx context.Context, dsn string) error {
		return schema.Migrate(ctx, dsn, schema.DefaultSchema)
	})
}

// env is a gallery served over loopback on its own database, with a dev issuer whose
// key the test also holds, to forge tokens of any shape.
type env struct {
	t      *testing.T
	url    string
	videos *postgres.VideoService
	db     *postgres.DB
	key    *rsa.PrivateKey
	kid    string
	issuer *auth.Issuer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, catalog.Config{CORSOrigins: []string{"https://app.example"}})
}

// newEnvWith is newEnv with the server's configuration.
func newEnvWith(t *testing.T, cfg catalog.Config) *env {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{URL: pgtest.NewDatabase(t), Schema: schema.DefaultSchema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)

	key, dir := writeKey(t)
	issuer, err := auth.LoadIssuer(dir)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(issuer.JWKSHandler())
	t.Cleanup(jwks.Close)
	vctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	verifier, err := auth.NewVerifier(vctx, auth.DevConfig(jwks.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	videos := postgres.NewVideoService(db)
	srv := catalog.NewServer(cfg, videos, verifier, db.Ping, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &env{t: t, url: ts.URL, videos: videos, db: db, key: key, kid: issuer.KeyID(), issuer: issuer}
}

// writeKey makes an RSA key and stores it where auth.LoadIssuer looks for it.
func writeKey(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, auth.DevKeyFile), pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return key, dir
}

// token mints a valid dev token for user.
func (e *env) token(user string) string {
	e.t.Helper()
	tok, err := e.issuer.Mint(user, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// forge signs arbitrary claims with key (the issuer's when nil) under the issuer's kid.
func (e *env) forge(key *rsa.PrivateKey, edit func(b *jwt.Builder)) string {
	e.t.Helper()
	if key == nil {
		key = e.key
	}
	now := time.Now()
	b := jwt.NewBuilder().Issuer(auth.DevIssuer).Subject("alice").IssuedAt(now).NotBefore(now).
		Expiration(now.Add(time.Hour)).Claim("token_use", "access").Claim("client_id", auth.DevClientID)
	if edit != nil {
		edit(b)
	}
	tok, err := b.Build()
	if err != nil {
		e.t.Fatal(err)
	}
	jk, err := jwk.Import(key)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := jk.Set(jwk.KeyIDKey, e.kid); err != nil {
		e.t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), jk))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(signed)
}

// video inserts a video through the store and returns it.
func (e *env) video(user, title string, vis videoforge.Visibility, st videoforge.Status, desc ...string) *videoforge.Video {
	e.t.Helper()
	v := &videoforge.Video{UserID: user, Title: title, Visibility: vis, Status: st, S3Key: "videos/x"}
	if len(desc) > 0 {
		v.Description = &desc[0]
	}
	if err := e.videos.CreateVideo(context.Background(), v); err != nil {
		e.t.Fatal(err)
	}
	return v
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errCode returns the code of a JSON error body, failing the test if the body is not one.
func (r response) errCode(t *testing.T) string {
	t.Helper()
	var b struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	r.decode(t, &b)
	if b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("not an error body: %s", r.body)
	}
	return b.Error.Code
}

func (e *env) do(method, path, token string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if res.StatusCode >= 500 && res.StatusCode != http.StatusServiceUnavailable {
		e.t.Errorf("%s %s: %d %s", method, path, res.StatusCode, data)
	}
	return response{status: res.StatusCode, header: res.Header, body: data}
}

// listing is the gallery's list answer.
type listing struct {
	Videos     []map[string]any `json:"videos"`
	Pagination struct {
		Total, Page, Limit, TotalPages int
	} `json:"pagination"`
}

func (e *env) list(path, token string) listing {
	e.t.Helper()
	r := e.do("GET", path, token, nil)
	if r.status != 200 {
		e.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	var l listing
	r.decode(e.t, &l)
	return l
}

func titles(l listing) []string {
	out := []string{}
	for _, v := range l.Videos {
		out = append(out, v["title"].(string))
	}
	return out
}

func b64(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }
