package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/layout"
)

const lease = time.Minute

// newJob creates a queued job and its uploaded video.
func newJob(t *testing.T, db *postgres.DB) (*postgres.JobService, *videoforge.Job, *videoforge.Video) {
	t.Helper()
	ctx := context.Background()
	js := postgres.NewJobService(db)
	j := &videoforge.Job{UserID: "alice", Status: videoforge.JobQueued, SourceKey: "uploads/1/source"}
	if err := js.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	v := &videoforge.Video{UserID: "alice", JobID: &j.ID, Title: "t", Visibility: videoforge.Public, Status: videoforge.StatusUploaded, S3Key: "uploads/1/source"}
	if err := postgres.NewVideoService(db).CreateVideo(ctx, v); err != nil {
		t.Fatal(err)
	}
	return js, j, v
}

func start(t *testing.T, js *postgres.JobService, j *videoforge.Job, v *videoforge.Video, lease time.Duration) *videoforge.Attempt {
	t.Helper()
	a, err := js.StartJob(context.Background(), j.ID, v.ID, lease)
	if err != nil || a == nil {
		t.Fatalf("StartJob: %v %v", a, err)
	}
	return a
}

func result(a *videoforge.Attempt) videoforge.JobResult {
	f := a.Folder()
	return videoforge.JobResult{Duration: 3.5, Resolution: "1920x1080", VideoCodec: "h264", AudioCodec: "aac", FileSize: 12345,
		ThumbnailURL: f + "thumbnail.jpg", S3Key: f[:len(f)-1],
		Renditions: []videoforge.Rendition{
			{Name: "720p", Width: 1280, Height: 720, Bandwidth: 3000000, Playlist: f + "hls/720p/index.m3u8"},
			{Name: "360p", Width: 640, Height: 360, Bandwidth: 900000, Playlist: f + "hls/360p/index.m3u8"}}}
}

