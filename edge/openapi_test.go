package edge_test

import (
	"bytes"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/edge"
	"github.com/videoforge/videoforge/internal/openapitest"
)

// loadOpenAPI is the streaming API's document: a path it does not name is answered
// 404, or 400 for an id that is none.
func loadOpenAPI(t *testing.T) *openapitest.Doc {
	t.Helper()
	return openapitest.Load(t, edge.OpenAPI(), openapitest.Options{
		Name:    "edge/openapi.json",
		Prefix:  edge.Prefix,
		Unnamed: map[int]string{http.StatusNotFound: "NotFound", http.StatusBadRequest: "BadRequest"},
	})
}

// TestOpenAPIDocument: the embedded document is valid OpenAPI 3.1 (against the
// specification's own schema) and every reference in it resolves.
func TestOpenAPIDocument(t *testing.T) {
	loadOpenAPI(t).CheckDocument(t)
}

// TestOpenAPIRoutes: every route of edge.Routes is an operation of the document, and
// every operation is one of them or the CORS preflight (OPTIONS), which every path
// of the document has.
func TestOpenAPIRoutes(t *testing.T) {
	var routes []string
	for _, r := range edge.Routes {
		routes = append(routes, r.Method+" "+edge.Prefix+r.Path)
	}
	loadOpenAPI(t).CheckRoutes(t, routes, "edge.Routes")
}

// TestOpenAPIResponses: the answers of real edges over loopback, successes and errors
// of every route, are what the document says.
func TestOpenAPIResponses(t *testing.T) {
	d := loadOpenAPI(t)
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
	preflight := []string{"Origin", "https://app.example", "Access-Control-Request-Method", "GET"}
	for _, c := range []openapitest.Call{
		{Method: "GET", Path: "/api/stream/health", Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/health", Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/stream/" + id(pub), Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/stream/" + id(pub) + "/qualities", Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/stream/" + id(pub) + "/thumbnail", Status: 200, ValidRequest: true},
		{Method: "HEAD", Path: "/api/stream/" + id(pub), Status: 200},
		{Method: "HEAD", Path: "/api/stream/" + id(busy) + "/qualities", Status: 409},
		{Method: "GET", Path: "/" + id(pub) + "/qualities", Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/stream/" + id(unl) + keyOf(unl), Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/stream/" + id(unl) + "/qualities" + keyOf(unl), Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/stream/" + id(unl) + "/thumbnail" + keyOf(unl), Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/stream/" + id(priv), Token: alice, Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/stream/" + id(priv) + "/qualities", Token: alice, Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/stream/" + id(priv) + "/thumbnail", Token: alice, Status: 200, ValidRequest: true},
		{Method: "GET", Path: "/api/stream/" + id(unl), Status: 404},
		{Method: "GET", Path: "/api/stream/" + id(unl) + "/qualities?key=wrong", Status: 404},
		{Method: "GET", Path: "/api/stream/" + id(priv), Status: 404},
		{Method: "GET", Path: "/api/stream/" + id(priv) + "/thumbnail", Token: bob, Status: 404},
		{Method: "GET", Path: "/api/stream/" + id(priv), Token: "not-a-token", Status: 404},
		{Method: "GET", Path: "/api/stream/" + id(unready), Status: 404},
		{Method: "GET", Path: "/api/stream/987654321", Status: 404},
		{Method: "GET", Path: "/api/stream/987654321/qualities", Status: 404},
		{Method: "GET", Path: "/api/stream/" + id(busy), Status: 409},
		{Method: "GET", Path: "/api/stream/" + id(busy) + "/qualities", Status: 409},
		{Method: "GET", Path: "/api/stream/" + id(busy) + "/thumbnail", Status: 409},
		{Method: "GET", Path: "/api/stream/" + id(unready) + keyOf(unready), Status: 409},
		{Method: "GET", Path: "/api/stream/abc", Status: 400},
		{Method: "GET", Path: "/api/stream/007/qualities", Status: 400},
		{Method: "GET", Path: "/api/stream/1234567890123456789/thumbnail", Status: 400},
		{Method: "OPTIONS", Path: "/api/stream/" + id(pub), Header: preflight, Status: 204, ValidRequest: true},
		{Method: "OPTIONS", Path: "/api/stream/" + id(pub) + "/qualities", Header: preflight, Status: 204, ValidRequest: true},
		{Method: "OPTIONS", Path: "/api/stream/" + id(pub) + "/thumbnail", Header: preflight, Status: 204, ValidRequest: true},
		{Method: "OPTIONS", Path: "/api/stream/health", Header: preflight, Status: 204, ValidRequest: true},
		{Method: "OPTIONS", Path: "/api/stream/openapi.json", Header: preflight, Status: 204, ValidRequest: true},
		// Methods and paths the API does not have.
		{Method: "POST", Path: "/api/stream/" + id(pub), Status: 405},
		{Method: "DELETE", Path: "/api/stream/health", Status: 405},
		{Method: "PUT", Path: "/" + id(pub) + "/thumbnail", Status: 405},
		{Method: "GET", Path: "/api/stream", Status: 404},
		{Method: "GET", Path: "/api/stream/" + id(pub) + "/storyboard", Status: 400},
	} {
		d.Run(t, e.url, c)
	}

	// The document itself, as served.
	for _, p := range []string{"/api/stream/openapi.json", "/openapi.json"} {
		x := d.Run(t, e.url, openapitest.Call{Method: "GET", Path: p, Status: 200, ValidRequest: true})
		if !bytes.Equal(x.Body, edge.OpenAPI()) || x.Res.Header.Get("Content-Type") != "application/json" || x.Res.Header.Get("Cache-Control") == "" {
			t.Errorf("GET %s: %s, %d bytes", p, x.Res.Header, len(x.Body))
		}
	}

	// Misses beyond a client's budget are 429 with Retry-After.
	limited := startEdge(t, edgeCatalog(t, dsn), "", nil, func(c *edge.Config) { c.MissRate, c.MissBurst = 0.01, 1 })
	d.Run(t, limited.url, openapitest.Call{Method: "GET", Path: "/api/stream/987654321", Status: 404})
	d.Run(t, limited.url, openapitest.Call{Method: "GET", Path: "/api/stream/987654322/qualities", Status: 429})
	d.Run(t, limited.url, openapitest.Call{Method: "GET", Path: "/api/stream/" + id(pub), Status: 200, ValidRequest: true})

	// With PostgreSQL down, a video not held is 503 with Retry-After.
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, u.Host)
	u.Host = px.addr()
	down := startEdge(t, edgeCatalog(t, u.String()), "", nil, nil)
	px.cut()
	d.Run(t, down.url, openapitest.Call{Method: "GET", Path: "/api/stream/987654321/thumbnail", Status: 503})
	d.Run(t, down.url, openapitest.Call{Method: "GET", Path: "/api/stream/" + id(pub) + "/thumbnail", Status: 200, ValidRequest: true})
}
