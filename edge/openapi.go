package edge

import (
	_ "embed"
	"slices"

	"github.com/valyala/fasthttp"
)

// openAPI is the OpenAPI 3.1 description of the streaming API, written by hand next
// to the handlers it describes and held to them by openapi_test.go.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 document of the streaming API, which the edge serves
// at /openapi.json (under Prefix and without it).
func OpenAPI() []byte { return slices.Clone(openAPI) }

var (
	contentOpenAPI     = []byte("application/json")
	headerCacheControl = []byte("Cache-Control")
	// The document changes only with a release; an hour keeps browsers and CDNs
	// from asking for it on every page load.
	valueOpenAPICache = []byte("public, max-age=3600")
)

// serveOpenAPI answers GET /openapi.json with the embedded bytes, allocating nothing.
func serveOpenAPI(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentTypeBytes(contentOpenAPI)
	ctx.Response.Header.SetBytesKV(headerCacheControl, valueOpenAPICache)
	ctx.Response.SetBodyRaw(openAPI)
}
