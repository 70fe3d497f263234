package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/videoforge/videoforge/telemetry"
	"github.com/videoforge/videoforge/telemetry/telemetrytest"
)

// TestJSONLogsCarryTheSpan: a record logged with a span's context carries its trace and
// span ids and the context's fields; one logged without a context carries neither.
func TestJSONLogsCarryTheSpan(t *testing.T) {
	rec := telemetrytest.Record(t)
	var buf bytes.Buffer
	log, err := telemetry.NewLogger(&buf, telemetry.FormatJSON, slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := telemetry.Tracer().Start(context.Background(), "work")
	ctx = telemetry.WithLogAttrs(ctx, slog.String(telemetry.RequestIDKey, "r1"), slog.Int64(telemetry.VideoIDKey, 7))
	log.InfoContext(ctx, "inside", "k", "v")
	log.Info("outside")
	span.End()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", buf.String())
	}
	var in, out map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &out); err != nil {
		t.Fatal(err)
	}
	got := rec.Wait(t, "work", 0).SpanContext()
	if in["trace_id"] != got.TraceID().String() || in["span_id"] != got.SpanID().String() {
		t.Errorf("inside: trace_id %v span_id %v, want the span's %s %s", in["trace_id"], in["span_id"], got.TraceID(), got.SpanID())
	}
	if in["request_id"] != "r1" || in["video_id"] != float64(7) || in["k"] != "v" || in["msg"] != "inside" {
		t.Errorf("inside: %v", in)
	}
	if _, ok := out["trace_id"]; ok {
		t.Errorf("outside carries a trace id: %v", out)
	}
}

// TestOffWithoutEndpoint: with no OTLP endpoint, Start installs nothing: spans are
// no-ops, nothing propagates.
func TestOffWithoutEndpoint(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	otel.SetTracerProvider(noop.NewTracerProvider())
	shutdown, err := telemetry.Start(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())
	if telemetry.Enabled() {
		t.Fatal("tracing is on without an endpoint")
	}
	ctx, span := telemetry.Tracer().Start(context.Background(), "x")
	defer span.End()
	if span.IsRecording() || telemetry.TraceParent(ctx) != "" {
		t.Fatal("a span recorded, or a trace context propagated, with tracing off")
	}
}

// TestTraceParentRoundTrip: the traceparent an outbox row stores makes the relay's
// span a child of the request's.
func TestTraceParentRoundTrip(t *testing.T) {
	rec := telemetrytest.Record(t)
	ctx, parent := telemetry.Tracer().Start(context.Background(), "request")
	tp := telemetry.TraceParent(ctx)
	parent.End()
	if !strings.HasPrefix(tp, "00-") {
		t.Fatalf("traceparent %q", tp)
	}
	_, child := telemetry.Tracer().Start(telemetry.WithTraceParent(context.Background(), tp), "publish")
	child.End()
	telemetrytest.ChildOf(t, rec.Wait(t, "publish", 0), rec.Wait(t, "request", 0))
}

func TestRequestID(t *testing.T) {
	for _, tc := range []struct {
		sent string
		kept bool
	}{{"abc-123", true}, {"a:b.c_d", true}, {"", false}, {"has space", false}, {strings.Repeat("x", 129), false}, {"<script>", false}} {
		got := telemetry.RequestID(tc.sent)
		if (got == tc.sent) != tc.kept || got == "" {
			t.Errorf("RequestID(%q) = %q", tc.sent, got)
		}
	}
}
