package transcoder_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/transcoder"
	"github.com/videoforge/videoforge/transcoder/ffmpeg"
)

// chunkRungs is the ladder of the chunk tests: the 320x240 H.264 source's copy
// stands in for the 240p rung, and the two others are encoded in chunks.
var chunkRungs = []ffmpeg.Rung{{Name: "240p", Height: 240, VideoBitrate: 400_000},
	{Name: "180p", Height: 180, VideoBitrate: 250_000}, {Name: "144p", Height: 144, VideoBitrate: 150_000}}

// chunkConfig splits the 12 s long.mp4 into four chunks of 3 s.
func chunkConfig(t *testing.T) transcoder.Config {
	cfg := testConfig(t)
	cfg.Workers = 1
	cfg.FFmpeg.Rungs = chunkRungs
	cfg.ChunkDuration = 3 * time.Second
	cfg.ChunkPoll = 50 * time.Millisecond
	return cfg
}

// checkChunked checks a chunked job's outcome: one complete commit, every rendition
// of the ladder stored, the ladder decoding whole, the stitched renditions lasting the
// source's 360 frames to one, and no chunk's files left behind.
func (e *env) checkChunked(t *testing.T, msg videoforge.JobMessage) {
	t.Helper()
	e.checkResults(t, msg, []string{"240p:320x240", "180p:240x180", "144p:192x144"}, true)
	if n := e.readyEvents(t, msg.VideoID); n != 1 {
		t.Errorf("%d complete commits, want exactly 1", n)
	}
	v, err := e.videos.FindVideoByID(context.Background(), msg.VideoID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	dir := e.download(t, v.S3Key+"/")
	for _, name := range []string{"180p", "144p"} {
		playlist := filepath.Join(dir, layout.VariantPlaylist(name))
		out, err := exec.Command("ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0",
			"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", playlist).Output()
		if err != nil {
			t.Fatalf("%s: ffprobe: %v", name, err)
		}
		fields := strings.Fields(string(out)) // one line per program of the playlist
		frames := 0
		if len(fields) > 0 {
			frames, _ = strconv.Atoi(strings.Trim(fields[0], ","))
		}
		if frames < 359 || frames > 361 {
			t.Errorf("%s: %d frames, want 360 within one", name, frames)
		}
		dec, err := exec.Command("ffmpeg", "-v", "error", "-i", playlist, "-f", "null", "-").CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(dec))) > 0 {
			t.Errorf("%s: decoding the stitched rendition: %v: %s", name, err, dec)
		}
	}
	if keys := e.keys(t, layout.ChunksFolder(msg.VideoID, 1)); len(keys) > 0 {
		t.Errorf("chunk files left behind: %v", keys)
	}
}

// pacedFFmpeg returns an ffmpeg wrapper whose chunk encodes read the source at its
// own pace (-readrate 1), so that a chunk takes its length.
func pacedFFmpeg(t *testing.T) string {
	wrapper := filepath.Join(t.TempDir(), "ffmpeg")
	script := "#!/bin/sh\ncase \"$*\" in *'-an -dn -sn -f mpegts'*) exec ffmpeg -readrate 1 \"$@\";; esac\nexec ffmpeg \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return wrapper
}

