// Package fasterr writes errors as the fasthttp servers (the media server and its
// upload PUTs) answer them: the error code's status and a JSON error body.
package fasterr

import (
	"encoding/json"

	"github.com/valyala/fasthttp"

	"github.com/videoforge/videoforge"
)

// Write answers err with status (the error code's when 0) and a JSON error body,
// never cached; 429 and 503 say when to come back.
func Write(ctx *fasthttp.RequestCtx, err error, status int) {
	if status == 0 {
		status = videoforge.HTTPStatus(videoforge.ErrorCode(err))
	}
	ctx.Response.Header.Del("Cache-Control")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	if status == fasthttp.StatusTooManyRequests || status == fasthttp.StatusServiceUnavailable {
		ctx.Response.Header.Set("Retry-After", "1")
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json; charset=utf-8")
	msg, _ := json.Marshal(videoforge.ErrorMessage(err))
	ctx.SetBodyString(`{"error":{"code":"` + videoforge.ErrorCode(err) + `","message":` + string(msg) + `}}`)
}
