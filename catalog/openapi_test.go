package catalog_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/storage/s3test"
	"github.com/videoforge/videoforge/uploads"
	"github.com/videoforge/videoforge/uploads/tus"
)

// openAPIDoc is the gallery's OpenAPI document, parsed, with a validator of requests
// and responses over it.
type openAPIDoc struct {
	model *v3.Document
	check validator.Validator
}

func loadOpenAPI(t *testing.T, data []byte) *openAPIDoc {
	t.Helper()
	doc, err := libopenapi.NewDocument(data)
	if err != nil {
		t.Fatalf("parse the OpenAPI document: %v", err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Fatalf("OpenAPI version %q, want 3.1.0", v)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("build the OpenAPI model: %v", err)
	}
	check, errs := validator.NewValidator(doc, config.WithFormatAssertions())
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	return &openAPIDoc{model: &m.Model, check: check}
}

// TestOpenAPIDocument: the embedded document is valid OpenAPI 3.1 (against the
// specification's own schema) and every reference in it resolves.
func TestOpenAPIDocument(t *testing.T) {
	d := loadOpenAPI(t, catalog.OpenAPI())
	if ok, errs := d.check.ValidateDocument(); !ok {
		report(t, "catalog/openapi.json", errs)
	}
}

// goTemplate turns a Go route pattern into an OpenAPI path template: "{id...}", a
// wildcard that may hold slashes, is "{id}" there.
func goTemplate(p string) string { return strings.ReplaceAll(p, "...}", "}") }

// TestOpenAPIRoutes: every route of catalog.Routes, and of the tus endpoint under the
// gallery's prefix, is an operation of the document, and every operation is one of
// them or the CORS preflight (OPTIONS), which every path of the document has.
func TestOpenAPIRoutes(t *testing.T) {
	d := loadOpenAPI(t, catalog.OpenAPI())
	var code []string
	for _, r := range catalog.Routes {
		code = append(code, r.Method+" "+catalog.Prefix+goTemplate(r.Path))
	}
	for _, r := range tus.Routes {
		code = append(code, r.Method+" "+catalog.Prefix+tus.Path+goTemplate(r.Path))
	}
	documented := documentedOperations(d.model)
	for _, r := range code {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in catalog/openapi.json", r)
		}
	}
	for _, op := range documented {
		if method, path, _ := strings.Cut(op, " "); method == "OPTIONS" {
			if !slices.ContainsFunc(code, func(r string) bool { return strings.HasSuffix(r, " "+path) }) {
				t.Errorf("catalog/openapi.json documents the preflight of %s, which has no route", path)
			}
		} else if !slices.Contains(code, op) {
			t.Errorf("catalog/openapi.json documents %s, which is no route of catalog.Routes or tus.Routes", op)
		}
	}
	for path, item := range d.model.Paths.PathItems.FromOldest() {
		if item.Options == nil {
			t.Errorf("catalog/openapi.json has no preflight (OPTIONS) of %s", path)
		}
	}
}

func documentedOperations(m *v3.Document) []string {
	var ops []string
	for path, item := range m.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			ops = append(ops, strings.ToUpper(method)+" "+path)
		}
	}
	return ops
}

// call is one request of TestOpenAPIResponses and the status it must get.
type call struct {
	method, path, token string
	body                []byte
	header              []string // name, value, …
	status              int
	// validRequest says that the request itself follows the document, and is
	// validated against it too.
	validRequest bool
}

// exchange is a request sent and its answer, with both bodies kept.
type exchange struct {
	req     *http.Request
	reqBody []byte
	res     *http.Response
	body    []byte
}

