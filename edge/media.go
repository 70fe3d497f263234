package edge

import (
	"context"
	"time"

	"github.com/valyala/fasthttp"
)

// SetMedia makes the edge hand the requests that h claims (it returns true) to h
// before its own routes: the embedded media server. The server then streams request
// bodies of up to maxBody bytes (uploads) instead of buffering them. Call before Run.
func (e *Edge) SetMedia(h func(ctx *fasthttp.RequestCtx) bool, maxBody int64) {
	e.media = h
	e.server.StreamRequestBody = true
	if maxBody <= 0 || maxBody > 1<<40 {
		maxBody = 1 << 40
	}
	e.server.MaxRequestBodySize = int(maxBody)
	// A client that asks first (Expect: 100-continue, as curl and the upload command
	// do) learns of a body over the limit before sending it, instead of having its
	// connection cut mid-body.
	e.server.ExpectHandler = func(ctx *fasthttp.RequestCtx) int {
		if int64(ctx.Request.Header.ContentLength()) > maxBody {
			return fasthttp.StatusRequestEntityTooLarge
		}
		return fasthttp.StatusContinue
	}
	e.server.ReadTimeout = time.Hour // an upload's body is read within the request
	e.server.WriteTimeout = 10 * time.Minute
}

// PublicVideo reports whether a video may be played without a token: it is public.
// It is ENOTFOUND when the video does not exist, for the media server.
func (e *Edge) PublicVideo(ctx context.Context, id int64) (bool, error) {
	v, hit := e.cache.Get(id)
	if !hit {
		if _, unknown := e.neg.Get(id); unknown {
			return false, errNotFound
		}
		var err error
		if v, err = e.miss(ctx, id); err != nil {
			return false, err
		}
	}
	if v.notFound {
		return false, errNotFound
	}
	return v.vis == visPublic, nil
}
