package transcoder_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/internal/testutil"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/transcoder"
	"github.com/videoforge/videoforge/transcoder/ffmpeg"
)

// download copies the objects under prefix into a new folder and returns it.
func (e *env) download(t *testing.T, prefix string) string {
	t.Helper()
	ctx := context.Background()
	keys, err := e.st.List(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, k := range keys {
		p := filepath.Join(dir, strings.TrimPrefix(k, prefix))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.Download(ctx, k, p); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// lastEvent returns the video's latest outbox event.
func (e *env) lastEvent(t *testing.T, videoID int64) videoforge.Event {
	t.Helper()
	var payload []byte
	if err := e.db.Pool().QueryRow(context.Background(), `SELECT payload FROM outbox WHERE video_id = $1 ORDER BY id DESC LIMIT 1`,
		videoID).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	var ev videoforge.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// earlyEvents counts the video's outbox events that made it playable before its
// ladder was done.
func (e *env) earlyEvents(t *testing.T, videoID int64) int {
	t.Helper()
	var n int
	err := e.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE video_id = $1
		AND payload->'video'->>'status' = 'ready' AND payload->'video'->>'ladderComplete' = 'false'`, videoID).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPlayableBeforeLadder: an H.264 upload plays from its stream copy while the
// ladder is still being encoded (held at the encoding step): the video is ready with
// one rendition and its ladder marked incomplete, the stored master decodes for the
// source's whole length, and the job is still processing. The commit then replaces
// the copy (more bits than the ladder's top) by the ladder, marks it complete, and
// removes the copy's objects.
func TestPlayableBeforeLadder(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig(t)
	cfg.Workers = 1
	q, _ := e.jsQueue(t, cfg)
	msg := e.newJob(t, "landscape.mp4")
	if err := transcoder.Enqueue(context.Background(), q, msg); err != nil {
		t.Fatal(err)
	}
	atLadder, release := make(chan struct{}), make(chan struct{})
	released := false
	defer func() { // before the transcoder stops, should the test end early
		if !released {
			close(release)
		}
	}()
	start(t, cfg, q, e, func(point string) {
		if point == "encoding" {
			close(atLadder)
			<-release
		}
	})
	select {
	case <-atLadder:
	case <-time.After(time.Minute):
		t.Fatal("the ladder never started")
	}
	ctx := context.Background()
	v, err := e.videos.FindVideoByID(ctx, msg.VideoID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	ev := e.lastEvent(t, msg.VideoID)
	if v.Status != videoforge.StatusReady || v.LadderComplete || ev.Video == nil || len(ev.Video.Renditions) != 1 ||
		ev.Video.Renditions[0].Name != ffmpeg.CopyName || ev.Video.Renditions[0].Width != 320 || ev.Video.Renditions[0].Height != 240 {
		t.Fatalf("before the ladder: video %+v, event %+v: want ready with the stream copy alone", v, ev.Video)
	}
	if j := e.waitJob(t, msg.JobID, videoforge.JobProcessing, time.Second); j.RenditionsDone != 1 {
		t.Errorf("job %+v, want processing with one rendition done", j)
	}
	dir := e.download(t, v.S3Key+"/")
	master := filepath.Join(dir, layout.MasterPlaylist)
	out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", master, "-map", "0", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("the published copy does not play: %v: %s", err, out)
	}
	if n := e.earlyEvents(t, msg.VideoID); n != 1 {
		t.Errorf("%d early events, want 1", n)
	}
	released = true
	close(release)
	e.waitJob(t, msg.JobID, videoforge.JobCompleted, time.Minute)
	e.checkResults(t, msg, []string{"240p:320x240", "144p:192x144"}, true)
	v, err = e.videos.FindVideoByID(ctx, msg.VideoID, "alice")
	if err != nil || !v.LadderComplete {
		t.Fatalf("after the commit: %+v, %v: want the ladder complete", v, err)
	}
	if n := e.readyEvents(t, msg.VideoID); n != 1 {
		t.Errorf("%d complete events, want 1", n)
	}
	copyFolder := v.S3Key + "/" + layout.HLSDir + "/" + ffmpeg.CopyName + "/"
	testutil.WaitFor(t, 30*time.Second, "the replaced copy removed", func() error {
		keys, err := e.st.List(ctx, copyFolder)
		if err != nil || len(keys) > 0 {
			return fmt.Errorf("%v left, %v", keys, err)
		}
		return nil
	})
}

// TestPublishedAttemptKeepsFolder: an attempt that published its copy and then fails
// for good leaves the video playing from that copy: ready, its ladder incomplete, its
// folder stored, the job failed with the reason.
func TestPublishedAttemptKeepsFolder(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig(t)
	cfg.Workers, cfg.MaxAttempts = 1, 1
	q, _ := e.jsQueue(t, cfg)
	msg := e.newJob(t, "landscape.mp4")
	if err := transcoder.Enqueue(context.Background(), q, msg); err != nil {
		t.Fatal(err)
	}
	// The worker crashes as the ladder starts: a failure of the work, the last one allowed.
	start(t, cfg, q, e, func(point string) {
		if point == "encoding" {
			panic("ffmpeg crashed")
		}
	})
	j := e.waitJob(t, msg.JobID, videoforge.JobFailed, time.Minute)
	if j.Error == nil || !strings.Contains(*j.Error, "crashed") {
		t.Errorf("job %+v: want failed, saying why", j)
	}
	ctx := context.Background()
	v, err := e.videos.FindVideoByID(ctx, msg.VideoID, "alice")
	if err != nil || v.Status != videoforge.StatusReady || v.LadderComplete {
		t.Fatalf("video %+v, %v: want it still playing from its copy", v, err)
	}
	dir := e.download(t, v.S3Key+"/")
	out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", filepath.Join(dir, layout.MasterPlaylist), "-map", "0", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("the copy no longer plays: %v: %s", err, out)
	}
}
