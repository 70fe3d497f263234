// Package telemetry gives every role its logs and traces: a log/slog handler (JSON or
// text) that adds the request id, video and job ids and the current span's trace and
// span ids to each record, and OpenTelemetry tracing exported over OTLP/HTTP when the
// standard OTEL_* variables name an endpoint, off (the no-op provider) otherwise.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Instrumentation is the name of VideoForge's tracer.
const Instrumentation = "github.com/videoforge/videoforge"

// enabled says whether a recording tracer provider is installed, so that hot paths
// (the edge's requests) skip even the no-op calls when tracing is off.
var enabled atomic.Bool

// Enabled reports whether traces are recorded: Start found an OTLP endpoint, or a test
// installed a provider with Install.
func Enabled() bool { return enabled.Load() }

// Tracer returns VideoForge's tracer from the global provider. It is looked up on each
// call, so that a provider installed later (Start, a test) is the one used.
func Tracer() trace.Tracer { return otel.GetTracerProvider().Tracer(Instrumentation) }

// Configured reports whether the environment asks for traces: an OTLP endpoint in
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT, and neither
// OTEL_SDK_DISABLED=true nor OTEL_TRACES_EXPORTER=none.
func Configured() bool {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	if e := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")); e != "" && !strings.EqualFold(e, "otlp") {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
}

// Start sets up tracing for a process from the standard OTEL_* variables: with an
// endpoint (Configured), spans go in batches (OTEL_BSP_*) to the OTLP/HTTP receiver
// there, sampled by OTEL_TRACES_SAMPLER, described by OTEL_SERVICE_NAME (default
// service) and OTEL_RESOURCE_ATTRIBUTES, and the W3C trace context propagates through
// HTTP headers, NATS headers and SQS message attributes. Without one it installs
// nothing, starts nothing and returns a shutdown that does nothing.
//
// The returned shutdown flushes the spans still buffered, within its context, and
// uninstalls the provider.
func Start(ctx context.Context, service string) (shutdown func(context.Context) error, err error) {
	if !Configured() {
		return func(context.Context) error { return nil }, nil
	}
	if p := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"); p != "" && p != "http/protobuf" {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=%q: only http/protobuf is supported", p)
	} else if p := os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"); p != "" && p != "http/protobuf" {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: only http/protobuf is supported", p)
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP exporter: %w", err)
	}
	// Later detectors win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES over the default.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithTelemetrySDK(), resource.WithHost(), resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	restore := Install(tp)
	return func(ctx context.Context) error {
		restore()
		if err := tp.Shutdown(ctx); err != nil {
			return fmt.Errorf("telemetry: flush spans: %w", err)
		}
		return nil
	}, nil
}

// Install makes tp the global tracer provider, with the W3C trace context propagator,
// and returns what puts the no-op provider back. Start uses it; so do tests, with
// the SDK's in-memory recorder.
func Install(tp trace.TracerProvider) (restore func()) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	enabled.Store(true)
	return func() {
		enabled.Store(false)
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	}
}

// Inject writes ctx's trace context into carrier (HTTP or NATS headers, SQS message
// attributes). It writes nothing when tracing is off.
func Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	if Enabled() {
		otel.GetTextMapPropagator().Inject(ctx, carrier)
	}
}

// Extract returns ctx with the remote trace context carrier holds as its parent.
func Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	if !Enabled() {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, carrier)
}

// TraceParent returns ctx's trace context as a W3C traceparent value, "" when ctx
// has no valid span (or tracing is off): what an outbox row stores.
func TraceParent(ctx context.Context) string {
	if !Enabled() || !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, c)
	return c.Get("traceparent")
}

// WithTraceParent returns ctx with the remote span a traceparent value names as its
// parent; ctx as it is when the value is empty or invalid.
func WithTraceParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// Fail records err on span and marks it failed; a nil err changes nothing.
func Fail(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
}