// TestChunkedAcrossWorkers: a long source's ladder is encoded in chunks by two
// transcoders, the one holding the job and another that only takes chunk messages,
// and stitched into renditions that play as one encode's; each stitched rung is
// published as it is done; the job completes once.
func TestChunkedAcrossWorkers(t *testing.T) {
	e := newEnv(t)
	cfg := chunkConfig(t)
	// Chunks last their length, so that neither worker does them all before the
	// other one is done with its own share.
	cfg.Bin.FFmpeg = pacedFFmpeg(t)
	qa, _ := e.jsQueue(t, cfg)
	qb, _ := e.jsQueue(t, cfg)
	msg := e.newJob(t, "long.mp4")
	if err := transcoder.Enqueue(context.Background(), qa, msg); err != nil {
		t.Fatal(err)
	}
	var byA, byB atomic.Int32
	bWorking := make(chan struct{})
	var bOnce atomic.Bool
	// B starts first, so that it is waiting for messages when the job's comes: it
	// takes the job's message or a chunk's, whichever it receives.
	var coordinator atomic.Value
	hook := func(name string, done *atomic.Int32) func(string) {
		return func(point string) {
			switch point {
			case "chunks-sent":
				coordinator.Store(name)
				// The other one works on a chunk before this one takes its own.
				select {
				case <-bWorking:
				case <-time.After(30 * time.Second):
				}
			case "chunk-encoding":
				if c, _ := coordinator.Load().(string); c != name && bOnce.CompareAndSwap(false, true) {
					close(bWorking)
				}
			case "chunk-completing":
				done.Add(1)
			}
		}
	}
	start(t, cfg, qb, e, hook("B", &byB))
	start(t, cfg, qa, e, hook("A", &byA))
	j := e.waitJob(t, msg.JobID, videoforge.JobCompleted, 2*time.Minute)
	if j.Attempts != 1 {
		t.Errorf("attempts %d, want 1", j.Attempts)
	}
	if !bOnce.Load() {
		t.Error("the worker not holding the job encoded no chunk")
	}
	if a, b := byA.Load(), byB.Load(); a+b != 4 || a == 0 || b == 0 {
		t.Errorf("chunks completed: %d and %d, want 4 shared by both", a, b)
	}
	chunks, err := e.jobs.Chunks(context.Background(), msg.JobID, 1)
	if err != nil || len(chunks) != 4 {
		t.Fatalf("chunks %+v, %v", chunks, err)
	}
	for _, c := range chunks {
		if !c.Done || c.Claim != 1 {
			t.Errorf("chunk %+v, want done by its first claim", c)
		}
	}
	e.checkChunked(t, msg)
	// Published: the copy, then each stitched rung, before the commit.
	if n := e.earlyEvents(t, msg.VideoID); n != 3 {
		t.Errorf("%d early publishes, want 3 (the copy, then 180p, then 144p)", n)
	}
}

