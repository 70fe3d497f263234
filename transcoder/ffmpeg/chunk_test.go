package ffmpeg_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/transcoder/ffmpeg"
)

func TestChunkSpans(t *testing.T) {
	for _, tc := range []struct {
		duration, chunk, seg float64
		want                 []ffmpeg.Span
	}{
		{10, 8, 4, []ffmpeg.Span{{0, 10}}},        // not longer than two chunks: one piece
		{16, 8, 4, []ffmpeg.Span{{0, 16}}},        // idem
		{17, 8, 4, []ffmpeg.Span{{0, 8}, {8, 9}}}, // the tail under a segment joins the chunk before
		{21, 8, 4, []ffmpeg.Span{{0, 8}, {8, 8}, {16, 5}}},
		{24, 7, 4, []ffmpeg.Span{{0, 8}, {8, 8}, {16, 8}}}, // rounded to whole segments
		{30, 8, 6, []ffmpeg.Span{{0, 6}, {6, 6}, {12, 6}, {18, 6}, {24, 6}}},
	} {
		got := ffmpeg.ChunkSpans(tc.duration, tc.chunk, tc.seg)
		if len(got) != len(tc.want) {
			t.Errorf("ChunkSpans(%v, %v, %v) = %v, want %v", tc.duration, tc.chunk, tc.seg, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("ChunkSpans(%v, %v, %v) = %v, want %v", tc.duration, tc.chunk, tc.seg, got, tc.want)
				break
			}
		}
	}
}

// TestChunkedLadder: a source encoded in chunks and stitched plays as one encode: it
// decodes without an error, lasts the source's length to a frame, its segments are
// numbered on and its video timestamps run on at the frame rate across the joins, and
// its sound has no gap.
func TestChunkedLadder(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "long.mp4")
	gen := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=13",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=13",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", src)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("generate: %v: %s", err, out)
	}
	ctx := context.Background()
	info, err := ffmpeg.Probe(ctx, ffmpeg.Binaries{}, src, ffmpeg.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ffmpeg.DefaultConfig()
	cfg.SegmentDuration = 2 * time.Second
	plan := ffmpeg.PlanLadder(info, cfg)
	if len(plan.Variants) < 2 {
		t.Fatalf("plan %+v: want two rungs at least", plan)
	}
	spans := ffmpeg.ChunkSpans(info.Duration, 4, 2)
	if len(spans) != 3 {
		t.Fatalf("spans %v", spans)
	}
	r := &ffmpeg.Runner{Config: cfg}
	var chunkDirs []string
	for i, sp := range spans {
		d := filepath.Join(dir, "chunk"+strconv.Itoa(i))
		if err := r.EncodeChunk(ctx, src, d, plan, sp, i == len(spans)-1, nil); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		chunkDirs = append(chunkDirs, d)
	}
	audio := filepath.Join(dir, ffmpeg.AudioFile)
	if err := r.EncodeAudio(ctx, src, audio, plan); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	for _, v := range plan.Variants {
		var files []string
		for _, d := range chunkDirs {
			files = append(files, filepath.Join(d, ffmpeg.ChunkFile(v)))
		}
		if err := r.Stitch(ctx, files, spans, audio, out, v, info.Duration); err != nil {
			t.Fatalf("stitch %s: %v", v.Name, err)
		}
		playlist := filepath.Join(out, layout.HLSDir, v.Name, layout.VariantIndex)
		checkStitched(t, v.Name, playlist, info.Duration, 30)
	}
}

// checkStitched decodes a stitched rendition and checks its frames and sound.
func checkStitched(t *testing.T, name, playlist string, duration, fps float64) {
	t.Helper()
	dec := exec.Command("ffmpeg", "-hide_banner", "-v", "error", "-i", playlist, "-f", "null", "-")
	if out, err := dec.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("%s: decoding the stitched rendition: %v: %s", name, err, out)
	}
	body, err := os.ReadFile(playlist)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < strings.Count(string(body), "#EXTINF"); i++ {
		if !strings.Contains(string(body), fmt.Sprintf(layout.SegmentPattern, i)) {
			t.Errorf("%s: segment %d is not listed: %s", name, i, body)
		}
	}
	times := func(stream string) []float64 {
		out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "packet=pts_time",
			"-of", "csv=p=0", playlist).Output()
		if err != nil {
			t.Fatalf("%s: ffprobe: %v", name, err)
		}
		var ts []float64
		for _, l := range strings.Fields(string(out)) {
			f, err := strconv.ParseFloat(strings.TrimSuffix(l, ","), 64)
			if err == nil {
				ts = append(ts, f)
			}
		}
		slices.Sort(ts)
		return ts
	}
	video := times("v:0")
	frame := 1 / fps
	if got := float64(len(video)); got < duration*fps-1 || got > duration*fps+1 {
		t.Errorf("%s: %v frames, want %v within one", name, got, duration*fps)
	}
	for i := 1; i < len(video); i++ {
		if d := video[i] - video[i-1]; d < frame*0.5 || d > frame*1.5 {
			t.Errorf("%s: frames %d and %d are %.4fs apart, want %.4fs", name, i-1, i, d, frame)
			break
		}
	}
	sound := times("a:0")
	if len(sound) == 0 {
		t.Fatalf("%s: no sound", name)
	}
	for i := 1; i < len(sound); i++ {
		if d := sound[i] - sound[i-1]; d > 0.03 {
			t.Errorf("%s: a gap of %.3fs in the sound at %.3fs", name, d, sound[i-1])
			break
		}
	}
	if end := sound[len(sound)-1] - sound[0]; end < duration-0.1 {
		t.Errorf("%s: the sound lasts %.3fs of %.3fs", name, end, duration)
	}
}
