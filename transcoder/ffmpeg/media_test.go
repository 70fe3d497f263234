package ffmpeg_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/transcoder/ffmpeg"
)

const howTo = "these tests need ffmpeg and ffprobe on PATH: apt-get install -y ffmpeg (or make deps)"

var clips string // folder of generated sources, made once by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ffmpeg-test-")
	if err != nil {
		panic(err)
	}
	clips = dir
	if err := makeClips(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		fmt.Fprintln(os.Stderr, howTo)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// makeClips generates small sources: a few seconds each, a few hundred pixels.
func makeClips(dir string) error {
	gen := func(name string, args ...string) error {
		args = append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)
		args = append(args, filepath.Join(dir, name))
		if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("generate %s: %v: %s", name, err, out)
		}
		return nil
	}
	video := func(size string, rate, secs int) []string {
		return []string{"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=%d:duration=%d", size, rate, secs)}
	}
	audio := func(secs int) []string {
		return []string{"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:duration=%d", secs)}
	}
	enc := []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	steps := []func() error{
		func() error {
			return gen("landscape.mp4", cat(video("320x240", 30, 3), audio(3), enc, []string{"-c:a", "aac", "-shortest", "-movflags", "+faststart"})...)
		},
		func() error {
			return gen("portrait.mp4", cat(video("180x320", 25, 3), audio(3), enc, []string{"-c:a", "aac", "-shortest"})...)
		},
		func() error {
			return gen("odd.mkv", cat(video("321x241", 60, 2), audio(2), enc, []string{"-c:a", "libvorbis", "-shortest"})...)
		},
		func() error { return gen("silent.mp4", cat(video("320x240", 30, 2), enc)...) },
		func() error { return gen("audio.m4a", cat(audio(2), []string{"-c:a", "aac"})...) },
		func() error {
			return gen("long.mp4", cat(video("320x240", 30, 8), enc, []string{"-movflags", "+faststart"})...)
		},
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	// A cut-off upload whose index is at the front: ffprobe reads it, the media ends early.
	b, err := os.ReadFile(filepath.Join(dir, "long.mp4"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "truncated.mp4"), b[:len(b)/3], 0o644); err != nil {
		return err
	}
	// A cut-off upload whose index was to come at the end.
	b, err = os.ReadFile(filepath.Join(dir, "portrait.mp4"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "truncated-noindex.mp4"), b[:len(b)/2], 0o644); err != nil {
		return err
	}
	junk := bytes.Repeat([]byte("\x00\x13\x37garbage"), 5000)
	if err := os.WriteFile(filepath.Join(dir, "corrupt.mp4"), junk, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a video at all\n"), 0o644)
}

func testConfig() ffmpeg.Config {
	cfg := ffmpeg.DefaultConfig()
	cfg.Rungs = []ffmpeg.Rung{{Name: "240p", Height: 240, VideoBitrate: 400_000}, {Name: "144p", Height: 144, VideoBitrate: 150_000}}
	cfg.Preset = "ultrafast"
	cfg.SegmentDuration = time.Second
	cfg.ThumbnailWidth = 256
	cfg.StoryboardTileWidth = 64
	cfg.StoryboardColumns = 2
	cfg.MaxFPS = 30
	return cfg
}

type probed struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func ffprobe(t *testing.T, path string) probed {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probed
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// decodedSeconds decodes every stream of path and returns how far ffmpeg got.
func decodedSeconds(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-xerror", "-i", path,
		"-map", "0", "-f", "null", "-progress", "pipe:1", "-nostats", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg could not read %s back: %v", path, err)
	}
	var last ffmpeg.Progress
	if err := ffmpeg.ParseProgress(bytes.NewReader(out), func(p ffmpeg.Progress) { last = p }); err != nil {
		t.Fatal(err)
	}
	return last.OutTime.Seconds()
}

func TestTranscode(t *testing.T) {
	cfg := testConfig()
	r := &ffmpeg.Runner{Config: cfg}
	for _, tc := range []struct {
		clip     string
		variants []string // name:WxH
		audio    bool
	}{
		{"landscape.mp4", []string{"240p:320x240", "144p:192x144"}, true},
		{"portrait.mp4", []string{"144p:144x256"}, true},
		{"odd.mkv", []string{"240p:320x240", "144p:192x144"}, true},
		{"silent.mp4", []string{"240p:320x240", "144p:192x144"}, false},
	} {
		t.Run(strings.TrimSuffix(tc.clip, filepath.Ext(tc.clip)), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			src := filepath.Join(clips, tc.clip)
			info, err := ffmpeg.Probe(ctx, r.Bin, src, ffmpeg.Limits{MaxDuration: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			plan := ffmpeg.PlanLadder(info, cfg)
			out := t.TempDir()
			var reports []ffmpeg.Progress
			if err := r.Encode(ctx, src, out, plan, func(p ffmpeg.Progress) { reports = append(reports, p) }); err != nil {
				t.Fatal(err)
			}
			if len(reports) == 0 || !reports[len(reports)-1].End {
				t.Errorf("progress reports %+v: want a last one with End", reports)
			}

			master := filepath.Join(out, layout.MasterPlaylist)
			f, err := os.Open(master)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			vs, err := ffmpeg.ParseMaster(f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range vs {
				got = append(got, strings.TrimSuffix(v.URI, "/index.m3u8")+":"+strconv.Itoa(v.Width)+"x"+strconv.Itoa(v.Height))
				if v.Bandwidth <= 0 || !strings.HasPrefix(v.Codecs, "avc1.") || strings.Contains(v.Codecs, "mp4a") != tc.audio {
					t.Errorf("variant %+v: want BANDWIDTH and CODECS with avc1 (and mp4a: %v)", v, tc.audio)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.variants, " ") {
				t.Errorf("variants %v, want %v", got, tc.variants)
			}

			// Every variant is readable through the master playlist, to the end.
			p := ffprobe(t, master)
			var videos, audios int
			for _, s := range p.Streams {
				switch s.CodecType {
				case "video":
					videos++
				case "audio":
					audios++
				}
			}
			if videos != len(tc.variants) || (tc.audio && audios != len(tc.variants)) || (!tc.audio && audios != 0) {
				t.Errorf("ffprobe of the master: %d video and %d audio streams", videos, audios)
			}
			if got := decodedSeconds(t, master); got < info.Duration-0.2 {
				t.Errorf("ffmpeg read %.2fs of the ladder back, want %.2fs", got, info.Duration)
			}

			w, h, err := r.Thumbnail(ctx, src, out, info)
			if err != nil {
				t.Fatal(err)
			}
			if p := ffprobe(t, filepath.Join(out, layout.ThumbnailFile)); p.Streams[0].Width != w || p.Streams[0].Height != h {
				t.Errorf("thumbnail %dx%d, want %dx%d", p.Streams[0].Width, p.Streams[0].Height, w, h)
			}
			sb, err := r.Storyboard(ctx, src, out, info)
			if err != nil {
				t.Fatal(err)
			}
			if p := ffprobe(t, filepath.Join(out, layout.StoryboardImage)); p.Streams[0].Width != sb.Width() || p.Streams[0].Height != sb.Height() {
				t.Errorf("sprite %dx%d, want %dx%d (%+v)", p.Streams[0].Width, p.Streams[0].Height, sb.Width(), sb.Height(), sb)
			}
			vtt, err := os.ReadFile(filepath.Join(out, layout.StoryboardVTT))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(vtt, []byte("WEBVTT\n")) || bytes.Count(vtt, []byte(" --> ")) != sb.Count {
				t.Errorf("storyboard.vtt:\n%s", vtt)
			}
		})
	}
}

func TestProbeRejects(t *testing.T) {
	for _, tc := range []struct {
		clip   string
		limits ffmpeg.Limits
		code   string
		reason string
	}{
		{"corrupt.mp4", ffmpeg.Limits{}, videoforge.EINVALID, "corrupt"},
		{"truncated-noindex.mp4", ffmpeg.Limits{}, videoforge.EINVALID, "truncated"},
		{"notes.txt", ffmpeg.Limits{}, videoforge.EINVALID, "not a video"},
		{"audio.m4a", ffmpeg.Limits{}, videoforge.EINVALID, "audio only"},
		{"landscape.mp4", ffmpeg.Limits{MaxDuration: 2 * time.Second}, videoforge.ETOOLARGE, "long"},
		{"landscape.mp4", ffmpeg.Limits{MaxSize: 1000}, videoforge.ETOOLARGE, "bytes"},
	} {
		t.Run(tc.clip+"/"+tc.reason, func(t *testing.T) {
			_, err := ffmpeg.Probe(context.Background(), ffmpeg.Binaries{}, filepath.Join(clips, tc.clip), tc.limits)
			if videoforge.ErrorCode(err) != tc.code || !strings.Contains(videoforge.ErrorMessage(err), tc.reason) {
				t.Fatalf("got %v, want %s saying %q", err, tc.code, tc.reason)
			}
		})
	}
	t.Run("Empty", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "empty")
		if err := os.WriteFile(empty, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ffmpeg.Probe(context.Background(), ffmpeg.Binaries{}, empty, ffmpeg.Limits{})
		if videoforge.ErrorCode(err) != videoforge.EINVALID {
			t.Fatalf("got %v", err)
		}
	})
}

func TestEncodeTruncated(t *testing.T) {
	cfg := testConfig()
	r := &ffmpeg.Runner{Config: cfg}
	src := filepath.Join(clips, "truncated.mp4")
	info, err := ffmpeg.Probe(context.Background(), r.Bin, src, ffmpeg.Limits{})
	if err != nil {
		t.Fatalf("the truncated clip's index is at the front, so ffprobe should read it: %v", err)
	}
	err = r.Encode(context.Background(), src, t.TempDir(), ffmpeg.PlanLadder(info, cfg), nil)
	if videoforge.ErrorCode(err) != videoforge.EINVALID || !strings.Contains(videoforge.ErrorMessage(err), "truncated") {
		t.Fatalf("got %v, want EINVALID saying truncated", err)
	}
}

// TestCancelKillsGroup runs a stand-in ffmpeg that leaves a child behind, ignoring SIGINT
// as background jobs of a shell do, and checks that cancelling the job ends both.
func TestCancelKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	script := filepath.Join(dir, "ffmpeg")
	body := "#!/bin/sh\nsleep 300 &\necho $! > " + pidFile + "\n" +
		"exec ffmpeg -hide_banner -nostdin -loglevel error -re -f lavfi -i testsrc2=size=64x64:rate=10 -progress pipe:1 -nostats -f null -\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	r := &ffmpeg.Runner{Bin: ffmpeg.Binaries{FFmpeg: script}, Config: testConfig()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{}, 1)
	done := make(chan error, 1)
	info := &ffmpeg.Info{Width: 64, Height: 64, Duration: 600}
	go func() {
		done <- r.Encode(ctx, "/dev/null", dir, ffmpeg.PlanLadder(info, testConfig()), func(ffmpeg.Progress) {
			select {
			case started <- struct{}{}:
			default:
			}
		})
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("ended before any progress: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no progress from the stand-in ffmpeg")
	}
	began := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(ffmpeg.KillDelay + 5*time.Second):
		t.Fatal("Encode did not return after cancel")
	}
	t.Logf("stopped in %v", time.Since(began))
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for syscall.Kill(pid, 0) == nil { // zombies count as gone once reaped by init
		if status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); strings.Contains(string(status), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d of the stand-in ffmpeg outlived the cancel", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
