package catalog_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/internal/openapitest"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/storage/s3test"
	"github.com/videoforge/videoforge/uploads"
	"github.com/videoforge/videoforge/uploads/tus"
)

// loadOpenAPI is the gallery's document: the tus endpoint answers methods it does not
// have with its catch-all 404.
func loadOpenAPI(t *testing.T) *openapitest.Doc {
	t.Helper()
	return openapitest.Load(t, catalog.OpenAPI(), openapitest.Options{
		Name:     "catalog/openapi.json",
		Prefix:   catalog.Prefix,
		CatchAll: []string{catalog.Prefix + tus.Path},
	})
}

// TestOpenAPIDocument: the embedded document is valid OpenAPI 3.1 (against the
// specification's own schema) and every reference in it resolves.
func TestOpenAPIDocument(t *testing.T) {
	loadOpenAPI(t).CheckDocument(t)
}

// goTemplate turns a Go route pattern into an OpenAPI path template: "{id...}", a
// wildcard that may hold slashes, is "{id}" there.
func goTemplate(p string) string { return strings.ReplaceAll(p, "...}", "}") }

// TestOpenAPIRoutes: every route of catalog.Routes, and of the tus endpoint under the
// gallery's prefix, is an operation of the document, and every operation is one of
// them or the CORS preflight (OPTIONS), which every path of the document has.
func TestOpenAPIRoutes(t *testing.T) {
	var routes []string
	for _, r := range catalog.Routes {
		routes = append(routes, r.Method+" "+catalog.Prefix+goTemplate(r.Path))
	}
	for _, r := range tus.Routes {
		routes = append(routes, r.Method+" "+catalog.Prefix+tus.Path+goTemplate(r.Path))
	}
	loadOpenAPI(t).CheckRoutes(t, routes, "catalog.Routes or tus.Routes")
}

