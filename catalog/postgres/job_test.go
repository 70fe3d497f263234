package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
)

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

func result(videoID int64) videoforge.JobResult {
	return videoforge.JobResult{Duration: 3.5, Resolution: "1920x1080", VideoCodec: "h264", AudioCodec: "aac", FileSize: 12345,
		ThumbnailURL: "videos/1/thumbnail.jpg", S3Key: "videos/1",
		Renditions: []videoforge.Rendition{
			{Name: "720p", Width: 1280, Height: 720, Bandwidth: 3000000, Playlist: "videos/1/hls/720p/index.m3u8"},
			{Name: "360p", Width: 640, Height: 360, Bandwidth: 900000, Playlist: "videos/1/hls/360p/index.m3u8"}}}
}

func TestCompleteJob(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js, j, v := newJob(t, db)

	t.Run("Start", func(t *testing.T) {
		ok, err := js.StartJob(ctx, j.ID, v.ID)
		if err != nil || !ok {
			t.Fatalf("StartJob: %v %v", ok, err)
		}
		if err := js.UpdateJobProgress(ctx, j.ID, v.ID, 42); err != nil {
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
	t.Run("OK", func(t *testing.T) {
		got, err := js.CompleteJob(ctx, j.ID, v.ID, result(v.ID))
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != videoforge.StatusReady || *got.Resolution != "1920x1080" || *got.Duration != 3.5 || *got.AudioCodec != "aac" ||
			*got.FileSize != 12345 || *got.ThumbnailURL != "videos/1/thumbnail.jpg" || got.S3Key != "videos/1" || len(got.Renditions) != 2 {
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
		again, err := js.CompleteJob(ctx, j.ID, v.ID, result(v.ID))
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := js.StartJob(ctx, j.ID, v.ID); err != nil || ok {
			t.Fatalf("StartJob of a completed job: %v %v", ok, err)
		}
		if err := js.FailJob(ctx, j.ID, v.ID, "late failure"); err != nil {
			t.Fatal(err)
		}
		after := outbox(t, db, v.ID)
		if len(after) != len(before) || again.Version != before[len(before)-1].Version || again.Status != videoforge.StatusReady {
			t.Fatalf("a repeated commit changed something: %d → %d events, version %d", len(before), len(after), again.Version)
		}
	})
}

func TestCompleteJobConcurrently(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js, j, v := newJob(t, db)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := js.CompleteJob(ctx, j.ID, v.ID, result(v.ID)); err != nil {
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
		if err := js.FailJob(ctx, j.ID, v.ID, "the upload is audio only"); err != nil {
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
	js, j, v := newJob(t, db)
	if ok, err := js.StartJob(ctx, j.ID, v.ID); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := vs.DeleteVideo(ctx, v.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := js.UpdateJobProgress(ctx, j.ID, v.ID, 50); videoforge.ErrorCode(err) != videoforge.ENOTFOUND {
		t.Fatalf("progress of a deleted video's job: %v", err)
	}
	if _, err := js.CompleteJob(ctx, j.ID, v.ID, result(v.ID)); videoforge.ErrorCode(err) != videoforge.ENOTFOUND {
		t.Fatalf("commit of a deleted video's job: %v", err)
	}
	if ok, err := js.StartJob(ctx, j.ID, v.ID); err != nil || ok {
		t.Fatalf("StartJob: %v %v", ok, err)
	}
}