func send(t *testing.T, base string, c call) exchange {
	t.Helper()
	req, err := http.NewRequest(c.method, base+c.path, bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.body == nil {
		req.Body = http.NoBody
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.body != nil && !slices.Contains(c.header, "Content-Type") {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(c.header); i += 2 {
		req.Header.Set(c.header[i], c.header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return exchange{req: req, reqBody: c.body, res: res, body: body}
}

// validate holds one exchange to the document: a documented operation's answer
// must be one of its documented responses, with a body and headers that match; an
// undocumented path must be the NotFound response, an undocumented method on a
// documented path the MethodNotAllowed one (NotFound on the tus endpoint's), and a HEAD
// a status its GET documents. Requests are matched by their path with
// prefix, the gallery's being added to a request sent without it.
func (d *openAPIDoc) validate(t *testing.T, x exchange, prefix string, validRequest bool) {
	t.Helper()
	path := x.req.URL.Path
	if !strings.HasPrefix(path, prefix+"/") && path != prefix {
		path = prefix + path
	}
	req := x.req.Clone(context.Background())
	req.URL.Path, req.URL.RawPath = path, ""
	req.Body = io.NopCloser(bytes.NewReader(x.reqBody))
	res := *x.res
	res.Body = io.NopCloser(bytes.NewReader(x.body))
	name := fmt.Sprintf("%s %s → %d %s", x.req.Method, x.req.URL.RequestURI(), x.res.StatusCode, x.body)

	item, methods := d.pathItem(path)
	switch {
	case item == nil:
		d.checkComponent(t, name, "NotFound", &res, x.body)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: a path the document does not name must be 404", name)
		}
		return
	case x.req.Method == http.MethodHead && item.Get != nil && !slices.Contains(methods, http.MethodHead):
		// HEAD is answered as GET, without the body: a status GET documents.
		if item.Get.Responses.Codes.GetOrZero(strconv.Itoa(res.StatusCode)) == nil {
			t.Errorf("%s: HEAD answered with a status the GET does not document", name)
		}
		if len(x.body) != 0 {
			t.Errorf("%s: a HEAD answer with a body", name)
		}
		return
	case !slices.Contains(methods, x.req.Method):
		if strings.HasPrefix(path, catalog.Prefix+tus.Path) && res.StatusCode == http.StatusNotFound {
			// The tus endpoint answers other methods with the catch-all 404.
			d.checkComponent(t, name, "NotFound", &res, x.body)
			return
		}
		d.checkComponent(t, name, "MethodNotAllowed", &res, x.body)
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: an undocumented method must be 405", name)
		}
		allow := strings.Split(strings.ReplaceAll(res.Header.Get("Allow"), " ", ""), ",")
		for _, m := range methods {
			if !slices.Contains(allow, m) {
				t.Errorf("%s: Allow %q does not name the documented %s", name, res.Header.Get("Allow"), m)
			}
		}
		if slices.Contains(allow, x.req.Method) {
			t.Errorf("%s: Allow %q names the refused method", name, res.Header.Get("Allow"))
		}
		return
	}
	if ok, errs := d.check.ValidateHttpResponse(req, &res); !ok {
		report(t, name+": response", errs)
	}
	if validRequest {
		req.Body = io.NopCloser(bytes.NewReader(x.reqBody))
		if ok, errs := d.check.ValidateHttpRequestSync(req); !ok {
			report(t, name+": request", errs)
		}
	}
}

// report fails the test with each validation error and the schema failures in it.
func report(t *testing.T, what string, errs []*liberrors.ValidationError) {
	t.Helper()
	for _, e := range errs {
		t.Errorf("%s: %s: %s", what, e.Message, e.Reason)
		for _, se := range e.SchemaValidationErrors {
			t.Errorf("    at %s (%s): %s", se.FieldPath, se.KeywordLocation, se.Reason)
		}
	}
}

var templateParam = regexp.MustCompile(`\{[^}]+\}`)

// pathItem returns the documented path that path matches, a literal one before a
// template, and its methods.
func (d *openAPIDoc) pathItem(path string) (*v3.PathItem, []string) {
	var found *v3.PathItem
	literal := false
	for p, item := range d.model.Paths.PathItems.FromOldest() {
		parts := templateParam.Split(p, -1)
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		re := regexp.MustCompile("^" + strings.Join(parts, `[^/]+`) + "$")
		if !re.MatchString(path) {
			continue
		}
		isLiteral := !strings.Contains(p, "{")
		if found == nil || (isLiteral && !literal) {
			found, literal = item, isLiteral
		}
	}
	if found == nil {
		return nil, nil
	}
	var methods []string
	for m := range found.GetOperations().FromOldest() {
		methods = append(methods, strings.ToUpper(m))
	}
	return found, methods
}

// checkComponent holds an answer to the document's response components[name]: its
// required headers and its JSON body.
func (d *openAPIDoc) checkComponent(t *testing.T, what, name string, res *http.Response, body []byte) {
	t.Helper()
	r := d.model.Components.Responses.GetOrZero(name)
	if r == nil {
		t.Fatalf("the document has no response %s", name)
	}
	for h, hdr := range r.Headers.FromOldest() {
		if hdr.Required && res.Header.Get(h) == "" {
			t.Errorf("%s: no %s header, which %s requires", what, h, name)
		}
	}
	mt := r.Content.GetOrZero("application/json")
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") || mt == nil {
		t.Errorf("%s: Content-Type %q, want %s's application/json", what, res.Header.Get("Content-Type"), name)
		return
	}
	sv := schema_validation.NewSchemaValidator()
	if ok, errs := sv.ValidateSchemaBytes(mt.Schema.Schema(), body); !ok {
		report(t, what+": not "+name, errs)
	}
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
	d := loadOpenAPI(t, catalog.OpenAPI())
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
	run := func(c call) exchange {
		t.Helper()
		x := send(t, e.url, c)
		if x.res.StatusCode != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, x.res.StatusCode, x.body, c.status)
		}
		d.validate(t, x, catalog.Prefix, c.validRequest)
		return x
	}
	preflight := []string{"Origin", "https://app.example", "Access-Control-Request-Method", "PUT"}
	oversized := []byte(`{"title":"` + strings.Repeat("x", 2<<10) + `"}`)

	for _, c := range []call{
		{method: "GET", path: "/api/gallery/health", status: 200, validRequest: true},
		{method: "GET", path: "/health", status: 200, validRequest: true},
		{method: "GET", path: "/api/gallery/videos?page=1&limit=2&sort=title", status: 200, validRequest: true},
		{method: "GET", path: "/api/gallery/videos?userId=alice&status=ready&search=alice", token: alice, status: 200, validRequest: true},
		{method: "GET", path: "/videos?limit=100", token: alice, status: 200, validRequest: true},
		{method: "GET", path: "/api/gallery/videos?page=99", status: 200, validRequest: true},
		{method: "GET", path: "/api/gallery/videos?limit=0", status: 400},
		{method: "GET", path: "/api/gallery/videos?sort=random", status: 400},
		{method: "GET", path: "/api/gallery/videos", token: "not-a-token", status: 401},
		{method: "GET", path: "/api/gallery/videos/" + id(pub), status: 200, validRequest: true},
		{method: "GET", path: "/api/gallery/videos/" + id(unl) + "?key=" + unl.ShareKey, status: 200, validRequest: true},
		{method: "GET", path: "/api/gallery/videos/" + id(unl), token: alice, status: 200, validRequest: true},
		{method: "GET", path: "/api/gallery/videos/" + id(priv), token: alice, status: 200, validRequest: true},
		{method: "GET", path: "/api/gallery/videos/" + id(unl), status: 404},
		{method: "GET", path: "/api/gallery/videos/" + id(priv), token: bob, status: 404},
		{method: "GET", path: "/api/gallery/videos/987654321", status: 404},
		{method: "GET", path: "/api/gallery/videos/99999999999999999999", status: 404},
		{method: "GET", path: "/api/gallery/videos/abc", status: 400},
		{method: "GET", path: "/api/gallery/videos/" + id(pub), token: e.forge(nil, func(b *jwt.Builder) { b.Expiration(time.Now().Add(-time.Minute)) }), status: 401},
		{method: "PUT", path: "/api/gallery/videos/" + id(pub), token: alice, body: []byte(`{"title":"renamed","description":null}`), status: 200, validRequest: true},
		{method: "PUT", path: "/api/gallery/videos/" + id(unl), token: alice, body: []byte(`{"visibility":"unlisted","description":"still unlisted"}`), status: 200, validRequest: true},
		{method: "PUT", path: "/api/gallery/videos/" + id(pub), body: []byte(`{"title":"x"}`), status: 401},
		{method: "PUT", path: "/api/gallery/videos/" + id(bobs), token: alice, body: []byte(`{"title":"mine"}`), status: 403},
		{method: "PUT", path: "/api/gallery/videos/" + id(priv), token: bob, body: []byte(`{"title":"mine"}`), status: 404},
		{method: "PUT", path: "/api/gallery/videos/987654321", token: alice, body: []byte(`{"title":"x"}`), status: 404},
		{method: "PUT", path: "/api/gallery/videos/" + id(pub), token: alice, body: []byte(`{"bogus":1}`), status: 400},
		{method: "PUT", path: "/api/gallery/videos/" + id(pub), token: alice, body: []byte(`{"visibility":"secret"}`), status: 400},
		{method: "PUT", path: "/api/gallery/videos/" + id(pub), token: alice, body: []byte(`{}`), status: 400},
		{method: "PUT", path: "/api/gallery/videos/" + id(pub), token: alice, body: oversized, status: 413},
		{method: "DELETE", path: "/api/gallery/videos/" + id(doomed), status: 401},
		{method: "DELETE", path: "/api/gallery/videos/" + id(bobs), token: alice, status: 403},
		{method: "DELETE", path: "/api/gallery/videos/" + id(doomed), token: alice, status: 204, validRequest: true},
		{method: "DELETE", path: "/api/gallery/videos/" + id(doomed), token: alice, status: 404},
		{method: "DELETE", path: "/api/gallery/videos/x1", token: alice, status: 400},
		{method: "POST", path: "/api/gallery/uploads", token: alice, body: []byte(`{"title":"another","description":"d","visibility":"private"}`), status: 201, validRequest: true},
		{method: "POST", path: "/uploads", token: alice, body: []byte(`{"title":"unprefixed"}`), status: 201, validRequest: true},
		{method: "POST", path: "/api/gallery/uploads", body: []byte(`{"title":"x"}`), status: 401},
		{method: "POST", path: "/api/gallery/uploads", token: alice, body: []byte(`{"title":"  "}`), status: 400},
		{method: "POST", path: "/api/gallery/uploads", token: alice, body: []byte(`{"title":1}`), status: 400},
		{method: "POST", path: "/api/gallery/uploads", token: alice, body: oversized, status: 413},
		{method: "POST", path: "/api/gallery/uploads/" + job + "/complete", token: alice, status: 409},
		{method: "POST", path: "/api/gallery/uploads/" + job + "/complete", token: bob, status: 403},
		{method: "POST", path: "/api/gallery/uploads/" + job + "/complete", status: 401},
		{method: "POST", path: "/api/gallery/uploads/987654321/complete", token: alice, status: 404},
		{method: "POST", path: "/api/gallery/uploads/one/complete", token: alice, status: 400},
		{method: "GET", path: "/api/gallery/jobs/" + job, token: alice, status: 200, validRequest: true},
		{method: "GET", path: "/api/gallery/jobs/" + job, token: bob, status: 403},
		{method: "GET", path: "/api/gallery/jobs/" + job, status: 401},
		{method: "GET", path: "/api/gallery/jobs/987654321", token: alice, status: 404},
		{method: "GET", path: "/api/gallery/jobs/-1", token: alice, status: 400},
		// The CORS preflight, and OPTIONS that are none.
		{method: "OPTIONS", path: "/api/gallery/videos/" + id(pub), header: preflight, status: 204, validRequest: true},
		{method: "OPTIONS", path: "/api/gallery/videos", header: preflight, status: 204, validRequest: true},
		{method: "OPTIONS", path: "/api/gallery/uploads/" + job + "/complete", header: preflight, status: 204, validRequest: true},
		{method: "OPTIONS", path: "/api/gallery/tus/job-1", header: preflight, status: 204, validRequest: true},
		{method: "OPTIONS", path: "/api/gallery/tus", header: preflight, status: 204, validRequest: true},
		{method: "OPTIONS", path: "/health", header: preflight, status: 204, validRequest: true},
		{method: "OPTIONS", path: "/api/gallery/jobs/" + job, status: 405},
		{method: "OPTIONS", path: "/api/gallery/tus", header: []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "PATCH"}, status: 404},
		// Methods and paths the API does not have.
		{method: "POST", path: "/api/gallery/videos/" + id(pub), token: alice, status: 405},
		{method: "DELETE", path: "/api/gallery/health", status: 405},
		{method: "PATCH", path: "/jobs/" + job, status: 405},
		{method: "GET", path: "/api/gallery/nothing-here", status: 404},
		{method: "GET", path: "/api/gallery/uploads/" + job, status: 404},
	} {
		run(c)
	}

	// The uploaded file, then the completes: accepted once, too large, repeated.
	put(up.JobID, 4000)
	put(big.JobID, 128<<10)
	put(empty.JobID, 0)
	emptyJob := strconv.FormatInt(empty.JobID, 10)
	for _, c := range []call{
		{method: "POST", path: "/api/gallery/uploads/" + job + "/complete", token: alice, status: 202, validRequest: true},
		{method: "POST", path: "/api/gallery/uploads/" + job + "/complete", token: alice, status: 202, validRequest: true},
		{method: "GET", path: "/api/gallery/jobs/" + job, token: alice, status: 200, validRequest: true},
		{method: "POST", path: "/api/gallery/uploads/" + bigJob + "/complete", token: alice, status: 413},
		{method: "POST", path: "/api/gallery/uploads/" + bigJob + "/complete", token: alice, status: 409},
		{method: "GET", path: "/api/gallery/jobs/" + bigJob, token: alice, status: 200, validRequest: true},
		{method: "POST", path: "/api/gallery/uploads/" + emptyJob + "/complete", token: alice, status: 400},
		{method: "POST", path: "/api/gallery/uploads/" + emptyJob + "/complete", token: alice, status: 409},
		{method: "HEAD", path: "/api/gallery/videos/" + id(pub), status: 200},
	} {
		run(c)
	}

	// The tus endpoint.
	x := run(call{method: "POST", path: "/api/gallery/tus", token: alice, header: tusHeaders("Upload-Length", "8", "Upload-Metadata", meta(resumable.JobID)), status: 201, validRequest: true})
	loc := x.res.Header.Get("Location")
	if !strings.HasPrefix(loc, catalog.Prefix+tus.Path+"/") {
		t.Fatalf("tus Location %q", loc)
	}
	octets := "application/offset+octet-stream"
	for _, c := range []call{
		{method: "HEAD", path: loc, token: alice, header: tusHeaders(), status: 200, validRequest: true},
		{method: "PATCH", path: loc, token: alice, body: []byte("0123"), header: tusHeaders("Upload-Offset", "0", "Content-Type", octets), status: 204, validRequest: true},
		{method: "PATCH", path: loc, token: alice, body: []byte("0123"), header: tusHeaders("Upload-Offset", "1", "Content-Type", octets), status: 409},
		{method: "PATCH", path: loc, token: alice, body: []byte("0123456789"), header: tusHeaders("Upload-Offset", "4", "Content-Type", octets), status: 413},
		{method: "PATCH", path: loc, token: alice, body: []byte("0123"), header: tusHeaders("Upload-Offset", "4", "Content-Type", "text/plain"), status: 400},
		{method: "HEAD", path: loc, token: bob, header: tusHeaders(), status: 403},
		{method: "HEAD", path: loc, header: tusHeaders(), status: 401},
		{method: "PATCH", path: loc, token: alice, body: []byte("0123"), header: []string{"Upload-Offset", "4", "Content-Type", octets}, status: 412},
		{method: "HEAD", path: catalog.Prefix + tus.Path + "/no-such-upload", token: alice, header: tusHeaders(), status: 404},
		{method: "DELETE", path: catalog.Prefix + tus.Path + "/job-987654321", token: alice, header: tusHeaders(), status: 404},
		{method: "POST", path: "/api/gallery/tus", token: alice, header: tusHeaders("Upload-Length", "8"), status: 400},
		{method: "POST", path: "/api/gallery/tus", header: tusHeaders("Upload-Length", "8", "Upload-Metadata", meta(resumable.JobID)), status: 401},
		{method: "POST", path: "/api/gallery/tus", token: bob, header: tusHeaders("Upload-Length", "8", "Upload-Metadata", meta(resumable.JobID)), status: 403},
		{method: "POST", path: "/api/gallery/tus", token: alice, header: tusHeaders("Upload-Length", "8", "Upload-Metadata", meta(987654321)), status: 404},
		{method: "POST", path: "/api/gallery/tus", token: alice, header: tusHeaders("Upload-Length", "8", "Upload-Metadata", meta(up.JobID)), status: 409},
		{method: "POST", path: "/api/gallery/tus", token: alice, header: tusHeaders("Upload-Length", strconv.Itoa(1<<20), "Upload-Metadata", meta(resumable.JobID)), status: 413},
		{method: "POST", path: "/api/gallery/tus", token: alice, header: []string{"Upload-Length", "8", "Upload-Metadata", meta(resumable.JobID)}, status: 412},
		{method: "DELETE", path: loc, token: alice, header: tusHeaders(), status: 204, validRequest: true},
		{method: "GET", path: loc, token: alice, header: tusHeaders(), status: 404},
	} {
		run(c)
	}
	// A sealed job's upload takes no more bytes.
	x = run(call{method: "POST", path: "/api/gallery/tus", token: alice, header: tusHeaders("Upload-Length", "8", "Upload-Metadata", meta(resumable.JobID)), status: 201, validRequest: true})
	put(resumable.JobID, 4000)
	run(call{method: "POST", path: "/api/gallery/uploads/" + strconv.FormatInt(resumable.JobID, 10) + "/complete", token: alice, status: 202, validRequest: true})
	loc = x.res.Header.Get("Location")
	run(call{method: "PATCH", path: loc, token: alice, body: []byte("0123"), header: tusHeaders("Upload-Offset", "0", "Content-Type", octets), status: 409})
	run(call{method: "DELETE", path: loc, token: alice, header: tusHeaders(), status: 409})
	run(call{method: "HEAD", path: loc, token: alice, header: tusHeaders(), status: 200, validRequest: true})

	// The document itself, as served.
	for _, p := range []string{"/api/gallery/openapi.json", "/openapi.json"} {
		x := run(call{method: "GET", path: p, status: 200, validRequest: true})
		if !bytes.Equal(x.body, catalog.OpenAPI()) || x.res.Header.Get("Content-Type") != "application/json" || x.res.Header.Get("Cache-Control") == "" {
			t.Errorf("GET %s: %s, %q, %d bytes", p, x.res.Header, x.res.Header.Get("Content-Type"), len(x.body))
		}
	}

	// A gallery without uploads configured, and one whose database is down, answer
	// 503 with Retry-After.
	bare := newEnv(t)
	token := bare.token("alice")
	deadDB := deadGallery(t)
	for _, c := range []struct {
		base string
		call
	}{
		{bare.url, call{method: "POST", path: "/api/gallery/uploads", token: token, body: []byte(`{"title":"x"}`), status: 503}},
		{bare.url, call{method: "POST", path: "/api/gallery/uploads/1/complete", token: token, status: 503}},
		{bare.url, call{method: "GET", path: "/api/gallery/jobs/1", token: token, status: 503}},
		{deadDB, call{method: "GET", path: "/api/gallery/videos", status: 503}},
		{deadDB, call{method: "GET", path: "/api/gallery/videos/1", status: 503}},
	} {
		x := send(t, c.base, c.call)
		if x.res.StatusCode != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, x.res.StatusCode, x.body, c.status)
		}
		d.validate(t, x, catalog.Prefix, false)
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