// galleryWithUploads is a gallery served over loopback with its upload side (and
// resumable uploads in a folder) over real storage, a 1 KiB body limit, uploads of at
// most 64 KiB and browsers of https://app.example allowed.
func galleryWithUploads(t *testing.T) (*env, *storage.Store) {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{URL: pgtest.NewDatabase(t), Schema: schema.DefaultSchema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	st, err := storage.New(ctx, s3test.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	limits := uploads.DefaultLimits()
	limits.MaxSize = 64 << 10
	up, err := uploads.New(uploads.Config{Jobs: postgres.NewJobService(db), Objects: st, Queue: discardQueue{}, Limits: limits, Log: quiet,
		URL: func(_ context.Context, jobID int64, _ string, _ time.Time) (string, error) {
			return "http://uploads.invalid/uploads/" + strconv.FormatInt(jobID, 10) + "/source", nil
		},
		Tus: uploads.Tus{Dir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
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
	cfg := catalog.Config{MaxBodyBytes: 1 << 10, Uploads: up.Gallery(), CORSOrigins: []string{"https://app.example"},
		Playback: &catalog.Playback{BaseURL: "https://cdn.example", TokenKey: []byte("test key of the gallery, at least 32 bytes")}}
	ts := httptest.NewServer(catalog.NewServer(cfg, videos, verifier, db.Ping, quiet))
	t.Cleanup(ts.Close)
	return &env{t: t, url: ts.URL, videos: videos, db: db, key: key, kid: issuer.KeyID(), issuer: issuer}, st
}

// discardQueue takes job messages and drops them.
type discardQueue struct{}

func (discardQueue) Send(context.Context, string, []byte) error { return nil }

// TestOpenAPIResponses: the answers of a real gallery over loopback, successes and
// errors of every route, are what the document says.
func TestOpenAPIResponses(t *testing.T) {
	d := loadOpenAPI(t)
	e, st := galleryWithUploads(t)
	ctx := context.Background()
	alice, bob := e.token("alice"), e.token("bob")

	pub := e.video("alice", "alice public", public, ready, "a description")
	if _, err := e.db.Pool().Exec(ctx, `UPDATE videos SET duration = 12.5, resolution = '1280x720', video_codec = 'h264',
		audio_codec = 'aac', file_size = 123456, thumbnail_url = $2 WHERE id = $1`, pub.ID, layout.VideoPrefix(pub.ID)+"a1/thumbnail.jpg"); err != nil {
		t.Fatal(err)
	}
	unl := e.video("alice", "alice unlisted", unlisted, ready)
	if err := e.db.Pool().QueryRow(ctx, `SELECT share_key FROM videos WHERE id = $1`, unl.ID).Scan(&unl.ShareKey); err != nil {
		t.Fatal(err)
	}
	priv := e.video("alice", "alice private", private, ready)
	bobs := e.video("bob", "bob public", public, ready)
	doomed := e.video("alice", "to delete", public, videoforge.StatusFailed)
	id := func(v *videoforge.Video) string { return strconv.FormatInt(v.ID, 10) }

	var up videoforge.Upload
	r := e.do("POST", "/api/gallery/uploads", alice, map[string]any{"title": "clip", "visibility": "unlisted"})
	r.decode(t, &up)
	var big, empty, resumable videoforge.Upload
	e.do("POST", "/api/gallery/uploads", alice, map[string]any{"title": "big"}).decode(t, &big)
	e.do("POST", "/api/gallery/uploads", alice, map[string]any{"title": "empty"}).decode(t, &empty)
	e.do("POST", "/api/gallery/uploads", alice, map[string]any{"title": "resumable"}).decode(t, &resumable)
	job, bigJob := strconv.FormatInt(up.JobID, 10), strconv.FormatInt(big.JobID, 10)
	put := func(jobID int64, n int) {
		if err := st.Put(ctx, layout.UploadKey(jobID), bytes.NewReader(bytes.Repeat([]byte{0, 1, 2, 3}, n/4))); err != nil {
			t.Fatal(err)
		}
	}

	tusHeaders := func(kv ...string) []string { return append([]string{"Tus-Resumable", "1.0.0"}, kv...) }
	meta := func(jobID int64) string {
		return "jobId " + base64.StdEncoding.EncodeToString([]byte(strconv.FormatInt(jobID, 10)))
	}
	run := func(c openapitest.Call) openapitest.Exchange {
		t.Helper()
		return d.Run(t, e.url, c)
	}
	preflight := []string{"Origin", "https://app.example", "Access-Control-Request-Method", "PUT"}
	oversized := []byte(`{"title":"` + strings.Repeat("x", 2<<10) + `"}`)

	for _, c := range []openapitest.Call{
		{Method: "GET", Path: "/api/gallery/health", Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/health", Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/gallery/videos?page=1&limit=2&sort=title", Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/gallery/videos?userId=alice&status=ready&search=alice", Token: alice, Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/videos?limit=100", Token: alice, Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/gallery/videos?page=99", Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/gallery/videos?limit=0", Status: 400},
		{Method: "GET", Path: "/api/gallery/videos?sort=random", Status: 400},
		{Method: "GET", Path: "/api/gallery/videos", Token: "not-a-token", Status: 401},
		{Method: "GET", Path: "/api/gallery/videos/" + id(pub), Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/gallery/videos/" + id(unl) + "?key=" + unl.ShareKey, Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/gallery/videos/" + id(unl), Token: alice, Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/gallery/videos/" + id(priv), Token: alice, Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/gallery/videos/" + id(unl), Status: 404},
		{Method: "GET", Path: "/api/gallery/videos/" + id(priv), Token: bob, Status: 404},
		{Method: "GET", Path: "/api/gallery/videos/987654321", Status: 404},
		{Method: "GET", Path: "/api/gallery/videos/99999999999999999999", Status: 404},
		{Method: "GET", Path: "/api/gallery/videos/abc", Status: 400},
		{Method: "GET", Path: "/api/gallery/videos/" + id(pub), Token: e.forge(nil, func(b *jwt.Builder) { b.Expiration(time.Now().Add(-time.Minute)) }), Status: 401},
		{Method: "PUT", Path: "/api/gallery/videos/" + id(pub), Token: alice, Body: []byte(`{"title":"renamed","description":null}`), Status: 200, ValidRequest: true},
		{Method: "PUT", Path: "/api/gallery/videos/" + id(unl), Token: alice, Body: []byte(`{"visibility":"unlisted","description":"still unlisted"}`), Status: 200, ValidRequest: true},
		{Method: "PUT", Path: "/api/gallery/videos/" + id(pub), Body: []byte(`{"title":"x"}`), Status: 401},
		{Method: "PUT", Path: "/api/gallery/videos/" + id(bobs), Token: alice, Body: []byte(`{"title":"mine"}`), Status: 403},
		{Method: "PUT", Path: "/api/gallery/videos/" + id(priv), Token: bob, Body: []byte(`{"title":"mine"}`), Status: 404},
		{Method: "PUT", Path: "/api/gallery/videos/987654321", Token: alice, Body: []byte(`{"title":"x"}`), Status: 404},
		{Method: "PUT", Path: "/api/gallery/videos/" + id(pub), Token: alice, Body: []byte(`{"bogus":1}`), Status: 400},
		{Method: "PUT", Path: "/api/gallery/videos/" + id(pub), Token: alice, Body: []byte(`{"visibility":"secret"}`), Status: 400},
		{Method: "PUT", Path: "/api/gallery/videos/" + id(pub), Token: alice, Body: []byte(`{}`), Status: 400},
		{Method: "PUT", Path: "/api/gallery/videos/" + id(pub), Token: alice, Body: oversized, Status: 413},
		{Method: "DELETE", Path: "/api/gallery/videos/" + id(doomed), Status: 401},
		{Method: "DELETE", Path: "/api/gallery/videos/" + id(bobs), Token: alice, Status: 403},
		{Method: "DELETE", Path: "/api/gallery/videos/" + id(doomed), Token: alice, Status: 204, ValidRequest: true},
		{Method: "DELETE", Path: "/api/gallery/videos/" + id(doomed), Token: alice, Status: 404},
		{Method: "DELETE", Path: "/api/gallery/videos/x1", Token: alice, Status: 400},
		{Method: "POST", Path: "/api/gallery/uploads", Token: alice, Body: []byte(`{"title":"another","description":"d","visibility":"private"}`), Status: 201, ValidRequest: true},
		{Method: "POST", Path: "/uploads", Token: alice, Body: []byte(`{"title":"unprefixed"}`), Status: 201, ValidRequest: true},
		{Method: "POST", Path: "/api/gallery/uploads", Body: []byte(`{"title":"x"}`), Status: 401},
		{Method: "POST", Path: "/api/gallery/uploads", Token: alice, Body: []byte(`{"title":"  "}`), Status: 400},
		{Method: "POST", Path: "/api/gallery/uploads", Token: alice, Body: []byte(`{"title":1}`), Status: 400},
		{Method: "POST", Path: "/api/gallery/uploads", Token: alice, Body: oversized, Status: 413},
		{Method: "POST", Path: "/api/gallery/uploads/" + job + "/complete", Token: alice, Status: 409},
		{Method: "POST", Path: "/api/gallery/uploads/" + job + "/complete", Token: bob, Status: 403},
		{Method: "POST", Path: "/api/gallery/uploads/" + job + "/complete", Status: 401},
		{Method: "POST", Path: "/api/gallery/uploads/987654321/complete", Token: alice, Status: 404},
		{Method: "POST", Path: "/api/gallery/uploads/one/complete", Token: alice, Status: 400},
		{Method: "GET", Path: "/api/gallery/jobs/" + job, Token: alice, Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/gallery/jobs/" + job, Token: bob, Status: 403},
		{Method: "GET", Path: "/api/gallery/jobs/" + job, Status: 401},
		{Method: "GET", Path: "/api/gallery/jobs/987654321", Token: alice, Status: 404},
		{Method: "GET", Path: "/api/gallery/jobs/-1", Token: alice, Status: 400},
		// The CORS preflight, and OPTIONS that are none.
		{Method: "OPTIONS", Path: "/api/gallery/videos/" + id(pub), Header: preflight, Status: 204, ValidRequest: true},
		{Method: "OPTIONS", Path: "/api/gallery/videos", Header: preflight, Status: 204, ValidRequest: true},
		{Method: "OPTIONS", Path: "/api/gallery/uploads/" + job + "/complete", Header: preflight, Status: 204, ValidRequest: true},
		{Method: "OPTIONS", Path: "/api/gallery/tus/job-1", Header: preflight, Status: 204, ValidRequest: true},
		{Method: "OPTIONS", Path: "/api/gallery/tus", Header: preflight, Status: 204, ValidRequest: true},
		{Method: "OPTIONS", Path: "/health", Header: preflight, Status: 204, ValidRequest: true},
		{Method: "OPTIONS", Path: "/api/gallery/jobs/" + job, Status: 405},
		{Method: "OPTIONS", Path: "/api/gallery/tus", Header: []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "PATCH"}, Status: 404},
		// Methods and paths the API does not have.
		{Method: "POST", Path: "/api/gallery/videos/" + id(pub), Token: alice, Status: 405},
		{Method: "DELETE", Path: "/api/gallery/health", Status: 405},
		{Method: "PATCH", Path: "/jobs/" + job, Status: 405},
		{Method: "GET", Path: "/api/gallery/nothing-here", Status: 404},
		{Method: "GET", Path: "/api/gallery/uploads/" + job, Status: 404},
	} {
		run(c)
	}

	// The uploaded file, then the completes: accepted once, too large, repeated.
	put(up.JobID, 4000)
	put(big.JobID, 128<<10)
	put(empty.JobID, 0)
	emptyJob := strconv.FormatInt(empty.JobID, 10)
	for _, c := range []openapitest.Call{
		{Method: "POST", Path: "/api/gallery/uploads/" + job + "/complete", Token: alice, Status: 202, ValidRequest: true},
		{Method: "POST", Path: "/api/gallery/uploads/" + job + "/complete", Token: alice, Status: 202, ValidRequest: true},
		{Method: "GET", Path: "/api/gallery/jobs/" + job, Token: alice, Status: 200, ValidRequest: true},
		{Method: "POST", Path: "/api/gallery/uploads/" + bigJob + "/complete", Token: alice, Status: 413},
		{Method: "POST", Path: "/api/gallery/uploads/" + bigJob + "/complete", Token: alice, Status: 409},
		{Method: "GET", Path: "/api/gallery/jobs/" + bigJob, Token: alice, Status: 200, ValidRequest: true},
		{Method: "POST", Path: "/api/gallery/uploads/" + emptyJob + "/complete", Token: alice, Status: 400},
		{Method: "POST", Path: "/api/gallery/uploads/" + emptyJob + "/complete", Token: alice, Status: 409},
		{Method: "HEAD", Path: "/api/gallery/videos/" + id(pub), Status: 200},
	} {
		run(c)
	}

	// The tus endpoint.
	x := run(openapitest.Call{Method: "POST", Path: "/api/gallery/tus", Token: alice, Header: tusHeaders("Upload-Length", "8", "Upload-Metadata", meta(resumable.JobID)), Status: 201, ValidRequest: true})
	loc := x.Res.Header.Get("Location")
	if !strings.HasPrefix(loc, catalog.Prefix+tus.Path+"/") {
		t.Fatalf("tus Location %q", loc)
	}
	octets := "application/offset+octet-stream"
	for _, c := range []openapitest.Call{
		{Method: "HEAD", Path: loc, Token: alice, Header: tusHeaders(), Status: 200, ValidRequest: true},
		{Method: "PATCH", Path: loc, Token: alice, Body: []byte("0123"), Header: tusHeaders("Upload-Offset", "0", "Content-Type", octets), Status: 204, ValidRequest: true},
		{Method: "PATCH", Path: loc, Token: alice, Body: []byte("0123"), Header: tusHeaders("Upload-Offset", "1", "Content-Type", octets), Status: 409},
		{Method: "PATCH", Path: loc, Token: alice, Body: []byte("0123456789"), Header: tusHeaders("Upload-Offset", "4", "Content-Type", octets), Status: 413},
		{Method: "PATCH", Path: loc, Token: alice, Body: []byte("0123"), Header: tusHeaders("Upload-Offset", "4", "Content-Type", "text/plain"), Status: 400},
		{Method: "HEAD", Path: loc, Token: bob, Header: tusHeaders(), Status: 403},
		{Method: "HEAD", Path: loc, Header: tusHeaders(), Status: 401},
		{Method: "PATCH", Path: loc, Token: alice, Body: []byte("0123"), Header: []string{"Upload-Offset", "4", "Content-Type", octets}, Status: 412},
		{Method: "HEAD", Path: catalog.Prefix + tus.Path + "/no-such-upload", Token: alice, Header: tusHeaders(), Status: 404},
		{Method: "DELETE", Path: catalog.Prefix + tus.Path + "/job-987654321", Token: alice, Header: tusHeaders(), Status: 404},
		{Method: "POST", Path: "/api/gallery/tus", Token: alice, Header: tusHeaders("Upload-Length", "8"), Status: 400},
		{Method: "POST", Path: "/api/gallery/tus", Header: tusHeaders("Upload-Length", "8", "Upload-Metadata", meta(resumable.JobID)), Status: 401},
		{Method: "POST", Path: "/api/gallery/tus", Token: bob, Header: tusHeaders("Upload-Length", "8", "Upload-Metadata", meta(resumable.JobID)), Status: 403},
		{Method: "POST", Path: "/api/gallery/tus", Token: alice, Header: tusHeaders("Upload-Length", "8", "Upload-Metadata", meta(987654321)), Status: 404},
		{Method: "POST", Path: "/api/gallery/tus", Token: alice, Header: tusHeaders("Upload-Length", "8", "Upload-Metadata", meta(up.JobID)), Status: 409},
		{Method: "POST", Path: "/api/gallery/tus", Token: alice, Header: tusHeaders("Upload-Length", strconv.Itoa(1<<20), "Upload-Metadata", meta(resumable.JobID)), Status: 413},
		{Method: "POST", Path: "/api/gallery/tus", Token: alice, Header: []string{"Upload-Length", "8", "Upload-Metadata", meta(resumable.JobID)}, Status: 412},
		{Method: "DELETE", Path: loc, Token: alice, Header: tusHeaders(), Status: 204, ValidRequest: true},
		{Method: "GET", Path: loc, Token: alice, Header: tusHeaders(), Status: 404},
	} {
		run(c)
	}
	// A sealed job's upload takes no more bytes.
	x = run(openapitest.Call{Method: "POST", Path: "/api/gallery/tus", Token: alice, Header: tusHeaders("Upload-Length", "8", "Upload-Metadata", meta(resumable.JobID)), Status: 201, ValidRequest: true})
	put(resumable.JobID, 4000)
	run(openapitest.Call{Method: "POST", Path: "/api/gallery/uploads/" + strconv.FormatInt(resumable.JobID, 10) + "/complete", Token: alice, Status: 202, ValidRequest: true})
	loc = x.Res.Header.Get("Location")
	run(openapitest.Call{Method: "PATCH", Path: loc, Token: alice, Body: []byte("0123"), Header: tusHeaders("Upload-Offset", "0", "Content-Type", octets), Status: 409})
	run(openapitest.Call{Method: "DELETE", Path: loc, Token: alice, Header: tusHeaders(), Status: 409})
	run(openapitest.Call{Method: "HEAD", Path: loc, Token: alice, Header: tusHeaders(), Status: 200, ValidRequest: true})

	// The document itself, as served.
	for _, p := range []string{"/api/gallery/openapi.json", "/openapi.json"} {
		x := run(openapitest.Call{Method: "GET", Path: p, Status: 200, ValidRequest: true})
		if !bytes.Equal(x.Body, catalog.OpenAPI()) || x.Res.Header.Get("Content-Type") != "application/json" || x.Res.Header.Get("Cache-Control") == "" {
			t.Errorf("GET %s: %s, %q, %d bytes", p, x.Res.Header, x.Res.Header.Get("Content-Type"), len(x.Body))
		}
	}

	// A gallery without uploads configured, and one whose database is down, answer
	// 503 with Retry-After.
	bare := newEnv(t)
	token := bare.token("alice")
	deadDB := deadGallery(t)
	for _, c := range []struct {
		base string
		openapitest.Call
	}{
		{bare.url, openapitest.Call{Method: "POST", Path: "/api/gallery/uploads", Token: token, Body: []byte(`{"title":"x"}`), Status: 503}},
		{bare.url, openapitest.Call{Method: "POST", Path: "/api/gallery/uploads/1/complete", Token: token, Status: 503}},
		{bare.url, openapitest.Call{Method: "GET", Path: "/api/gallery/jobs/1", Token: token, Status: 503}},
		{deadDB, openapitest.Call{Method: "GET", Path: "/api/gallery/videos", Status: 503}},
		{deadDB, openapitest.Call{Method: "GET", Path: "/api/gallery/videos/1", Status: 503}},
	} {
		d.Run(t, c.base, c.Call)
	}
}

// deadGallery serves a gallery whose database nothing listens for, and returns its URL.
func deadGallery(t *testing.T) string {
	t.Helper()
	ln := httptest.NewServer(http.NotFoundHandler())
	dead := ln.Listener.Addr().String()
	ln.Close()
	db, err := postgres.Open(context.Background(), postgres.Config{
		URL: "postgres://postgres@" + dead + "/x?sslmode=disable&connect_timeout=2", Schema: schema.DefaultSchema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	ts := httptest.NewServer(catalog.NewServer(catalog.Config{}, postgres.NewVideoService(db), nil, db.Ping, slog.New(slog.DiscardHandler)))
	t.Cleanup(ts.Close)
	return ts.URL
}