// TestChunkWorkerKilled: the process encoding a chunk is killed while ffmpeg runs;
// once its claim's lease runs out the chunk is claimed again and encoded by the
// attempt holding the job, which completes once and plays whole.
func TestChunkWorkerKilled(t *testing.T) {
	e := newEnv(t)
	cfg := chunkConfig(t)
	q, qc := e.jsQueue(t, cfg)
	msg := e.newJob(t, "long.mp4")
	if err := transcoder.Enqueue(context.Background(), q, msg); err != nil {
		t.Fatal(err)
	}
	// The killed worker's chunk encodes read the source at its own pace, so that its
	// first lease renewal, a third of the visibility in, comes while ffmpeg runs.
	wrapper := pacedFFmpeg(t)
	split, resume := make(chan struct{}), make(chan struct{})
	resumed := false
	defer func() {
		if !resumed {
			close(resume)
		}
	}()
	var sawSplit atomic.Bool
	start(t, cfg, q, e, func(point string) {
		if point == "chunks-sent" && sawSplit.CompareAndSwap(false, true) {
			close(split)
			<-resume
		}
	})
	select {
	case <-split:
	case <-time.After(time.Minute):
		t.Fatal("the job was never split")
	}
	// The child waits, killed, at its first renewal of its chunk's lease.
	cmd := e.startChild(t, childConfig{Queue: qc, Point: "chunk-heartbeat", Chunk: cfg.ChunkDuration, Rungs: chunkRungs, FFmpeg: wrapper})
	chunks, err := e.jobs.Chunks(context.Background(), msg.JobID, 1)
	if err != nil {
		t.Fatal(err)
	}
	held := -1
	for _, c := range chunks {
		if c.Held {
			held = c.Index
		}
	}
	if held < 0 {
		t.Fatalf("no chunk is held when its worker is killed: %+v", chunks)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	close(resume)
	resumed = true
	j := e.waitJob(t, msg.JobID, videoforge.JobCompleted, 2*time.Minute)
	if j.Attempts != 1 {
		t.Errorf("attempts %d, want 1: a lost chunk is not a lost job", j.Attempts)
	}
	chunks, err = e.jobs.Chunks(context.Background(), msg.JobID, 1)
	if err != nil || len(chunks) != 4 {
		t.Fatalf("chunks %+v, %v", chunks, err)
	}
	for _, c := range chunks {
		if want := map[bool]int64{true: 2, false: 1}[c.Index == held]; !c.Done || c.Claim != want {
			t.Errorf("chunk %+v, want done by claim %d", c, want)
		}
	}
	e.checkChunked(t, msg)
}

// TestChunkWorkerPaused: a worker pauses as it starts a chunk, its lease renewals
// stopped with it (and for good), until its claim's lease runs out; the chunk is claimed again and the
// job completes without it. When the paused worker goes on, it encodes and stores the
// chunk, its completion is refused, and its files are removed: a chunk done twice
// counts once, and the job's commit stands alone.
func TestChunkWorkerPaused(t *testing.T) {
	e := newEnv(t)
	cfg := chunkConfig(t)
	cfg.Bin.FFmpeg = pacedFFmpeg(t)
	qa, _ := e.jsQueue(t, cfg)
	qb, _ := e.jsQueue(t, cfg)
	msg := e.newJob(t, "long.mp4")
	paused, resume := make(chan struct{}), make(chan struct{})
	resumed := false
	defer func() {
		if !resumed {
			close(resume)
		}
	}()
	var once, coordinating, completing atomic.Bool
	// A holds the job; it waits at the split until B paused.
	start(t, cfg, qa, e, func(point string) {
		if point == "chunks-sent" {
			coordinating.Store(true)
			select {
			case <-paused:
			case <-time.After(30 * time.Second):
			}
		}
	})
	if err := transcoder.Enqueue(context.Background(), qa, msg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the job split", coordinating.Load)
	// B's renewals stop with its pause and stay stopped, so that it learns it lost
	// the chunk only when it completes it.
	var pausing atomic.Bool
	renewals := make(chan struct{})
	defer close(renewals)
	start(t, cfg, qb, e, func(point string) {
		switch point {
		case "chunk-encoding":
			if once.CompareAndSwap(false, true) {
				pausing.Store(true)
				close(paused)
				<-resume
			}
		case "chunk-heartbeat":
			if pausing.Load() {
				<-renewals
			}
		case "chunk-completing":
			completing.Store(true)
		}
	})
	select {
	case <-paused:
	case <-time.After(time.Minute):
		t.Fatal("the second worker never started a chunk")
	}
	chunks, err := e.jobs.Chunks(context.Background(), msg.JobID, 1)
	if err != nil {
		t.Fatal(err)
	}
	held := videoforge.Chunk{Index: -1}
	for _, c := range chunks {
		if c.Held {
			held = c
		}
	}
	if held.Index < 0 || held.Claim != 1 {
		t.Fatalf("chunks %+v: want the paused worker's chunk held by claim 1", chunks)
	}
	e.waitJob(t, msg.JobID, videoforge.JobCompleted, 2*time.Minute)
	close(resume)
	resumed = true
	stale := layout.ChunkFolder(msg.VideoID, 1, held.Index, 1)
	waitFor(t, time.Minute, "the paused worker done with its chunk, its files removed", func() bool {
		return completing.Load() && len(e.keys(t, stale)) == 0
	})
	chunks, err = e.jobs.Chunks(context.Background(), msg.JobID, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		if want := map[bool]int64{true: 2, false: 1}[c.Index == held.Index]; !c.Done || c.Claim != want {
			t.Errorf("chunk %+v, want done by claim %d", c, want)
		}
	}
	e.checkChunked(t, msg)
}
