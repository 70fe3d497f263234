package edge_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/edge"
)

// The helpers below hold answers to an OpenAPI document as catalog/openapi_test.go's
// do; test packages cannot share them.

// TestOpenAPIDocument: the embedded document is valid OpenAPI 3.1 (against the
// specification's own schema) and every reference in it resolves.
func TestOpenAPIDocument(t *testing.T) {
	d := loadOpenAPI(t, edge.OpenAPI())
	if ok, errs := d.check.ValidateDocument(); !ok {
		report(t, "edge/openapi.json", errs)
	}
}

// TestOpenAPIRoutes: every route of edge.Routes is an operation of the document, and
// every operation is one of them or the CORS preflight (OPTIONS), which every path
// of the document has.
func TestOpenAPIRoutes(t *testing.T) {
	d := loadOpenAPI(t, edge.OpenAPI())
	var code []string
	for _, r := range edge.Routes {
		code = append(code, r.Method+" "+edge.Prefix+r.Path)
	}
	documented := documentedOperations(d.model)
	for _, r := range code {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in edge/openapi.json", r)
		}
	}
	for _, op := range documented {
		if method, path, _ := strings.Cut(op, " "); method == "OPTIONS" {
			if !slices.ContainsFunc(code, func(r string) bool { return strings.HasSuffix(r, " "+path) }) {
				t.Errorf("edge/openapi.json documents the preflight of %s, which has no route of edge.Routes", path)
			}
		} else if !slices.Contains(code, op) {
			t.Errorf("edge/openapi.json documents %s, which is no route of edge.Routes", op)
		}
	}
	for path, item := range d.model.Paths.PathItems.FromOldest() {
		if item.Options == nil {
			t.Errorf("edge/openapi.json has no preflight (OPTIONS) of %s", path)
		}
	}
}

// call is one request of TestOpenAPIResponses and the status it must get.
type call struct {
	method, path, token string
	header              []string // name, value, …
	status              int
	// validRequest says that the request itself follows the document, and is
	// validated against it too.
	validRequest bool
}

// exchange is a request sent and its answer, with its body kept.
type exchange struct {
	req     *http.Request
	reqBody []byte
	res     *http.Response
	body    []byte
}

