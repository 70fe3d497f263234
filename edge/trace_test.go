package edge

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/videoforge/videoforge/telemetry"
	"github.com/videoforge/videoforge/telemetry/telemetrytest"
)

// TestServerSpan: with tracing on, a request gets a server span named by its route, a
// child of the trace context its client sent, and its X-Request-Id back; with tracing
// off, it gets neither (the hot path stays as it was).
func TestServerSpan(t *testing.T) {
	e, err := New(Config{BaseURL: "https://cdn.example", TokenKey: []byte("test key, at least 32 bytes long....")}, nil, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	request := func(header ...string) *fasthttp.RequestCtx {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/api/stream/health")
		ctx.Request.Header.SetMethod("GET")
		for i := 0; i+1 < len(header); i += 2 {
			ctx.Request.Header.Set(header[i], header[i+1])
		}
		e.Handle(&ctx)
		return &ctx
	}
	if c := request(); len(c.Response.Header.Peek(telemetry.RequestIDHeader)) != 0 {
		t.Errorf("tracing off: X-Request-Id %q sent", c.Response.Header.Peek(telemetry.RequestIDHeader))
	}

	rec := telemetrytest.Record(t)
	cctx, client := telemetry.Tracer().Start(context.Background(), "client")
	tp := telemetry.TraceParent(cctx)
	client.End()
	c := request("traceparent", tp, telemetry.RequestIDHeader, "edge-req-1")
	if got := string(c.Response.Header.Peek(telemetry.RequestIDHeader)); got != "edge-req-1" {
		t.Errorf("X-Request-Id %q, want the client's", got)
	}
	srv := rec.Wait(t, "GET /api/stream/health", 0)
	telemetrytest.ChildOf(t, srv, rec.Wait(t, "client", 0))
}
