package catalog_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/telemetry"
	"github.com/videoforge/videoforge/telemetry/telemetrytest"
)

// TestRequestSpan: a gallery request gets a server span named by its route pattern, a
// child of the trace context its client sent; the change it makes stores that span's
// trace context in its outbox row; its request id comes back in X-Request-Id.
func TestRequestSpan(t *testing.T) {
	rec := telemetrytest.Record(t)
	e := newEnv(t)
	v := e.video("alice", "before", videoforge.Public, videoforge.StatusReady)

	cctx, client := telemetry.Tracer().Start(context.Background(), "client")
	req, err := http.NewRequest("PUT", e.url+"/api/gallery/videos/"+fmt.Sprint(v.ID), strings.NewReader(`{"title":"after"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token("alice"))
	req.Header.Set("X-Request-Id", "req-42")
	telemetry.Inject(cctx, propagation.HeaderCarrier(req.Header))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	client.End()
	if res.StatusCode != 200 || res.Header.Get("X-Request-Id") != "req-42" {
		t.Fatalf("PUT: %d, X-Request-Id %q", res.StatusCode, res.Header.Get("X-Request-Id"))
	}
	srv := rec.Wait(t, "PUT /api/gallery/videos/{id}", 0)
	telemetrytest.ChildOf(t, srv, rec.Wait(t, "client", 0))

	// A request id that is not sane is replaced; none sent gets one.
	for _, sent := range []string{"", "no spaces allowed"} {
		r := e.doWith("GET", "/api/gallery/health", map[string]string{"X-Request-Id": sent})
		if got := r.header.Get("X-Request-Id"); got == "" || got == sent {
			t.Errorf("sent X-Request-Id %q, got %q", sent, got)
		}
	}

	sess, err := postgres.NewOutbox(e.db).OpenSession(context.Background(), "trace-test")
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	rows, err := sess.Unpublished(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d outbox rows, want the create and the update", len(rows))
	}
	want := fmt.Sprintf("00-%s-%s-01", srv.SpanContext().TraceID(), srv.SpanContext().SpanID())
	if rows[0].TraceParent != "" || rows[1].TraceParent != want {
		t.Errorf("outbox trace contexts %q, %q; want none for the untraced create and %q", rows[0].TraceParent, rows[1].TraceParent, want)
	}
}

// doWith sends a request without a body with the given headers.
func (e *env) doWith(method, path string, header map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	return response{status: res.StatusCode, header: res.Header}
}