func send(t *testing.T, base string, c call) exchange {
	t.Helper()
	req, err := http.NewRequest(c.method, base+c.path, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
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
	return exchange{req: req, res: res, body: body}
}

// TestOpenAPIResponses: the answers of real edges over loopback, successes and errors
// of every route, are what the document says.
func TestOpenAPIResponses(t *testing.T) {
	d := loadOpenAPI(t, edge.OpenAPI())
	dsn, _, vs := catalogDB(t)
	pub := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	unl := create(t, vs, newVideo("alice", videoforge.Unlisted, videoforge.StatusReady))
	priv := create(t, vs, newVideo("alice", videoforge.Private, videoforge.StatusReady))
	busy := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusProcessing))
	unready := create(t, vs, newVideo("alice", videoforge.Unlisted, videoforge.StatusProcessing))
	iss, verifier := issuer(t)
	alice, err := iss.Mint("alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := iss.Mint("bob", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e := startEdge(t, edgeCatalog(t, dsn), "", verifier, nil)
	run := func(base string, c call) exchange {
		t.Helper()
		x := send(t, base, c)
		if x.res.StatusCode != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, x.res.StatusCode, x.body, c.status)
		}
		d.validate(t, x, edge.Prefix, c.validRequest)
		return x
	}
	preflight := []string{"Origin", "https://app.example", "Access-Control-Request-Method", "GET"}
	for _, c := range []call{
		{method: "GET", path: "/api/stream/health", status: 200, validRequest: true},
		{method: "GET", path: "/health", status: 200, validRequest: true},
		{method: "GET", path: "/api/stream/" + id(pub), status: 200, validRequest: true},
		{method: "GET", path: "/api/stream/" + id(pub) + "/qualities", status: 200, validRequest: true},
		{method: "GET", path: "/api/stream/" + id(pub) + "/thumbnail", status: 200, validRequest: true},
		{method: "HEAD", path: "/api/stream/" + id(pub), status: 200},
		{method: "HEAD", path: "/api/stream/" + id(busy) + "/qualities", status: 409},
		{method: "GET", path: "/" + id(pub) + "/qualities", status: 200, validRequest: true},
		{method: "GET", path: "/api/stream/" + id(unl) + keyOf(unl), status: 200, validRequest: true},
		{method: "GET", path: "/api/stream/" + id(unl) + "/qualities" + keyOf(unl), status: 200, validRequest: true},
		{method: "GET", path: "/api/stream/" + id(unl) + "/thumbnail" + keyOf(unl), status: 200, validRequest: true},
		{method: "GET", path: "/api/stream/" + id(priv), token: alice, status: 200, validRequest: true},
		{method: "GET", path: "/api/stream/" + id(priv) + "/qualities", token: alice, status: 200, validRequest: true},
		{method: "GET", path: "/api/stream/" + id(priv) + "/thumbnail", token: alice, status: 200, validRequest: true},
		{method: "GET", path: "/api/stream/" + id(unl), status: 404},
		{method: "GET", path: "/api/stream/" + id(unl) + "/qualities?key=wrong", status: 404},
		{method: "GET", path: "/api/stream/" + id(priv), status: 404},
		{method: "GET", path: "/api/stream/" + id(priv) + "/thumbnail", token: bob, status: 404},
		{method: "GET", path: "/api/stream/" + id(priv), token: "not-a-token", status: 404},
		{method: "GET", path: "/api/stream/" + id(unready), status: 404},
		{method: "GET", path: "/api/stream/987654321", status: 404},
		{method: "GET", path: "/api/stream/987654321/qualities", status: 404},
		{method: "GET", path: "/api/stream/" + id(busy), status: 409},
		{method: "GET", path: "/api/stream/" + id(busy) + "/qualities", status: 409},
		{method: "GET", path: "/api/stream/" + id(busy) + "/thumbnail", status: 409},
		{method: "GET", path: "/api/stream/" + id(unready) + keyOf(unready), status: 409},
		{method: "GET", path: "/api/stream/abc", status: 400},
		{method: "GET", path: "/api/stream/007/qualities", status: 400},
		{method: "GET", path: "/api/stream/1234567890123456789/thumbnail", status: 400},
		{method: "OPTIONS", path: "/api/stream/" + id(pub), header: preflight, status: 204, validRequest: true},
		{method: "OPTIONS", path: "/api/stream/" + id(pub) + "/qualities", header: preflight, status: 204, validRequest: true},
		{method: "OPTIONS", path: "/api/stream/" + id(pub) + "/thumbnail", header: preflight, status: 204, validRequest: true},
		{method: "OPTIONS", path: "/api/stream/health", header: preflight, status: 204, validRequest: true},
		{method: "OPTIONS", path: "/api/stream/openapi.json", header: preflight, status: 204, validRequest: true},
		// Methods and paths the API does not have.
		{method: "POST", path: "/api/stream/" + id(pub), status: 405},
		{method: "DELETE", path: "/api/stream/health", status: 405},
		{method: "PUT", path: "/" + id(pub) + "/thumbnail", status: 405},
		{method: "GET", path: "/api/stream", status: 404},
		{method: "GET", path: "/api/stream/" + id(pub) + "/storyboard", status: 400},
	} {
		run(e.url, c)
	}

	// The document itself, as served.
	for _, p := range []string{"/api/stream/openapi.json", "/openapi.json"} {
		x := run(e.url, call{method: "GET", path: p, status: 200, validRequest: true})
		if !bytes.Equal(x.body, edge.OpenAPI()) || x.res.Header.Get("Content-Type") != "application/json" || x.res.Header.Get("Cache-Control") == "" {
			t.Errorf("GET %s: %s, %d bytes", p, x.res.Header, len(x.body))
		}
	}

	// Misses beyond a client's budget are 429 with Retry-After.
	limited := startEdge(t, edgeCatalog(t, dsn), "", nil, func(c *edge.Config) { c.MissRate, c.MissBurst = 0.01, 1 })
	run(limited.url, call{method: "GET", path: "/api/stream/987654321", status: 404})
	run(limited.url, call{method: "GET", path: "/api/stream/987654322/qualities", status: 429})
	run(limited.url, call{method: "GET", path: "/api/stream/" + id(pub), status: 200, validRequest: true})

	// With PostgreSQL down, a video not held is 503 with Retry-After.
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, u.Host)
	u.Host = px.addr()
	down := startEdge(t, edgeCatalog(t, u.String()), "", nil, nil)
	px.cut()
	run(down.url, call{method: "GET", path: "/api/stream/987654321/thumbnail", status: 503})
	run(down.url, call{method: "GET", path: "/api/stream/" + id(pub) + "/thumbnail", status: 200, validRequest: true})
}

// openAPIDoc is the streaming API's OpenAPI document, parsed, with a validator of requests
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

func documentedOperations(m *v3.Document) []string {
	var ops []string
	for path, item := range m.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			ops = append(ops, strings.ToUpper(method)+" "+path)
		}
	}
	return ops
}

// validate holds one exchange to the document: a documented operation's answer
// must be one of its documented responses, with a body and headers that match; an
// undocumented path must be the NotFound response, an undocumented method on a
// documented path the MethodNotAllowed one, and a HEAD a status its GET documents.
// Requests are matched by their path with prefix, the stream API's being added to a
// request sent without it.
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
		// A path the document does not name: no such route, or an id that is none.
		if res.StatusCode == http.StatusBadRequest {
			d.checkComponent(t, name, "BadRequest", &res, x.body)
		} else {
			d.checkComponent(t, name, "NotFound", &res, x.body)
		}
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: a path the document does not name must be 404 or 400", name)
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
