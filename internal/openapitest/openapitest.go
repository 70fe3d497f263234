// Package openapitest holds an HTTP API to its OpenAPI 3.1 document in tests: the
// document is valid, its operations are the API's routes and the routes its
// operations, and real requests and their answers are what it says. Only tests import
// it.
package openapitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// Options say what of an API its document does not show.
type Options struct {
	// Name names the document in failures, as "catalog/openapi.json".
	Name string
	// Prefix is the path the API is served under in the document; a request sent
	// without it is matched as if sent with it.
	Prefix string
	// Unnamed maps each status a path the document does not name may be answered with
	// to the response component that answer must be; nil is {404: "NotFound"}. Any
	// other status fails, and is held to the NotFound component.
	Unnamed map[int]string
	// CatchAll lists the path prefixes under which an undocumented method may be
	// answered 404 (the NotFound component) by a catch-all handler instead of 405.
	CatchAll []string
}

// Doc is an API's OpenAPI document, parsed, with a validator of requests and responses
// over it.
type Doc struct {
	opts  Options
	model *v3.Document
	check validator.Validator
}

// Load parses data, an OpenAPI 3.1.0 document, and fails the test when it cannot be
// parsed or validated against.
func Load(t testing.TB, data []byte, o Options) *Doc {
	t.Helper()
	if o.Unnamed == nil {
		o.Unnamed = map[int]string{http.StatusNotFound: "NotFound"}
	}
	doc, err := libopenapi.NewDocument(data)
	if err != nil {
		t.Fatalf("parse %s: %v", o.Name, err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Fatalf("%s: OpenAPI version %q, want 3.1.0", o.Name, v)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("build the OpenAPI model of %s: %v", o.Name, err)
	}
	check, errs := validator.NewValidator(doc, config.WithFormatAssertions())
	if len(errs) > 0 {
		t.Fatalf("validator of %s: %v", o.Name, errs)
	}
	return &Doc{opts: o, model: &m.Model, check: check}
}

// CheckDocument fails the test unless the document is valid OpenAPI 3.1 (against the
// specification's own schema) with every reference resolved.
func (d *Doc) CheckDocument(t testing.TB) {
	t.Helper()
	if ok, errs := d.check.ValidateDocument(); !ok {
		report(t, d.opts.Name, errs)
	}
}

// CheckRoutes holds the document to routes, the API's routes as "METHOD /path" with
// the prefix and OpenAPI path templates, which of names in failures: every route is
// an operation of the document, every operation is a route or the CORS preflight
// (OPTIONS) of a path that has one, and every path of the document has a preflight.
func (d *Doc) CheckRoutes(t testing.TB, routes []string, of string) {
	t.Helper()
	var documented []string
	for path, item := range d.model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in %s", r, d.opts.Name)
		}
	}
	for _, op := range documented {
		if method, path, _ := strings.Cut(op, " "); method == "OPTIONS" {
			if !slices.ContainsFunc(routes, func(r string) bool { return strings.HasSuffix(r, " "+path) }) {
				t.Errorf("%s documents the preflight of %s, which has no route of %s", d.opts.Name, path, of)
			}
		} else if !slices.Contains(routes, op) {
			t.Errorf("%s documents %s, which is no route of %s", d.opts.Name, op, of)
		}
	}
	for path, item := range d.model.Paths.PathItems.FromOldest() {
		if item.Options == nil {
			t.Errorf("%s has no preflight (OPTIONS) of %s", d.opts.Name, path)
		}
	}
}

// Call is one request to send and the status it must get.
type Call struct {
	Method, Path, Token string
	// Body, when set, is sent as application/json unless Header names a Content-Type.
	Body   []byte
	Header []string // name, value, …
	Status int
	// ValidRequest says that the request itself follows the document, and is
	// validated against it too.
	ValidRequest bool
}

// Exchange is a request sent and its answer, with both bodies kept.
type Exchange struct {
	Req     *http.Request
	reqBody []byte
	Res     *http.Response
	Body    []byte // the answer's
}

