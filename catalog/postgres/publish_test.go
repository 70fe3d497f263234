package postgres_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
)

// partial is the attempt's result with its first n renditions and no thumbnail yet.
func partial(a *videoforge.Attempt, n int) videoforge.JobResult {
	r := result(a)
	r.Renditions = r.Renditions[:n]
	r.ThumbnailURL = ""
	return r
}

// lastPayload returns the raw payload of the video's newest outbox row.
func lastPayload(t *testing.T, db *postgres.DB, videoID int64) string {
	t.Helper()
	var payload []byte
	if err := db.Pool().QueryRow(context.Background(),
		`SELECT payload FROM outbox WHERE video_id = $1 ORDER BY id DESC LIMIT 1`, videoID).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	return string(payload)
}

// TestPublishRenditions: the video plays with its first rendition, more join, and the
// complete commits the whole ladder.
func TestPublishRenditions(t *testing.T) {
	db, vs := open(t)
	ctx := context.Background()
	js, j, v := newJob(t, db)
	a := start(t, js, j, v, lease)
	before := outbox(t, db, v.ID)
	base := before[len(before)-1].Version

	t.Run("One", func(t *testing.T) {
		got, err := js.PublishRenditions(ctx, a, partial(a, 1))
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != videoforge.StatusReady || got.LadderComplete || len(got.Renditions) != 1 || got.Renditions[0].Name != "720p" ||
			got.S3Key+"/" != a.Folder() || *got.Resolution != "1920x1080" || got.ThumbnailURL != nil || got.Version != base+1 {
			t.Fatalf("video %+v", got)
		}
		events := outbox(t, db, v.ID)
		last := events[len(events)-1]
		if len(events) != len(before)+1 || last.Event.Type != videoforge.EventUpdated || last.Version != base+1 ||
			last.Event.Video.Status != videoforge.StatusReady || len(last.Event.Video.Renditions) != 1 ||
			last.Event.Video.LadderComplete == nil || *last.Event.Video.LadderComplete {
			t.Fatalf("events %+v", events)
		}
		if p := lastPayload(t, db, v.ID); !strings.Contains(p, `"ladderComplete":false`) {
			t.Errorf("payload %s: want ladderComplete false", p)
		}
		job, _ := js.FindJobByID(ctx, j.ID)
		if job.Status != videoforge.JobProcessing || job.RenditionsDone != 1 {
			t.Fatalf("job %+v", job)
		}
		// The gallery sees it ready, its ladder not complete.
		seen, err := vs.FindVideoByID(ctx, v.ID, "")
		if err != nil || seen.Status != videoforge.StatusReady || seen.LadderComplete {
			t.Fatalf("gallery's video %+v %v", seen, err)
		}
	})
	t.Run("Repeated", func(t *testing.T) {
		n := len(outbox(t, db, v.ID))
		got, err := js.PublishRenditions(ctx, a, partial(a, 1))
		if err != nil || got.Version != base+1 || len(got.Renditions) != 1 {
			t.Fatalf("a repeated publish: %+v %v", got, err)
		}
		if len(outbox(t, db, v.ID)) != n {
			t.Fatal("a repeated publish wrote an event")
		}
	})
	t.Run("Two", func(t *testing.T) {
		got, err := js.PublishRenditions(ctx, a, partial(a, 2))
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != videoforge.StatusReady || got.LadderComplete || len(got.Renditions) != 2 || got.Version != base+2 {
			t.Fatalf("video %+v", got)
		}
		job, _ := js.FindJobByID(ctx, j.ID)
		if job.Status != videoforge.JobProcessing || job.RenditionsDone != 2 {
			t.Fatalf("job %+v", job)
		}
		// The job's owner sees how many renditions are done.
		view, err := js.FindJob(ctx, j.ID, "alice")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(view)
		if !strings.Contains(string(b), `"renditionsDone":2`) {
			t.Errorf("job answer %s: want renditionsDone 2", b)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		if _, err := js.PublishRenditions(ctx, a, partial(a, 0)); videoforge.ErrorCode(err) != videoforge.EINVALID {
			t.Fatalf("publishing no rendition: %v", err)
		}
	})
	t.Run("Complete", func(t *testing.T) {
		got, err := js.CompleteJob(ctx, a, result(a))
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != videoforge.StatusReady || !got.LadderComplete || len(got.Renditions) != 2 ||
			*got.ThumbnailURL != a.Folder()+"thumbnail.jpg" || got.Version != base+3 {
			t.Fatalf("video %+v", got)
		}
		if p := lastPayload(t, db, v.ID); !strings.Contains(p, `"ladderComplete":true`) {
			t.Errorf("payload %s: want ladderComplete true", p)
		}
		job, _ := js.FindJobByID(ctx, j.ID)
		if job.Status != videoforge.JobCompleted || job.RenditionsDone != 2 || job.Progress != 100 {
			t.Fatalf("job %+v", job)
		}
		// A publish after the complete is refused.
		if _, err := js.PublishRenditions(ctx, a, partial(a, 1)); videoforge.ErrorCode(err) != videoforge.ECONFLICT {
			t.Fatalf("publish of a completed job: %v", err)
		}
	})
}

// TestPublishKeepsThumbnail: a publish without a thumbnail keeps the stored one.
func TestPublishKeepsThumbnail(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js, j, v := newJob(t, db)
	a := start(t, js, j, v, lease)
	r := partial(a, 1)
	r.ThumbnailURL = a.Folder() + "thumbnail.jpg"
	if _, err := js.PublishRenditions(ctx, a, r); err != nil {
		t.Fatal(err)
	}
	got, err := js.PublishRenditions(ctx, a, partial(a, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got.ThumbnailURL == nil || *got.ThumbnailURL != a.Folder()+"thumbnail.jpg" || len(got.Renditions) != 2 {
		t.Fatalf("video %+v", got)
	}
}

// TestPublishFenced: a superseded attempt publishes nothing, nor does one whose video
// was deleted.
func TestPublishFenced(t *testing.T) {
	db, vs := open(t)
	ctx := context.Background()

	t.Run("Superseded", func(t *testing.T) {
		js, j, v := newJob(t, db)
		old := start(t, js, j, v, time.Millisecond)
		time.Sleep(5 * time.Millisecond) // the lease is a database time; let it pass
		cur := start(t, js, j, v, lease)
		before := outbox(t, db, v.ID)
		if _, err := js.PublishRenditions(ctx, old, partial(old, 1)); videoforge.ErrorCode(err) != videoforge.ECONFLICT {
			t.Fatalf("publish of a superseded attempt: %v", err)
		}
		got, err := vs.FindVideoByID(ctx, v.ID, "alice")
		if err != nil {
			t.Fatal(err)
		}
		job, _ := js.FindJobByID(ctx, j.ID)
		if after := outbox(t, db, v.ID); len(after) != len(before) || got.Status != videoforge.StatusProcessing ||
			got.Version != before[len(before)-1].Version || job.RenditionsDone != 0 || job.Attempts != int(cur.Token) {
			t.Fatalf("a superseded publish changed something: video %+v, job %+v, %d → %d events", got, job, len(before), len(after))
		}
	})
	t.Run("Deleted", func(t *testing.T) {
		js, j, v := newJob(t, db)
		a := start(t, js, j, v, lease)
		if err := vs.DeleteVideo(ctx, v.ID, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := js.PublishRenditions(ctx, a, partial(a, 1)); videoforge.ErrorCode(err) != videoforge.ENOTFOUND {
			t.Fatalf("publish of a deleted video's job: %v", err)
		}
	})
}

// TestPublishedStaysPlayable: once an attempt published, the video stays ready through
// a new attempt and through the job failing for good.
func TestPublishedStaysPlayable(t *testing.T) {
	db, vs := open(t)
	ctx := context.Background()

	ready := func(t *testing.T, v *videoforge.Video, renditions int) *videoforge.Video {
		t.Helper()
		got, err := vs.FindVideoByID(ctx, v.ID, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != videoforge.StatusReady || got.LadderComplete {
			t.Fatalf("video %+v: want ready, its ladder not complete", got)
		}
		rows := outbox(t, db, v.ID)
		if last := rows[len(rows)-1]; last.Version != got.Version || last.Event.Video.Status != videoforge.StatusReady ||
			len(last.Event.Video.Renditions) != renditions {
			t.Fatalf("last event %+v, video version %d", last, got.Version)
		}
		return got
	}

	t.Run("NewAttempt", func(t *testing.T) {
		js, j, v := newJob(t, db)
		a := start(t, js, j, v, time.Millisecond)
		if _, err := js.PublishRenditions(ctx, a, partial(a, 1)); err != nil {
			t.Fatal(err)
		}
		was := ready(t, v, 1)
		time.Sleep(5 * time.Millisecond) // the lease is a database time; let it pass
		b := start(t, js, j, v, lease)
		if got := ready(t, v, 1); got.Version != was.Version || got.S3Key+"/" != a.Folder() {
			t.Fatalf("a new attempt changed the video: %+v", got)
		}
		// The new attempt's renditions replace the old one's.
		got, err := js.PublishRenditions(ctx, b, partial(b, 2))
		if err != nil || got.S3Key+"/" != b.Folder() || len(got.Renditions) != 2 || got.Renditions[0].Playlist != b.Folder()+"hls/720p/index.m3u8" {
			t.Fatalf("publish of the new attempt: %+v %v", got, err)
		}
	})
	t.Run("Retry", func(t *testing.T) {
		js, j, v := newJob(t, db)
		a := start(t, js, j, v, lease)
		if _, err := js.PublishRenditions(ctx, a, partial(a, 1)); err != nil {
			t.Fatal(err)
		}
		was := ready(t, v, 1)
		failed, err := js.RetryJob(ctx, a, "ffmpeg crashed", 1)
		if err != nil || !failed {
			t.Fatalf("retry: failed %v, %v", failed, err)
		}
		job, _ := js.FindJobByID(ctx, j.ID)
		if job.Status != videoforge.JobFailed || job.Error == nil || *job.Error != "ffmpeg crashed" || job.RenditionsDone != 1 {
			t.Fatalf("job %+v", job)
		}
		if got := ready(t, v, 1); got.Version != was.Version || len(outbox(t, db, v.ID)) != 3 {
			t.Fatalf("the failed job changed the video: %+v", got)
		}
	})
	t.Run("Fail", func(t *testing.T) {
		js, j, v := newJob(t, db)
		a := start(t, js, j, v, lease)
		if _, err := js.PublishRenditions(ctx, a, partial(a, 1)); err != nil {
			t.Fatal(err)
		}
		was := ready(t, v, 1)
		if err := js.FailJob(ctx, j.ID, v.ID, a, "the source is truncated"); err != nil {
			t.Fatal(err)
		}
		job, _ := js.FindJobByID(ctx, j.ID)
		if job.Status != videoforge.JobFailed || *job.Error != "the source is truncated" {
			t.Fatalf("job %+v", job)
		}
		if got := ready(t, v, 1); got.Version != was.Version {
			t.Fatalf("the failed job changed the video: %+v", got)
		}
	})
	// A video that never played fails with its job, as before.
	t.Run("NeverReady", func(t *testing.T) {
		js, j, v := newJob(t, db)
		a := start(t, js, j, v, lease)
		if failed, err := js.RetryJob(ctx, a, "ffmpeg crashed", 1); err != nil || !failed {
			t.Fatalf("retry: failed %v, %v", failed, err)
		}
		got, err := vs.FindVideoByID(ctx, v.ID, "alice")
		if err != nil || got.Status != videoforge.StatusFailed {
			t.Fatalf("video %+v %v", got, err)
		}
	})
}
