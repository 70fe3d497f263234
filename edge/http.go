package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/telemetry"
)

// Prefix is the path prefix of the streaming API. Every route is also answered with it
// stripped, as API Gateway forwards them.
const Prefix = "/api/stream"

// Routes lists the streaming API, for documentation and for checking that the load
// balancer or API Gateway in deploy/terraform routes exactly these.
var Routes = []videoforge.Route{
	{Method: "GET", Path: "/health"},
	{Method: "GET", Path: "/{videoId}"},
	{Method: "GET", Path: "/{videoId}/qualities"},
	{Method: "GET", Path: "/{videoId}/thumbnail"},
	{Method: "GET", Path: "/openapi.json"},
}

// Route indexes, for per-route metrics without label look-ups on the hot path.
const (
	routeHealth = iota
	routeStream
	routeQualities
	routeThumbnail
	routeOpenAPI
	routeOther
	numRoutes
)

var routeNames = [numRoutes]string{"/health", "/{videoId}", "/{videoId}/qualities", "/{videoId}/thumbnail", "/openapi.json", "other"}

var (
	contentJSON   = []byte("application/json; charset=utf-8")
	prefixBytes   = []byte(Prefix)
	suffixQuality = []byte("/qualities")
	suffixThumb   = []byte("/thumbnail")
	headerAllow   = []byte("Allow")
)

// Handle answers one request. Hits on public and unlisted videos write cached bytes
// and allocate nothing.
//
// With tracing on (telemetry.Enabled), each request also gets a server span; with it
// off, that costs one atomic load.
func (e *Edge) Handle(ctx *fasthttp.RequestCtx) {
	if telemetry.Enabled() {
		e.handleTraced(ctx)
		return
	}
	e.handle(ctx)
}

// handle answers one request and returns its route (routeOther for those outside the
// streaming API).
func (e *Edge) handle(ctx *fasthttp.RequestCtx) int {
	start := time.Now()
	path := ctx.Path()
	switch string(path) { // no allocation: the compiler compares in place
	case "/metrics":
		e.metrics.handler(ctx)
		return routeOther
	case "/ready":
		e.readiness(ctx)
		return routeOther
	}
	if e.media != nil && e.media(ctx) {
		return routeOther
	}
	path, _ = bytes.CutPrefix(path, prefixBytes)
	route := routeOther
	if ctx.IsOptions() {
		e.cors.preflight(ctx)
		e.metrics.observe(route, ctx.Response.StatusCode(), start)
		return route
	}
	e.cors.allow(ctx)
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.SetBytesKV(headerAllow, valueMethods)
		e.fail(ctx, route, videoforge.Errorf(videoforge.EINVALID, "only GET, HEAD and OPTIONS are answered"), fasthttp.StatusMethodNotAllowed)
	} else if string(path) == "/health" {
		route = routeHealth
		e.health(ctx)
	} else if string(path) == "/openapi.json" {
		route = routeOpenAPI
		serveOpenAPI(ctx)
	} else {
		route = e.video(ctx, path)
	}
	e.metrics.observe(route, ctx.Response.StatusCode(), start)
	return route
}

// video answers /{id}, /{id}/qualities and /{id}/thumbnail and returns the route.
func (e *Edge) video(ctx *fasthttp.RequestCtx, path []byte) int {
	route := routeStream
	if p, ok := bytes.CutSuffix(path, suffixQuality); ok {
		route, path = routeQualities, p
	} else if p, ok := bytes.CutSuffix(path, suffixThumb); ok {
		route, path = routeThumbnail, p
	}
	if len(path) < 2 || path[0] != '/' {
		e.fail(ctx, routeOther, videoforge.Errorf(videoforge.ENOTFOUND, "no such route"), 0)
		return routeOther
	}
	id, ok := parseID(path[1:])
	if !ok {
		e.fail(ctx, route, errBadID, 0)
		return route
	}
	v, hit := e.cache.Get(id)
	if hit {
		e.metrics.hits.Inc()
	} else {
		e.metrics.misses.Inc()
		if _, unknown := e.neg.Get(id); unknown {
			e.fail(ctx, route, errNotFound, 0)
			return route
		}
		if !e.limiter.allow(e.clientAddr(ctx), time.Now()) {
			e.metrics.limited.Inc()
			e.fail(ctx, route, errTooManyMisses, 0)
			return route
		}
		var err error
		if v, err = e.miss(ctx, id); err != nil {
			e.fail(ctx, route, err, 0)
			return route
		}
	}
	switch {
	case v.notFound:
		e.fail(ctx, route, errNotFound, 0)
		return route
	case v.vis == visUnlisted && !sameKey(ctx.QueryArgs().Peek("key"), v.shareKey):
		// An unlisted video is streamed by its share key: the id alone, which anybody
		// can count to, finds nothing, as for a missing one.
		e.fail(ctx, route, errNotFound, 0)
		return route
	case !v.ready && v.vis != visPrivate:
		e.fail(ctx, route, errNotReady, 0)
		return route
	}
	var ans *answers
	switch {
	case v.vis == visPublic && !e.cfg.SignPublic:
		if ans = v.ans.Load(); ans == nil {
			ans = v.build(e.cfg.BaseURL, nil, 0)
			v.ans.Store(ans) // racing builders store equal answers
		}
	case v.vis == visPublic || v.vis == visUnlisted:
		w := window(time.Now(), e.cfg.TokenTTL)
		if ans = v.ans.Load(); ans == nil || ans.window != w {
			ans = v.build(e.cfg.BaseURL, e.cfg.TokenKey, w)
			v.ans.Store(ans)
		}
	default:
		// Private: only the owner, with a fresh token each time.
		if err := e.owner(ctx, v); err != nil {
			e.fail(ctx, route, err, 0)
			return route
		}
		if !v.ready {
			e.fail(ctx, route, errNotReady, 0)
			return route
		}
		ans = v.build(e.cfg.BaseURL, e.cfg.TokenKey, window(time.Now(), e.cfg.TokenTTL))
	}
	var body []byte
	switch route {
	case routeStream:
		body = ans.stream
		if !ctx.IsHead() { // a HEAD plays nothing
			e.views.count(v)
		}
	case routeQualities:
		body = ans.qualities
	default:
		body = ans.thumbnail
	}
	ctx.Response.Header.SetContentTypeBytes(contentJSON)
	ctx.Response.SetBodyRaw(body)
	return route
}

