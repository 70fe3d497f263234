package edge

import (
	"context"
	"log/slog"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/videoforge/videoforge/telemetry"
)

// spanContextKey is the user value under which a traced request keeps its context.
const spanContextKey = "videoforge.trace"

// handleTraced answers a request inside a server span, a child of the trace context
// in its headers, named by its route ("GET /api/stream/{videoId}/qualities"). Its
// request id (the client's X-Request-Id when sane, else a new one) is sent back and is
// an attribute of the span.
func (e *Edge) handleTraced(rc *fasthttp.RequestCtx) {
	method := string(rc.Method())
	id := telemetry.RequestID(string(rc.Request.Header.Peek(telemetry.RequestIDHeader)))
	rc.Response.Header.Set(telemetry.RequestIDHeader, id)
	ctx := telemetry.Extract(context.Background(), requestCarrier{&rc.Request.Header})
	ctx = telemetry.WithLogAttrs(ctx, slog.String(telemetry.RequestIDKey, id))
	ctx, span := telemetry.Tracer().Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("http.request.method", method), attribute.String("url.path", string(rc.Path())),
		attribute.String(telemetry.RequestIDKey, id)))
	defer span.End()
	rc.SetUserValue(spanContextKey, ctx)
	route := e.handle(rc)
	if route != routeOther {
		span.SetName(method + " " + Prefix + routeNames[route])
		span.SetAttributes(attribute.String("http.route", Prefix+routeNames[route]))
	}
	status := rc.Response.StatusCode()
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, fasthttp.StatusMessage(status))
	}
}

// requestContext is the context to log a request's failure with: the traced
// request's (its span and request id), or, untraced, one with the request's id, which
// is then sent back in X-Request-Id. Only failures pay for it.
func requestContext(rc *fasthttp.RequestCtx) context.Context {
	if ctx, ok := rc.UserValue(spanContextKey).(context.Context); ok {
		return ctx
	}
	id := telemetry.RequestID(string(rc.Request.Header.Peek(telemetry.RequestIDHeader)))
	rc.Response.Header.Set(telemetry.RequestIDHeader, id)
	return telemetry.WithLogAttrs(context.Background(), slog.String(telemetry.RequestIDKey, id))
}

// requestCarrier reads a trace context from a fasthttp request's headers.
type requestCarrier struct{ h *fasthttp.RequestHeader }

func (c requestCarrier) Get(key string) string { return string(c.h.Peek(key)) }
func (c requestCarrier) Set(key, value string) { c.h.Set(key, value) }
func (c requestCarrier) Keys() []string {
	var keys []string
	for k := range c.h.All() {
		keys = append(keys, string(k))
	}
	return keys
}
