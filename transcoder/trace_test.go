package transcoder_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/telemetry"
	"github.com/videoforge/videoforge/telemetry/telemetrytest"
	"github.com/videoforge/videoforge/transcoder"
)

// TestJobTraced: a job message sent inside a span (the upload's complete) carries its
// trace context through either queue; the worker's job span is its child, and the
// steps (download, probe, each rung, stills, upload, commit) are the job span's.
func TestJobTraced(t *testing.T) {
	for _, tc := range []struct {
		name  string
		queue func(t *testing.T, e *env, cfg transcoder.Config) transcoder.Queue
	}{
		{"JetStream", func(t *testing.T, e *env, cfg transcoder.Config) transcoder.Queue {
			q, _ := e.jsQueue(t, cfg)
			return q
		}},
		{"SQS", func(t *testing.T, e *env, cfg transcoder.Config) transcoder.Queue {
			q, _, _ := sqsQueue(t, cfg)
			return q
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := telemetrytest.Record(t)
			e := newEnv(t)
			cfg := testConfig(t)
			q := tc.queue(t, e, cfg)
			msg := e.newJob(t, "landscape.mp4")
			ctx, complete := telemetry.Tracer().Start(context.Background(), "POST /api/gallery/uploads/{jobId}/complete")
			if err := transcoder.Enqueue(ctx, q, msg); err != nil {
				t.Fatal(err)
			}
			complete.End()
			start(t, cfg, q, e, nil)
			e.waitJob(t, msg.JobID, videoforge.JobCompleted, time.Minute)

			job := rec.Wait(t, "transcode job", 10*time.Second)
			telemetrytest.ChildOf(t, job, rec.Wait(t, "POST /api/gallery/uploads/{jobId}/complete", 0))
			for _, step := range []string{"download", "probe", "stills", "upload", "commit"} {
				telemetrytest.ChildOf(t, rec.Wait(t, step, 10*time.Second), job)
			}
			var rungs []string
			for _, s := range rec.Ended() {
				if strings.HasPrefix(s.Name(), "encode ") || strings.HasPrefix(s.Name(), "copy ") {
					rungs = append(rungs, s.Name())
					telemetrytest.ChildOf(t, s, job)
				}
			}
			// The clip's ladder has 240p and 144p.
			if got := strings.Join(rungs, ","); !strings.Contains(got, "240p") || !strings.Contains(got, "144p") {
				t.Errorf("rung spans %q: want one per rung (240p, 144p)", got)
			}
		})
	}
}
