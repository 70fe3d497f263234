package edge

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// cors answers browsers on other origins: the allowed origin on every answer of the
// streaming API, and the preflight of its requests. It allocates nothing per request.
type cors struct {
	any     bool
	origins [][]byte
}

var (
	headerOrigin        = []byte("Origin")
	headerVary          = []byte("Vary")
	headerAllowOrigin   = []byte("Access-Control-Allow-Origin")
	headerAllowMethods  = []byte("Access-Control-Allow-Methods")
	headerAllowHeaders  = []byte("Access-Control-Allow-Headers")
	headerExposeHeaders = []byte("Access-Control-Expose-Headers")
	headerMaxAge        = []byte("Access-Control-Max-Age")
	valueStar           = []byte("*")
	valueOrigin         = []byte("Origin")
	valueMethods        = []byte("GET, HEAD, OPTIONS")
	valueHeaders        = []byte("Authorization")
	valueExpose         = []byte("Retry-After")
	valueMaxAge         = []byte("600")
)

func newCORS(origins []string) *cors {
	c := &cors{}
	for _, o := range origins {
		if o == "*" {
			c.any = true
		}
		c.origins = append(c.origins, []byte(o))
	}
	return c
}

// allow sets the answer's CORS headers for the request's Origin.
func (c *cors) allow(ctx *fasthttp.RequestCtx) {
	if c.any {
		ctx.Response.Header.SetBytesKV(headerAllowOrigin, valueStar)
		ctx.Response.Header.SetBytesKV(headerExposeHeaders, valueExpose)
		return
	}
	ctx.Response.Header.SetBytesKV(headerVary, valueOrigin) // caches keep one answer per origin
	origin := ctx.Request.Header.PeekBytes(headerOrigin)
	if len(origin) == 0 {
		return
	}
	for _, o := range c.origins {
		if bytes.Equal(o, origin) {
			ctx.Response.Header.SetBytesKV(headerAllowOrigin, o)
			ctx.Response.Header.SetBytesKV(headerExposeHeaders, valueExpose)
			return
		}
	}
}

// preflight answers an OPTIONS request: 204 with the methods and headers allowed.
func (c *cors) preflight(ctx *fasthttp.RequestCtx) {
	c.allow(ctx)
	ctx.Response.Header.SetBytesKV(headerAllowMethods, valueMethods)
	ctx.Response.Header.SetBytesKV(headerAllowHeaders, valueHeaders)
	ctx.Response.Header.SetBytesKV(headerMaxAge, valueMaxAge)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}
