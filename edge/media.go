package edge

import (
	"bytes"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/media"
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
	prefixUploads = []byte(layout.UploadsPath)
	prefixVideos  = []byte(layout.VideosPath)
	prefixToken   = []byte("/t/")
)

// MediaAccess tells the media server how a video may be played: without a token when
// it is public, and with tokens of which generation. It is ENOTFOUND when the video
// does not exist, and it answers from what the edge holds, so that a video made
// private or deleted stops playing for every token holder as soon as the edge knows
// (within EDGE_STALENESS, milliseconds through the bus). Unknown ids cost a read of
// PostgreSQL within the same per-client budget as the edge's own misses.
func (e *Edge) MediaAccess(ctx *fasthttp.RequestCtx, id int64) (media.Access, error) {
	v, hit := e.cache.Get(id)
	if !hit {
		if _, unknown := e.neg.Get(id); unknown {
			return media.Access{}, errNotFound
		}
		if !e.limiter.allow(e.clientAddr(ctx), time.Now()) {
			e.metrics.limited.Inc()
			return media.Access{}, errTooManyMisses
		}
		var err error
		if v, err = e.miss(ctx, id); err != nil {
			return media.Access{}, err
		}
	}
	if v.notFound {
		return media.Access{}, errNotFound
	}
	return media.Access{Public: v.vis == visPublic, TokenGen: v.gen}, nil
}
