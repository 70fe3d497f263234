package edge

import (
	"bytes"
	"context"

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
	// Only an upload's PUT may take long to read, and only the media objects long to
	// write; every other request keeps the listener's bounds and a small body.
	upload := fasthttp.RequestConfig{ReadTimeout: e.cfg.UploadTimeout}
	media := fasthttp.RequestConfig{WriteTimeout: e.cfg.MediaTimeout, MaxRequestBodySize: smallBody}
	other := fasthttp.RequestConfig{MaxRequestBodySize: smallBody}
	e.server.HeaderReceived = func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
		uri := h.RequestURI()
		switch {
		case h.IsPut() && bytes.HasPrefix(uri, prefixUploads):
			return upload
		case bytes.HasPrefix(uri, prefixVideos) || bytes.HasPrefix(uri, prefixToken):
			return media
		}
		return other
	}
}

// smallBody bounds the body of every request but an upload's.
const smallBody = 64 << 10

var (
	prefixUploads = []byte("/uploads/")
	prefixVideos  = []byte("/videos/")
	prefixToken   = []byte("/t/")
)

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
