package catalog

import (
	_ "embed"
	"net/http"
	"slices"
	"strconv"
)

// openAPI is the OpenAPI 3.1 description of the gallery API and its tus endpoint,
// written by hand next to the handlers it describes and held to them by
// openapi_test.go.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 document of the gallery API, which the server serves
// at /openapi.json (under Prefix and without it).
func OpenAPI() []byte { return slices.Clone(openAPI) }

var openAPILength = strconv.Itoa(len(openAPI))

// serveOpenAPI answers GET /openapi.json with the embedded document. It changes only
// with a release, so browsers and CDNs may keep it for an hour.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("Content-Length", openAPILength)
	w.WriteHeader(http.StatusOK)
	w.Write(openAPI)
}