func TestCompleteJob(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js, j, v := newJob(t, db)
	var a *videoforge.Attempt

	t.Run("Start", func(t *testing.T) {
		a = start(t, js, j, v, lease)
		if a.Token != 1 || a.Folder() != layout.AttemptFolder(v.ID, 1) {
			t.Fatalf("attempt %+v", a)
		}
		if err := js.UpdateJobProgress(ctx, a, 42, lease); err != nil {
			t.Fatal(err)
		}
		got, err := js.FindJobByID(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != videoforge.JobProcessing || got.Attempts != 1 || got.Progress != 42 {
			t.Fatalf("job %+v", got)
		}
	})
	t.Run("Busy", func(t *testing.T) {
		// A second delivery while the attempt's lease is alive does not take the job.
		if b, err := js.StartJob(ctx, j.ID, v.ID, lease); videoforge.ErrorCode(err) != videoforge.ECONFLICT || b != nil {
			t.Fatalf("StartJob of a held job: %v %v", b, err)
		}
	})
	t.Run("OK", func(t *testing.T) {
		got, err := js.CompleteJob(ctx, a, result(a))
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != videoforge.StatusReady || *got.Resolution != "1920x1080" || *got.Duration != 3.5 || *got.AudioCodec != "aac" ||
			*got.FileSize != 12345 || *got.ThumbnailURL != a.Folder()+"thumbnail.jpg" || got.S3Key+"/" != a.Folder() || len(got.Renditions) != 2 {
			t.Fatalf("video %+v", got)
		}
		events := outbox(t, db, v.ID)
		last := events[len(events)-1]
		if last.Event.Type != videoforge.EventUpdated || last.Version != got.Version || last.Event.Video.Status != videoforge.StatusReady ||
			len(last.Event.Video.Renditions) != 2 || last.Event.Video.Renditions[0].Name != "720p" {
			t.Fatalf("last event %+v", last)
		}
		job, _ := js.FindJobByID(ctx, j.ID)
		if job.Status != videoforge.JobCompleted || job.Progress != 100 {
			t.Fatalf("job %+v", job)
		}
	})
	t.Run("Idempotent", func(t *testing.T) {
		before := outbox(t, db, v.ID)
		again, err := js.CompleteJob(ctx, a, result(a))
		if err != nil {
			t.Fatal(err)
		}
		if b, err := js.StartJob(ctx, j.ID, v.ID, lease); err != nil || b != nil {
			t.Fatalf("StartJob of a completed job: %v %v", b, err)
		}
		if err := js.FailJob(ctx, j.ID, v.ID, nil, "late failure"); videoforge.ErrorCode(err) != videoforge.ECONFLICT {
			t.Fatalf("failing a completed job: %v", err)
		}
		if err := js.FailJob(ctx, j.ID, v.ID, a, "late failure"); videoforge.ErrorCode(err) != videoforge.ECONFLICT {
			t.Fatalf("the committed attempt failing its job: %v", err)
		}
		if failed, err := js.RetryJob(ctx, a, "late", 3); videoforge.ErrorCode(err) != videoforge.ECONFLICT || failed {
			t.Fatalf("retry of a completed job: %v %v", failed, err)
		}
		after := outbox(t, db, v.ID)
		if len(after) != len(before) || again.Version != before[len(before)-1].Version || again.Status != videoforge.StatusReady {
			t.Fatalf("a repeated commit changed something: %d → %d events, version %d", len(before), len(after), again.Version)
		}
	})
}

// TestSupersededAttempt: an attempt whose lease ran out is taken over, and then can
// change nothing: no progress, no commit, no failure; the new attempt commits.
func TestSupersededAttempt(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js, j, v := newJob(t, db)
	old := start(t, js, j, v, time.Millisecond)
	time.Sleep(5 * time.Millisecond) // the lease is a database time; let it pass
	cur := start(t, js, j, v, lease)
	if cur.Token != old.Token+1 {
		t.Fatalf("tokens %d then %d", old.Token, cur.Token)
	}
	for name, err := range map[string]error{
		"progress": js.UpdateJobProgress(ctx, old, 50, lease),
		"fail":     js.FailJob(ctx, j.ID, v.ID, old, "stale"),
	} {
		if videoforge.ErrorCode(err) != videoforge.ECONFLICT {
			t.Fatalf("%s of a superseded attempt: %v", name, err)
		}
	}
	if _, err := js.CompleteJob(ctx, old, result(old)); videoforge.ErrorCode(err) != videoforge.ECONFLICT {
		t.Fatalf("commit of a superseded attempt: %v", err)
	}
	if _, err := js.RetryJob(ctx, old, "stale", 1); videoforge.ErrorCode(err) != videoforge.ECONFLICT {
		t.Fatalf("retry of a superseded attempt: %v", err)
	}
	if err := js.ReleaseJob(ctx, old); err != nil {
		t.Fatal(err)
	}
	// The dead-letter watcher cannot fail a job a live attempt holds.
	if err := js.FailJob(ctx, j.ID, v.ID, nil, "dead letter"); videoforge.ErrorCode(err) != videoforge.ECONFLICT {
		t.Fatalf("FailJob of a held job: %v", err)
	}
	got, err := js.CompleteJob(ctx, cur, result(cur))
	if err != nil || got.S3Key+"/" != cur.Folder() {
		t.Fatalf("commit of the current attempt: %+v %v", got, err)
	}
	// The stale attempt's commit, retried after the new one landed, is still refused.
	if _, err := js.CompleteJob(ctx, old, result(old)); videoforge.ErrorCode(err) != videoforge.ECONFLICT {
		t.Fatalf("late commit of a superseded attempt: %v", err)
	}
}

// TestRetryJob: failures of the work count up to the limit; a release does not count.
func TestRetryJob(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js, j, v := newJob(t, db)
	a := start(t, js, j, v, lease)
	if err := js.ReleaseJob(ctx, a); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		a = start(t, js, j, v, lease)
		if a.Failures != i {
			t.Fatalf("attempt %d: %d failures before it, want %d", a.Token, a.Failures, i)
		}
		failed, err := js.RetryJob(ctx, a, "ffmpeg crashed", 3)
		if err != nil || failed != (i == 2) {
			t.Fatalf("retry %d: failed %v, %v", i, failed, err)
		}
	}
	job, _ := js.FindJobByID(ctx, j.ID)
	if job.Status != videoforge.JobFailed || *job.Error != "ffmpeg crashed" || job.Attempts != 4 {
		t.Fatalf("job %+v", job)
	}
	if b, err := js.StartJob(ctx, j.ID, v.ID, lease); err != nil || b != nil {
		t.Fatalf("StartJob of a failed job: %v %v", b, err)
	}
	// A failed job cannot be flipped to completed by the attempt that failed it.
	if _, err := js.CompleteJob(ctx, a, result(a)); videoforge.ErrorCode(err) != videoforge.ECONFLICT {
		t.Fatalf("commit of a failed job: %v", err)
	}
}

