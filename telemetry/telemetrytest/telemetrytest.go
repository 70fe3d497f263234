// Package telemetrytest records a test's spans in memory, with the SDK's span
// recorder, and finds them by name. Only tests import it.
package telemetrytest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/videoforge/videoforge/telemetry"
)

// Recorder holds the spans that ended during a test.
type Recorder struct {
	*tracetest.SpanRecorder
}

// Record installs a tracer provider that records every span in memory until the test
// ends, when the no-op provider is put back. Tests that call it must not run in
// parallel with others that trace.
func Record(t testing.TB) *Recorder {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	restore := telemetry.Install(tp)
	t.Cleanup(func() {
		restore()
		tp.Shutdown(t.Context())
	})
	return &Recorder{rec}
}

// Named returns the ended spans called name, in the order they ended.
func (r *Recorder) Named(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range r.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// Wait polls until an ended span called name exists and returns the first, failing
// the test after d.
func (r *Recorder) Wait(t testing.TB, name string, d time.Duration) sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if s := r.Named(name); len(s) > 0 {
			return s[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no span %q within %v; ended: %s", name, d, r.Names())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Names lists the ended spans' names, for failure messages.
func (r *Recorder) Names() string {
	var names []string
	for _, s := range r.Ended() {
		names = append(names, fmt.Sprintf("%q", s.Name()))
	}
	return strings.Join(names, ", ")
}

// ChildOf fails the test unless child's parent is parent, in the same trace.
func ChildOf(t testing.TB, child, parent sdktrace.ReadOnlySpan) {
	t.Helper()
	if child.SpanContext().TraceID() != parent.SpanContext().TraceID() {
		t.Errorf("span %q is in trace %s, %q in %s", child.Name(), child.SpanContext().TraceID(), parent.Name(), parent.SpanContext().TraceID())
	}
	if child.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("span %q's parent is %s, want %q's %s", child.Name(), child.Parent().SpanID(), parent.Name(), parent.SpanContext().SpanID())
	}
}
