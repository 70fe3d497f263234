package relay_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/telemetry"
	"github.com/videoforge/videoforge/telemetry/telemetrytest"
)

// TestPublishTraced: a change made inside a span stores its trace context in the
// outbox row; the relay's publish span is that span's child, and the NATS message's
// traceparent names the publish span. An untraced change starts no trace.
func TestPublishTraced(t *testing.T) {
	rec := telemetrytest.Record(t)
	e := newEnv(t)
	ctx, req := telemetry.Tracer().Start(context.Background(), "PUT /api/gallery/videos/{id}")
	traced := newVideo("tracy", 1)
	if err := e.videos.CreateVideo(ctx, traced); err != nil {
		t.Fatal(err)
	}
	req.End()
	if err := e.videos.CreateVideo(context.Background(), newVideo("tracy", 2)); err != nil {
		t.Fatal(err)
	}
	e.startRelay("a", testConfig)
	e.waitAllPublished(10 * time.Second)

	pub := rec.Wait(t, "relay publish", 10*time.Second)
	telemetrytest.ChildOf(t, pub, rec.Wait(t, "PUT /api/gallery/videos/{id}", 0))
	if n := len(rec.Named("relay publish")); n != 1 {
		t.Errorf("%d publish spans, want 1: the untraced change starts none", n)
	}
	s, err := e.js.Stream(context.Background(), bus.CatalogStream)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("00-%s-%s-01", pub.SpanContext().TraceID(), pub.SpanContext().SpanID())
	for seq, tp := range map[uint64]string{1: want, 2: ""} {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Header.Get("traceparent"); got != tp {
			t.Errorf("message %d's traceparent %q, want %q", seq, got, tp)
		}
	}
}
