package uploads_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
	"github.com/videoforge/videoforge/storage/s3test"
)

func TestMain(m *testing.M) {
	// The S3 gateway moves the working folder: start it first.
	if _, err := s3test.Endpoint(); err != nil {
		panic(err)
	}
	pgtest.Main(m, func(ctx context.Context, dsn string) error {
		return schema.Migrate(ctx, dsn, schema.DefaultSchema)
	})
}

var quiet = slog.New(slog.DiscardHandler)

// env is a gallery served over loopback on its own database, with the upload side
// that mount returns over that database, and a dev issuer for tokens.
type env struct {
	t      *testing.T
	url    string
	db     *postgres.DB
	issuer *auth.Issuer
}

func newEnv(t *testing.T, mount func(db *postgres.DB, verify func(context.Context, string) (*auth.User, error)) *catalog.Uploads) *env {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{URL: pgtest.NewDatabase(t), Schema: schema.DefaultSchema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	issuer, err := auth.LoadOrCreateIssuer(t.TempDir())
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
	srv := catalog.NewServer(catalog.Config{Uploads: mount(db, verifier.Verify)}, postgres.NewVideoService(db), verifier, db.Ping, quiet)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &env{t: t, url: ts.URL, db: db, issuer: issuer}
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

// do sends one request with a JSON body (none when body is nil).
func (e *env) do(method, path, token string, body any) response {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
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
