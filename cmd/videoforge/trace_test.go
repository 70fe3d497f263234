package main

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/telemetry"
)

// receivedSpan is a span as an OTLP/HTTP receiver got it.
type receivedSpan struct {
	name, trace, id, parent, service string
}

// otlpReceiver is an in-process OTLP/HTTP trace receiver: it decodes each
// ExportTraceServiceRequest (protobuf, gzipped or not) and keeps its spans.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []receivedSpan
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.Error(w, "not an OTLP trace export", http.StatusNotFound)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.ResourceSpans {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				o.spans = append(o.spans, receivedSpan{name: s.Name, trace: hex.EncodeToString(s.TraceId),
					id: hex.EncodeToString(s.SpanId), parent: hex.EncodeToString(s.ParentSpanId), service: service})
			}
		}
	}
	o.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// find returns the spans that match.
func (o *otlpReceiver) find(match func(receivedSpan) bool) []receivedSpan {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []receivedSpan
	for _, s := range o.spans {
		if match(s) {
			out = append(out, s)
		}
	}
	return out
}

// names lists the spans of a trace, each with its parent's name.
func (o *otlpReceiver) names(trace string) string {
	spans := o.find(func(s receivedSpan) bool { return s.trace == trace })
	byID := map[string]string{}
	for _, s := range spans {
		byID[s.id] = s.name
	}
	var out []string
	for _, s := range spans {
		p := byID[s.parent]
		if p == "" {
			p = "-"
		}
		out = append(out, s.name+" <- "+p)
	}
	return strings.Join(out, "; ")
}

// wait polls until a span matches and returns the first, failing the test after a
// minute.
func (o *otlpReceiver) wait(t *testing.T, what string, match func(receivedSpan) bool) receivedSpan {
	t.Helper()
	var got []receivedSpan
	eventually(t, time.Minute, what, func() bool {
		got = o.find(match)
		return len(got) > 0
	})
	return got[0]
}

// childOf matches the spans called name whose parent is parent, in its trace.
func childOf(name string, parent receivedSpan) func(receivedSpan) bool {
	return func(s receivedSpan) bool {
		return s.name == name && s.trace == parent.trace && s.parent == parent.id
	}
}

// TestTraces runs the dev stack with its OTLP exporter pointed at an in-process
// receiver and follows one upload's whole trace (complete → the job → download,
// probe, each rung, stills, upload, commit) and one change's (PUT → the relay's publish
// → the edge's apply) by trace and parent span ids; the JSON log's job lines carry the
// job span's trace id.
func TestTraces(t *testing.T) {
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	t.Cleanup(collector.Close)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	t.Setenv("OTEL_TRACES_SAMPLER", "always_on")
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("DATABASE_URL", pgtest.NewDatabase(t))

	var logs syncBuffer
	log, err := telemetry.NewLogger(&logs, telemetry.FormatJSON, slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	old := slog.Default()
	slog.SetDefault(log)
	t.Cleanup(func() { slog.SetDefault(old) })

	data := t.TempDir()
	s := startDev(t, data)
	if !telemetry.Enabled() {
		t.Fatal("the dev stack did not turn tracing on with OTEL_EXPORTER_OTLP_ENDPOINT set")
	}
	clip := makeClip(t)
	alice := mintToken(t, data, "alice")

	var out syncBuffer
	if err := run(context.Background(), []string{"upload", "-data", data, "-user", "alice", "-gallery", s.gallery, "-edge", s.edge,
		"-nats-url", s.nats, "-file", clip, "-title", "Traced clip", "-timeout", "2m"}, &out); err != nil {
		t.Fatalf("upload: %v\n%s", err, out.String())
	}
	m := regexp.MustCompile(`video (\d+), job (\d+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("upload printed no ids:\n%s", out.String())
	}
	id := m[1]

	t.Run("Upload", func(t *testing.T) {
		complete := recv.wait(t, "the complete's server span", func(s receivedSpan) bool {
			return s.name == "POST /api/gallery/uploads/{jobId}/complete"
		})
		if complete.service != "videoforge-dev" {
			t.Errorf("service.name %q, want videoforge-dev", complete.service)
		}
		job := recv.wait(t, "the job's span, a child of complete", childOf("transcode job", complete))
		for _, step := range []string{"download", "probe", "stills", "upload", "commit"} {
			recv.wait(t, step+", a child of the job", childOf(step, job))
		}
		t.Logf("the upload's trace: %s", recv.names(job.trace))
		rungs := recv.find(func(s receivedSpan) bool {
			return s.trace == job.trace && (strings.HasPrefix(s.name, "encode ") || strings.HasPrefix(s.name, "copy "))
		})
		if len(rungs) < 2 {
			t.Errorf("want a span per rung of the clip's two, got %v", rungs)
		}
		for _, r := range rungs {
			if r.parent != job.id {
				t.Errorf("rung span %q is not a child of the job's", r.name)
			}
		}
		// The job's log lines carry its trace id.
		var found bool
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "job completed" {
				continue
			}
			found = true
			if rec["trace_id"] != job.trace || fmt.Sprint(rec["job_id"]) != m[2] {
				t.Errorf("job completed log line %v: want trace_id %s and job_id %s", rec, job.trace, m[2])
			}
		}
		if !found {
			t.Errorf("no JSON log line says the job completed:\n%s", logs.String())
		}
	})

	t.Run("Change", func(t *testing.T) {
		req, err := http.NewRequest("PUT", s.gallery+"/api/gallery/videos/"+id, strings.NewReader(`{"title":"Traced change"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+alice)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-Id", "trace-test-1")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("X-Request-Id") != "trace-test-1" {
			t.Fatalf("PUT: %d, X-Request-Id %q", res.StatusCode, res.Header.Get("X-Request-Id"))
		}
		put := recv.wait(t, "the PUT's server span", func(s receivedSpan) bool { return s.name == "PUT /api/gallery/videos/{id}" })
		publish := recv.wait(t, "the relay's publish, a child of the PUT", childOf("relay publish", put))
		recv.wait(t, "the edge's apply, a child of the publish", childOf("edge apply", publish))
		t.Logf("the change's trace: %s", recv.names(put.trace))
		// The edge answers in its own spans too.
		get(t, s.edge+"/api/stream/"+id, "")
		recv.wait(t, "the edge's server span", func(s receivedSpan) bool { return s.name == "GET /api/stream/{videoId}" })
	})
}
