package postgres_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/layout"
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
	if j.Status != videoforge.JobPending || j.SourceKey != layout.UploadKey(j.ID) || v.JobID == nil || *v.JobID != j.ID {
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
	j, v := createUpload(t, js)
	var queued atomic.Int32
	queue := func(_ context.Context, got *videoforge.Job, videoID int64) (videoforge.Source, error) {
		if got.ID != j.ID || videoID != v.ID {
			t.Errorf("queue got job %d video %d", got.ID, videoID)
		}
		queued.Add(1)
		time.Sleep(10 * time.Millisecond)
		return videoforge.Source{Key: got.SourceKey, Size: 10, ETag: `"abc"`}, nil
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
	_, err = js.CompleteUpload(ctx, j2.ID, "alice", func(context.Context, *videoforge.Job, int64) (videoforge.Source, error) {
		return videoforge.Source{}, videoforge.Errorf(videoforge.ECONFLICT, "nothing uploaded")
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

// TestSealedSource: the source as complete saw it is what the attempt gets.
func TestSealedSource(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js := postgres.NewJobService(db)
	j, v := createUpload(t, js)
	want := videoforge.Source{Key: j.SourceKey, Size: 1234, ETag: `"e1"`, VersionID: "v7"}
	if _, err := js.CompleteUpload(ctx, j.ID, "alice", func(context.Context, *videoforge.Job, int64) (videoforge.Source, error) {
		return want, nil
	}); err != nil {
		t.Fatal(err)
	}
	a, err := js.StartJob(ctx, j.ID, v.ID, time.Minute)
	if err != nil || a == nil || a.Source != want {
		t.Fatalf("attempt %+v, %v; want source %+v", a, err, want)
	}
}

// TestUnsentJobs: a job committed queued whose message was never sent (a crash
// between the commit and the send), one whose message was lost, and one whose
// worker died with no message left are found by the sweeper; a job just sent, or
// held by a live attempt, is not.
func TestUnsentJobs(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js := postgres.NewJobService(db)
	seal := func(_ context.Context, j *videoforge.Job, _ int64) (videoforge.Source, error) {
		return videoforge.Source{Key: j.SourceKey, Size: 1, ETag: `"x"`}, nil
	}
	complete := func() (*videoforge.Job, *videoforge.Video) {
		j, v := createUpload(t, js)
		if _, err := js.CompleteUpload(ctx, j.ID, "alice", seal); err != nil {
			t.Fatal(err)
		}
		return j, v
	}
	unsentJ, _ := complete()
	sentJ, _ := complete()
	if err := js.MarkJobSent(ctx, sentJ.ID, 1); err != nil {
		t.Fatal(err)
	}
	liveJ, liveV := complete()
	if err := js.MarkJobSent(ctx, liveJ.ID, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := js.StartJob(ctx, liveJ.ID, liveV.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	deadJ, deadV := complete()
	if err := js.MarkJobSent(ctx, deadJ.ID, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := js.StartJob(ctx, deadJ.ID, deadV.ID, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ids := func(grace, resend time.Duration) map[int64]int {
		t.Helper()
		msgs, err := js.UnsentJobs(ctx, grace, resend, 100)
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]int{}
		for _, m := range msgs {
			if m.SourceKey != layout.UploadKey(m.JobID) || m.VideoID == 0 {
				t.Errorf("message %+v", m)
			}
			got[m.JobID] = m.Send
		}
		return got
	}
	// Within the grace period nothing is due: the catalog is sending right now.
	if got := ids(time.Hour, time.Hour); len(got) != 0 {
		t.Fatalf("due within the grace period: %v", got)
	}
	time.Sleep(10 * time.Millisecond) // database times must pass the tiny periods below
	got := ids(time.Millisecond, time.Hour)
	if len(got) != 1 || got[unsentJ.ID] != 1 {
		t.Fatalf("due with a long resend period: %v, want only job %d (send 1)", got, unsentJ.ID)
	}
	got = ids(time.Millisecond, time.Millisecond)
	if len(got) != 3 || got[unsentJ.ID] != 1 || got[sentJ.ID] != 2 || got[deadJ.ID] != 2 {
		t.Fatalf("due with a tiny resend period: %v, want jobs %d, %d, %d and not the live %d", got, unsentJ.ID, sentJ.ID, deadJ.ID, liveJ.ID)
	}
	if err := js.MarkJobSent(ctx, unsentJ.ID, 1); err != nil {
		t.Fatal(err)
	}
	if got := ids(time.Millisecond, time.Hour); len(got) != 0 {
		t.Fatalf("due after the send: %v", got)
	}
}

// TestJanitorRacesComplete: a complete that commits after the janitor found the job
// pending, but before it locked it, wins: the job stays queued.
func TestJanitorRacesComplete(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js := postgres.NewJobService(db)
	j, _ := createUpload(t, js)
	js.SetTestHook(func(point string, jobID int64) {
		if point != "expire" || jobID != j.ID {
			return
		}
		if _, err := js.CompleteUpload(ctx, j.ID, "alice", func(_ context.Context, j *videoforge.Job, _ int64) (videoforge.Source, error) {
			return videoforge.Source{Key: j.SourceKey, Size: 1, ETag: `"x"`}, nil
		}); err != nil {
			t.Error(err)
		}
	})
	ids, err := js.ExpireUploads(ctx, time.Now().Add(time.Minute), "not completed")
	if err != nil || len(ids) != 0 {
		t.Fatalf("expired %v, %v; want none", ids, err)
	}
	if jv, _ := js.FindJob(ctx, j.ID, "alice"); jv.Status != videoforge.JobQueued {
		t.Fatalf("job %s, want queued", jv.Status)
	}
}

// createUpload starts an upload of alice's: its pending job and uploaded video.
func createUpload(t *testing.T, js *postgres.JobService) (*videoforge.Job, *videoforge.Video) {
	t.Helper()
	v := &videoforge.Video{UserID: "alice", Title: "clip", Visibility: videoforge.Public}
	j, err := js.CreateUpload(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	return j, v
}