// Run sends c to the API at base, fails the test unless the answer has c's status,
// and holds the exchange to the document (see Check).
func (d *Doc) Run(t testing.TB, base string, c Call) Exchange {
	t.Helper()
	x := send(t, base, c)
	if x.Res.StatusCode != c.Status {
		t.Errorf("%s %s: %d %s, want %d", c.Method, c.Path, x.Res.StatusCode, x.Body, c.Status)
	}
	d.Check(t, x, c.ValidRequest)
	return x
}

func send(t testing.TB, base string, c Call) Exchange {
	t.Helper()
	req, err := http.NewRequest(c.Method, base+c.Path, bytes.NewReader(c.Body))
	if err != nil {
		t.Fatal(err)
	}
	if c.Body == nil {
		req.Body = http.NoBody
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.Body != nil && !slices.Contains(c.Header, "Content-Type") {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(c.Header); i += 2 {
		req.Header.Set(c.Header[i], c.Header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.Method, c.Path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Exchange{Req: req, reqBody: c.Body, Res: res, Body: body}
}

// Check holds one exchange to the document: a documented operation's answer must be
// one of its documented responses, with a body and headers that match (and the
// request must match too when validRequest); a path the document does not name must
// be answered as Options.Unnamed says, an undocumented method on a documented path
// with the MethodNotAllowed response and an Allow header naming the documented ones
// (or NotFound under Options.CatchAll), and a HEAD with a status its GET documents and
// no body.
func (d *Doc) Check(t testing.TB, x Exchange, validRequest bool) {
	t.Helper()
	path := x.Req.URL.Path
	if prefix := d.opts.Prefix; !strings.HasPrefix(path, prefix+"/") && path != prefix {
		path = prefix + path
	}
	req := x.Req.Clone(context.Background())
	req.URL.Path, req.URL.RawPath = path, ""
	req.Body = io.NopCloser(bytes.NewReader(x.reqBody))
	res := *x.Res
	res.Body = io.NopCloser(bytes.NewReader(x.Body))
	name := fmt.Sprintf("%s %s → %d %s", x.Req.Method, x.Req.URL.RequestURI(), x.Res.StatusCode, x.Body)

	item, methods := d.pathItem(path)
	switch {
	case item == nil:
		component, ok := d.opts.Unnamed[res.StatusCode]
		if !ok {
			component = "NotFound"
		}
		d.checkComponent(t, name, component, &res, x.Body)
		if !ok {
			var want []string
			for _, s := range slices.Sorted(maps.Keys(d.opts.Unnamed)) {
				want = append(want, strconv.Itoa(s))
			}
			t.Errorf("%s: a path the document does not name must be %s", name, strings.Join(want, " or "))
		}
		return
	case x.Req.Method == http.MethodHead && item.Get != nil && !slices.Contains(methods, http.MethodHead):
		// HEAD is answered as GET, without the body: a status GET documents.
		if item.Get.Responses.Codes.GetOrZero(strconv.Itoa(res.StatusCode)) == nil {
			t.Errorf("%s: HEAD answered with a status the GET does not document", name)
		}
		if len(x.Body) != 0 {
			t.Errorf("%s: a HEAD answer with a body", name)
		}
		return
	case !slices.Contains(methods, x.Req.Method):
		if res.StatusCode == http.StatusNotFound && slices.ContainsFunc(d.opts.CatchAll, func(p string) bool { return strings.HasPrefix(path, p) }) {
			d.checkComponent(t, name, "NotFound", &res, x.Body)
			return
		}
		d.checkComponent(t, name, "MethodNotAllowed", &res, x.Body)
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: an undocumented method must be 405", name)
		}
		allow := strings.Split(strings.ReplaceAll(res.Header.Get("Allow"), " ", ""), ",")
		for _, m := range methods {
			if !slices.Contains(allow, m) {
				t.Errorf("%s: Allow %q does not name the documented %s", name, res.Header.Get("Allow"), m)
			}
		}
		if slices.Contains(allow, x.Req.Method) {
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
func report(t testing.TB, what string, errs []*liberrors.ValidationError) {
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
func (d *Doc) pathItem(path string) (*v3.PathItem, []string) {
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
func (d *Doc) checkComponent(t testing.TB, what, name string, res *http.Response, body []byte) {
	t.Helper()
	r := d.model.Components.Responses.GetOrZero(name)
	if r == nil {
		t.Fatalf("%s has no response %s", d.opts.Name, name)
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
