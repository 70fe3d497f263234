package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/client"
)

// gallery answers GET /api/gallery/jobs/5 as processing at 10 % until done is set,
// then as completed.
func gallery(t *testing.T, done *atomic.Bool) string {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/gallery/jobs/5" {
			writeError(w, videoforge.ENOTFOUND, "job not found")
			return
		}
		j := videoforge.JobView{Job: videoforge.Job{ID: 5, Status: videoforge.JobProcessing, Progress: 10}}
		if done.Load() {
			j.Status, j.Progress = videoforge.JobCompleted, 100
		}
		json.NewEncoder(w).Encode(j)
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

type followed struct {
	job *videoforge.JobView
	err error
}

// TestFollowJob: the job's progress comes from its JOBS events, its completed event
// ends the wait, and without NATS the gallery's answers do both.
func TestFollowJob(t *testing.T) {
	t.Run("Events", func(t *testing.T) {
		srv, err := bus.Start(context.Background(), bus.ServerConfig{StoreDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := bus.Connect(ctx, srv.ClientURL(), "test", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(conn.Close)
		js := conn.JetStream()
		if err := bus.EnsureStreams(ctx, js, bus.StreamOptions{}); err != nil {
			t.Fatal(err)
		}
		publish := func(kind string, progress float64) {
			t.Helper()
			b, _ := json.Marshal(videoforge.JobEvent{JobID: 5, Type: kind, Progress: progress, OccurredAt: time.Now()})
			if _, err := js.Publish(ctx, videoforge.JobSubject(5, kind), b); err != nil {
				t.Fatal(err)
			}
		}
		publish(videoforge.JobEventProgress, 40) // before the command follows: delivered all the same

		var done atomic.Bool
		c := client.New(gallery(t, &done), aliceToken, client.Options{})
		seen := make(chan float64, 100)
		res := make(chan followed, 1)
		go func() {
			j, err := c.FollowJob(ctx, srv.ClientURL(), 5, func(f float64) { seen <- f })
			res <- followed{j, err}
		}()
		// 40 % is in the events only (the gallery says 10 %).
	wait:
		for {
			select {
			case f := <-seen:
				if f == 0.4 {
					break wait
				}
			case r := <-res:
				t.Fatalf("FollowJob returned %+v, %v before the progress event was seen", r.job, r.err)
			}
		}
		done.Store(true)
		publish(videoforge.JobEventCompleted, 100)
		r := <-res
		if r.err != nil || r.job.Status != videoforge.JobCompleted {
			t.Fatalf("got %+v, %v; want the job completed", r.job, r.err)
		}
	})
	t.Run("GalleryOnly", func(t *testing.T) {
		var done atomic.Bool
		done.Store(true)
		c := client.New(gallery(t, &done), aliceToken, client.Options{})
		var last float64
		j, err := c.FollowJob(context.Background(), "", 5, func(f float64) { last = f })
		if err != nil || j.Status != videoforge.JobCompleted || last != 1 {
			t.Fatalf("got %+v, %v, progress %v; want the job completed at 100 %%", j, err, last)
		}
	})
	t.Run("NotInTime", func(t *testing.T) {
		var done atomic.Bool
		c := client.New(gallery(t, &done), aliceToken, client.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := c.FollowJob(ctx, "", 5, nil); err == nil || err.Error() != "job 5: not finished in time: context deadline exceeded" {
			t.Errorf("got %v, want the job not finished in time", err)
		}
	})
}
