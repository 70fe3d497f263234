package videoforge

// Route is one method and path of an HTTP API, relative to the API's prefix: the
// gallery's (catalog.Routes), the stream API's (edge.Routes) and the tus endpoint's
// (tus.Routes), listed for mounting and for the test that holds API Gateway to them.
type Route struct {
	Method, Path string
}
