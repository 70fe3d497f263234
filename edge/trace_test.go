package edge

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/valyala/fasthttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

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

// BenchmarkHitTraced is BenchmarkHit's public stream hit with tracing on: every
// request sampled and its span batched to an exporter that drops it, the cost an
// operator pays for turning OTEL_EXPORTER_OTLP_ENDPOINT on (off, BenchmarkHit's
// numbers stand).
func BenchmarkHitTraced(b *testing.B) {
	e, err := New(Config{BaseURL: "https://cdn.example", TokenKey: []byte("benchmark key, at least 32 bytes long")}, nil, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go e.applier.run(stop)
	done := make(chan struct{})
	e.applier.mailbox <- change{videos: []*video{{id: 42, version: 1, vis: visPublic, ready: true,
		ladder: []rendition{{name: "720p", rel: "hls/720p/index.m3u8", width: 1280, height: 720, bandwidth: 28e5}}}}, done: done}
	<-done
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	restore := telemetry.Install(tp)
	defer func() {
		restore()
		tp.Shutdown(context.Background())
	}()
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/api/stream/42")
	ctx.Request.Header.SetMethod("GET")
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		e.Handle(&ctx)
	}
	if ctx.Response.StatusCode() != 200 {
		b.Fatal(ctx.Response.StatusCode())
	}
}