func TestCompleteJobConcurrently(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js, j, v := newJob(t, db)
	a := start(t, js, j, v, lease)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := js.CompleteJob(ctx, a, result(a)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	ready := 0
	for _, e := range outbox(t, db, v.ID) {
		if e.Event.Video.Status == videoforge.StatusReady {
			ready++
		}
	}
	if ready != 1 {
		t.Fatalf("%d ready events, want 1", ready)
	}
}

func TestFailJob(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js, j, v := newJob(t, db)
	for range 2 {
		if err := js.FailJob(ctx, j.ID, v.ID, nil, "the upload is audio only"); err != nil {
			t.Fatal(err)
		}
	}
	job, err := js.FindJobByID(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if job.Status != videoforge.JobFailed || job.Error == nil || *job.Error != "the upload is audio only" {
		t.Fatalf("job %+v", job)
	}
	events := outbox(t, db, v.ID)
	if len(events) != 2 || events[1].Event.Video.Status != videoforge.StatusFailed {
		t.Fatalf("events %+v: want created, then one failed update", events)
	}
}

func TestJobOfDeletedVideo(t *testing.T) {
	db, vs := open(t)
	ctx := context.Background()

	t.Run("Running", func(t *testing.T) {
		js, j, v := newJob(t, db)
		a := start(t, js, j, v, lease)
		if err := vs.DeleteVideo(ctx, v.ID, "alice"); err != nil {
			t.Fatal(err)
		}
		if err := js.UpdateJobProgress(ctx, a, 50, lease); videoforge.ErrorCode(err) != videoforge.ENOTFOUND {
			t.Fatalf("progress of a deleted video's job: %v", err)
		}
		if _, err := js.CompleteJob(ctx, a, result(a)); videoforge.ErrorCode(err) != videoforge.ENOTFOUND {
			t.Fatalf("commit of a deleted video's job: %v", err)
		}
		if b, err := js.StartJob(ctx, j.ID, v.ID, lease); err != nil || b != nil {
			t.Fatalf("StartJob: %v %v", b, err)
		}
	})
	// A video deleted while its job waits in the queue ends the job, instead of
	// leaving it queued forever.
	t.Run("Queued", func(t *testing.T) {
		js, j, v := newJob(t, db)
		if err := vs.DeleteVideo(ctx, v.ID, "alice"); err != nil {
			t.Fatal(err)
		}
		job, _ := js.FindJobByID(ctx, j.ID)
		if job.Status != videoforge.JobFailed || *job.Error != "the video was deleted" {
			t.Fatalf("job %+v", job)
		}
		if b, err := js.StartJob(ctx, j.ID, v.ID, lease); err != nil || b != nil {
			t.Fatalf("StartJob: %v %v", b, err)
		}
	})
}
