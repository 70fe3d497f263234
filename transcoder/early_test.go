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
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/transcoder"
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
// source's whole length, and the job is still processing. The copy, at the top rung's
// size, stands in for that rung; the commit adds the rest and marks the ladder
// complete.
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
	// Each publish seen: the renditions its event lists, and whether the ladder was
	// complete then.
	type publish struct {
		renditions int
		complete   bool
	}
	publishes := make(chan publish, 4)
	start(t, cfg, q, e, func(point string) {
		switch point {
		case "encoding":
			close(atLadder)
			<-release
		case "published":
			ev := e.lastEvent(t, msg.VideoID)
			if ev.Video != nil && ev.Video.LadderComplete != nil {
				publishes <- publish{len(ev.Video.Renditions), *ev.Video.LadderComplete}
			}
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
		ev.Video.Renditions[0].Name != "240p" || ev.Video.Renditions[0].Width != 320 || ev.Video.Renditions[0].Height != 240 {
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
	// The copy was published first, then the ladder's 144p while it was encoded, beside it.
	var seen []publish
	for len(publishes) > 0 {
		seen = append(seen, <-publishes)
	}
	if len(seen) != 2 || seen[0] != (publish{1, false}) || seen[1] != (publish{2, false}) {
		t.Errorf("publishes %+v: want the copy alone, then the copy and the 144p, neither complete", seen)
	}
	e.checkResults(t, msg, []string{"240p:320x240", "144p:192x144"}, true)
	v, err = e.videos.FindVideoByID(ctx, msg.VideoID, "alice")
	if err != nil || !v.LadderComplete {
		t.Fatalf("after the commit: %+v, %v: want the ladder complete", v, err)
	}
	if n := e.readyEvents(t, msg.VideoID); n != 1 {
		t.Errorf("%d complete events, want 1", n)
	}
	if ev := e.lastEvent(t, msg.VideoID); ev.Video == nil || len(ev.Video.Renditions) != 2 || ev.Video.Renditions[0].Bandwidth < 700_000 {
		t.Errorf("the committed ladder %+v: want the copy (its bitrate, above 700 kb/s) standing in for the 240p rung", ev.Video)
	}
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

// TestGrowingFirstRung: a VP9/WebM upload, which browsers cannot take as it is, plays
// from its smallest rung while that rung is still being encoded: the rendition is
// published with its first segments, its playlist growing (no end yet), and the video
// is ready. The encode of that rung reads the source at its own pace (ffmpeg's
// -readrate 1, through a wrapper), so that it lasts the clip's five seconds and the
// publish comes before its end. The commit then adds the rest of the ladder.
func TestGrowingFirstRung(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig(t)
	cfg.Workers = 1
	wrapper := filepath.Join(t.TempDir(), "ffmpeg")
	script := "#!/bin/sh\ncase \"$*\" in *'-hls_playlist_type event'*) exec ffmpeg -readrate 1 \"$@\";; esac\nexec ffmpeg \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.Bin.FFmpeg = wrapper
	q, _ := e.jsQueue(t, cfg)
	msg := e.newJob(t, "vp9.webm")
	if err := transcoder.Enqueue(context.Background(), q, msg); err != nil {
		t.Fatal(err)
	}
	type seen struct {
		video    *videoforge.Video
		playlist string
		segment  string // the first segment, stored
	}
	at := make(chan seen, 1)
	ctx := context.Background()
	first := true
	start(t, cfg, q, e, func(point string) {
		if point != "published" || !first {
			return // the ladder's rung is published too, later
		}
		first = false
		var s seen
		s.video, _ = e.videos.FindVideoByID(ctx, msg.VideoID, "alice")
		if s.video != nil {
			dir := e.download(t, s.video.S3Key+"/"+layout.HLSDir+"/144p/")
			b, _ := os.ReadFile(filepath.Join(dir, layout.VariantIndex))
			s.playlist, s.segment = string(b), filepath.Join(dir, "seg_0000.ts")
		}
		at <- s
	})
	var s seen
	select {
	case s = <-at:
	case <-time.After(time.Minute):
		t.Fatal("the first rung was never published")
	}
	if s.video == nil || s.video.Status != videoforge.StatusReady || s.video.LadderComplete {
		t.Fatalf("at the first publish: %+v, want ready with the ladder to come", s.video)
	}
	if !strings.Contains(s.playlist, "#EXT-X-PLAYLIST-TYPE:EVENT") || strings.Contains(s.playlist, "#EXT-X-ENDLIST") ||
		!strings.Contains(s.playlist, "seg_0000.ts") {
		t.Fatalf("the published playlist is not a growing one with a segment:\n%s", s.playlist)
	}
	out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", s.segment, "-map", "0", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("the first published segment does not play: %v: %s", err, out)
	}
	e.waitJob(t, msg.JobID, videoforge.JobCompleted, time.Minute)
	e.checkResults(t, msg, []string{"240p:320x240", "144p:192x144"}, true)
	// Published early: the first rung, then the ladder's 240p while it was encoded.
	if n, m := e.earlyEvents(t, msg.VideoID), e.readyEvents(t, msg.VideoID); n != 2 || m != 1 {
		t.Errorf("%d early and %d complete events, want 2 and 1", n, m)
	}
	v, err := e.videos.FindVideoByID(ctx, msg.VideoID, "alice")
	if err != nil || !v.LadderComplete {
		t.Fatalf("after the commit: %+v, %v", v, err)
	}
	dir := e.download(t, v.S3Key+"/"+layout.HLSDir+"/144p/")
	if b, err := os.ReadFile(filepath.Join(dir, layout.VariantIndex)); err != nil || !strings.Contains(string(b), "#EXT-X-ENDLIST") {
		t.Errorf("the first rung's playlist has no end after the commit: %v\n%s", err, b)
	}
}

// heldDownload is the test's object store with whole downloads of sources held until
// released: what the transcoder reads in ranges still comes through.
type heldDownload struct {
	*storage.Store
	release chan struct{}
}

func (s heldDownload) DownloadSource(ctx context.Context, src videoforge.Source, name string) (int64, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return s.Store.DownloadSource(ctx, src, name)
}

// TestPlayableBeforeDownload: an upload plays before its download is done (the whole
// download is held meanwhile): its headers are probed and it is read in ranges from
// storage. An H.264 one whose moov box is at its end is stream-copied; a VP9/WebM one
// has its smallest rung encoded first. Once the download comes through, the job
// completes with the whole ladder, once.
func TestPlayableBeforeDownload(t *testing.T) {
	src := filepath.Join(clips, "landscape.mp4")
	if out, err := exec.Command("ffprobe", "-v", "trace", src).CombinedOutput(); err != nil ||
		strings.Index(string(out), "type:'moov'") < strings.Index(string(out), "type:'mdat'") {
		t.Fatalf("landscape.mp4 should have its moov box after its mdat: %v", err)
	}
	for _, tc := range []struct{ clip, early string }{{"landscape.mp4", "240p"}, {"vp9.webm", "144p"}} {
		t.Run(tc.clip, func(t *testing.T) { playableBeforeDownload(t, tc.clip, tc.early) })
	}
}

func playableBeforeDownload(t *testing.T, clip, early string) {
	e := newEnv(t)
	cfg := testConfig(t)
	cfg.Workers = 1
	q, _ := e.jsQueue(t, cfg)
	msg := e.newJob(t, clip)
	if err := transcoder.Enqueue(context.Background(), q, msg); err != nil {
		t.Fatal(err)
	}
	held := heldDownload{e.st, make(chan struct{})}
	released := false
	defer func() {
		if !released {
			close(held.release)
		}
	}()
	tr, err := transcoder.New(cfg, q, held, e.jobs, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tr.Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	var v *videoforge.Video
	waitFor(t, time.Minute, "the video playable while its download is held", func() bool {
		v, err = e.videos.FindVideoByID(ctx, msg.VideoID, "alice")
		return err == nil && v.Status == videoforge.StatusReady
	})
	if ev := e.lastEvent(t, msg.VideoID); v.LadderComplete || ev.Video == nil || len(ev.Video.Renditions) != 1 || ev.Video.Renditions[0].Name != early {
		t.Fatalf("video %+v, event %+v: want ready with the %s alone", v, ev.Video, early)
	}
	dir := e.download(t, v.S3Key+"/")
	segment := filepath.Join(dir, layout.HLSDir, early, fmt.Sprintf(layout.SegmentPattern, 0))
	out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", segment, "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("the first published segment does not play: %v: %s", err, out)
	}
	released = true
	close(held.release)
	e.waitJob(t, msg.JobID, videoforge.JobCompleted, time.Minute)
	e.checkResults(t, msg, []string{"240p:320x240", "144p:192x144"}, true)
	if n := e.readyEvents(t, msg.VideoID); n != 1 {
		t.Errorf("%d complete commits, want 1", n)
	}
}
