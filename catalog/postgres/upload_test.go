package postgres_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
)

func TestCreateUpload(t *testing.T) {
	db, videos := open(t)
	ctx := context.Background()
	js := postgres.NewJobService(db)
	v := &videoforge.Video{UserID: "alice", Title: "clip", Visibility: videoforge.Unlisted}
	j, err := js.CreateUpload(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != videoforge.JobPending || j.SourceKey != videoforge.UploadKey(j.ID) || v.JobID == nil || *v.JobID != j.ID {
		t.Errorf("job %+v, video job %v", j, v.JobID)
	}
	got, err := videos.FindVideoByID(ctx, v.ID, "alice")
	if err != nil || got.Status != videoforge.StatusUploaded || got.S3Key != j.SourceKey {
		t.Errorf("video %+v, %v", got, err)
	}
	if _, err := js.CreateUpload(ctx, &videoforge.Video{UserID: "alice", Title: " ", Visibility: videoforge.Public}); videoforge.ErrorCode(err) != videoforge.EINVALID {
		t.Errorf("empty title: %v", err)
	}
	if jv, err := js.FindJob(ctx, j.ID, "bob"); videoforge.ErrorCode(err) != videoforge.EFORBIDDEN {
		t.Errorf("bob finds alice's job: %v %v", jv, err)
	}
	if jv, err := js.FindJob(ctx, j.ID, "alice"); err != nil || jv.VideoID == nil || *jv.VideoID != v.ID {
		t.Errorf("find job: %+v %v", jv, err)
	}
}

// TestCompleteUploadOnce: concurrent and repeated completes queue the job once.
func TestCompleteUploadOnce(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js := postgres.NewJobService(db)
	v := &videoforge.Video{UserID: "alice", Title: "clip", Visibility: videoforge.Public}
	j, err := js.CreateUpload(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	var queued atomic.Int32
	queue := func(_ context.Context, got *videoforge.Job, videoID int64) error {
		if got.ID != j.ID || videoID != v.ID {
			t.Errorf("queue got job %d video %d", got.ID, videoID)
		}
		queued.Add(1)
		time.Sleep(10 * time.Millisecond)
		return nil
	}
	if _, err := js.CompleteUpload(ctx, j.ID, "bob", queue); videoforge.ErrorCode(err) != videoforge.EFORBIDDEN {
		t.Errorf("bob completes: %v", err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			jv, err := js.CompleteUpload(ctx, j.ID, "alice", queue)
			if err != nil || jv.Status != videoforge.JobQueued {
				t.Errorf("complete: %+v %v", jv, err)
			}
		})
	}
	wg.Wait()
	if n := queued.Load(); n != 1 {
		t.Errorf("queued %d times, want once", n)
	}
	// A failing queue leaves the job pending, for another try.
	j2, err := js.CreateUpload(ctx, &videoforge.Video{UserID: "alice", Title: "two", Visibility: videoforge.Public})
	if err != nil {
		t.Fatal(err)
	}
	_, err = js.CompleteUpload(ctx, j2.ID, "alice", func(context.Context, *videoforge.Job, int64) error {
		return videoforge.Errorf(videoforge.ECONFLICT, "nothing uploaded")
	})
	if videoforge.ErrorCode(err) != videoforge.ECONFLICT {
		t.Errorf("complete with a refusing check: %v", err)
	}
	if jv, _ := js.FindJob(ctx, j2.ID, "alice"); jv.Status != videoforge.JobPending {
		t.Errorf("job %s after a refused complete, want pending", jv.Status)
	}
	// Given up after its lifetime: failed, with its video.
	ids, err := js.ExpireUploads(ctx, time.Now().Add(time.Minute), "not completed")
	if err != nil || len(ids) != 1 || ids[0] != j2.ID {
		t.Fatalf("expired %v, %v", ids, err)
	}
	if jv, _ := js.FindJob(ctx, j2.ID, "alice"); jv.Status != videoforge.JobFailed || jv.Error == nil || *jv.Error != "not completed" {
		t.Errorf("expired job %+v", jv)
	}
}