var (
	errBadID    = videoforge.Errorf(videoforge.EINVALID, "videoId must be a positive integer")
	errNotFound = videoforge.Errorf(videoforge.ENOTFOUND, "video not found")
	errNotReady = videoforge.Errorf(videoforge.ECONFLICT, "video is not ready for streaming yet")

	errTooManyMisses = videoforge.Errorf(videoforge.ERATELIMIT, "too many look-ups of unknown videos; slow down")
)

// owner checks that the caller's Bearer token belongs to v's owner; anybody else is
// told the video does not exist. A missing, malformed, expired or otherwise refused
// token, and a verifier that cannot answer, all make the caller anonymous: a 401 (or
// 503) here, where only a private video's id leads, would tell an existing private
// video from a missing id, which is 404 whatever the token.
func (e *Edge) owner(ctx *fasthttp.RequestCtx, v *video) error {
	if e.verifier == nil {
		return errNotFound
	}
	token, ok, err := auth.BearerToken(string(ctx.Request.Header.Peek("Authorization")))
	if err != nil || !ok {
		return errNotFound
	}
	vctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	user, err := e.verifier.Verify(vctx, token)
	if err != nil {
		if videoforge.ErrorCode(err) != videoforge.EUNAUTHORIZED {
			e.log.Warn("token not verified; the caller is anonymous", "err", err)
		}
		return errNotFound
	}
	if user.ID != v.owner {
		return errNotFound
	}
	return nil
}

// miss reads a video that is not held, once for all concurrent callers, and hands it
// to the applier.
func (e *Edge) miss(_ context.Context, id int64) (*video, error) {
	r, err, _ := e.flight.Do(strconv.FormatInt(id, 10), func() (any, error) {
		qctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		e.metrics.reads.Inc()
		vs, err := e.store.byIDs(qctx, newInterner(), []int64{id})
		if err != nil {
			return nil, unavailable(err)
		}
		c := change{notFound: id}
		v := &video{id: id, notFound: true}
		if len(vs) == 1 {
			v = vs[0]
			c = change{videos: vs}
		}
		select {
		case e.applier.mailbox <- c: // a cache fill; dropped when the applier is busy
		default:
		}
		return v, nil
	})
	if err != nil {
		return nil, err
	}
	return r.(*video), nil
}

func parseID(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 || b[0] == '0' {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func (e *Edge) health(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, fasthttp.StatusOK, struct {
		Status    string `json:"status"`
		Service   string `json:"service"`
		Runtime   string `json:"runtime"`
		Timestamp string `json:"timestamp"`
	}{"ok", "streaming-service", e.cfg.Runtime, time.Now().UTC().Format(time.RFC3339)})
}

func (e *Edge) readiness(ctx *fasthttp.RequestCtx) {
	if !e.ready.Load() {
		e.fail(ctx, routeOther, videoforge.Errorf(videoforge.EUNAVAILABLE, "not ready: loading the catalog"), 0)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]string{"status": "ready"})
}

// fail writes the error body; status 0 means the one the error's code maps to.
func (e *Edge) fail(ctx *fasthttp.RequestCtx, route int, err error, status int) {
	code := videoforge.ErrorCode(err)
	if status == 0 {
		status = videoforge.HTTPStatus(code)
	}
	switch code {
	case videoforge.EUNAVAILABLE:
		ctx.Response.Header.Set("Retry-After", "2")
		e.log.WarnContext(requestContext(ctx), "edge request failed", "path", string(ctx.Path()), "err", err)
	case videoforge.EINTERNAL:
		e.log.ErrorContext(requestContext(ctx), "edge request failed", "path", string(ctx.Path()), "err", err)
	case videoforge.ERATELIMIT:
		ctx.Response.Header.Set("Retry-After", e.retryAfter)
	case videoforge.EUNAUTHORIZED:
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="videoforge"`)
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = code, videoforge.ErrorMessage(err)
	writeJSON(ctx, status, body)
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = fasthttp.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentTypeBytes(contentJSON)
	ctx.SetBody(b)
}
