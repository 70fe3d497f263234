package edge

import "github.com/valyala/fasthttp"

// SetMediaExpect makes the edge ask check first whether a request that sent Expect:
// 100-continue may send its body, before the size check SetMedia installs: the media
// server then refuses an upload it would refuse anyway (a bad or expired token, a job
// already completed) before the client sends the file. check returns
// fasthttp.StatusContinue to let the body come, or the status of the error it wrote
// into the response. Call after SetMedia and before Run.
func (e *Edge) SetMediaExpect(check func(ctx *fasthttp.RequestCtx) int) {
	size := e.server.ExpectHandler
	e.server.ExpectHandler = func(ctx *fasthttp.RequestCtx) int {
		if status := check(ctx); status != fasthttp.StatusContinue {
			return status
		}
		if size != nil {
			return size(ctx)
		}
		return fasthttp.StatusContinue
	}
}
