package ffmpeg_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/transcoder/ffmpeg"
)

// TestStreamCopyChoice: only what browsers play as it is gets copied; a copy at the
// ladder top's size stands in for it, a larger one goes above the ladder.
func TestStreamCopyChoice(t *testing.T) {
	phone := ffmpeg.Info{Width: 1920, Height: 1080, FPS: 30, VideoCodec: "h264", VideoProfile: "High", PixFmt: "yuv420p",
		VideoLevel: 40, VideoBitrate: 10_000_000, AudioCodec: "aac", SquarePixels: true, Duration: 60}
	plan := ffmpeg.PlanLadder(&phone, ffmpeg.DefaultConfig())
	if v, replaces, ok := ffmpeg.StreamCopy(&phone, plan); !ok || !replaces || v.Name != "1080p" || v.Width != 1920 || v.VideoBitrate != 10_000_000 {
		t.Errorf("a phone's 1080p at 10 Mb/s: %+v replaces=%v ok=%v, want it to stand in for the 1080p rung", v, replaces, ok)
	}
	uhd := phone
	uhd.Width, uhd.Height, uhd.VideoBitrate = 3840, 2160, 30_000_000
	if v, replaces, ok := ffmpeg.StreamCopy(&uhd, ffmpeg.PlanLadder(&uhd, ffmpeg.DefaultConfig())); !ok || replaces || v.Name != "2160p" {
		t.Errorf("4K at 30 Mb/s: %+v replaces=%v ok=%v, want a copy above the ladder", v, replaces, ok)
	}
	between := phone
	between.Width, between.Height, between.VideoBitrate = 1600, 900, 6_000_000
	if v, replaces, ok := ffmpeg.StreamCopy(&between, ffmpeg.PlanLadder(&between, ffmpeg.DefaultConfig())); !ok || replaces || v.Name != "900p" {
		t.Errorf("900p between the rungs: %+v replaces=%v ok=%v, want a copy above the 720p rung", v, replaces, ok)
	}
	if got := ffmpeg.CopyCodecs(&phone); got != "avc1.640028,mp4a.40.2" {
		t.Errorf("codecs %q", got)
	}
	for name, change := range map[string]func(*ffmpeg.Info){
		"HEVC":        func(i *ffmpeg.Info) { i.VideoCodec = "hevc" },
		"VP9":         func(i *ffmpeg.Info) { i.VideoCodec = "vp9" },
		"10-bit":      func(i *ffmpeg.Info) { i.PixFmt = "yuv420p10le" },
		"4:2:2":       func(i *ffmpeg.Info) { i.PixFmt = "yuv422p"; i.VideoProfile = "High 4:2:2" },
		"Opus":        func(i *ffmpeg.Info) { i.AudioCodec = "opus" },
		"rotated":     func(i *ffmpeg.Info) { i.Rotated = true },
		"anamorphic":  func(i *ffmpeg.Info) { i.SquarePixels = false },
		"level 6.2":   func(i *ffmpeg.Info) { i.VideoLevel = 62 },
		"80 Mb/s":     func(i *ffmpeg.Info) { i.VideoBitrate = 80_000_000 },
		"no bitrate":  func(i *ffmpeg.Info) { i.VideoBitrate = 0 },
		"bloated SD":  func(i *ffmpeg.Info) { i.Width, i.Height, i.VideoBitrate = 640, 360, 9_000_000 },
		"High 10":     func(i *ffmpeg.Info) { i.VideoProfile = "High 10" },
		"unknown lvl": func(i *ffmpeg.Info) { i.VideoLevel = 0 },
	} {
		info := phone
		change(&info)
		if _, _, ok := ffmpeg.StreamCopy(&info, ffmpeg.PlanLadder(&info, ffmpeg.DefaultConfig())); ok {
			t.Errorf("%s: copied", name)
		}
	}
	silent := phone
	silent.AudioCodec = ""
	if _, _, ok := ffmpeg.StreamCopy(&silent, plan); !ok || ffmpeg.CopyCodecs(&silent) != "avc1.640028" {
		t.Errorf("a silent source is not copied, or its codecs name sound")
	}
}

// TestRemux copies a real H.264 source into HLS: the rendition decodes through its
// master playlist for the source's whole length, at the source's size, without a
// single re-encoded frame.
func TestRemux(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig()
	r := &ffmpeg.Runner{Config: cfg}
	src := filepath.Join(clips, "landscape.mp4")
	info, err := ffmpeg.Probe(ctx, r.Bin, src, ffmpeg.Limits{MaxDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	plan := ffmpeg.PlanLadder(info, cfg)
	v, _, ok := ffmpeg.StreamCopy(info, plan)
	if !ok {
		t.Fatalf("the generated H.264 clip is not copied: %+v", info)
	}
	out := t.TempDir()
	if err := r.Remux(ctx, src, out, v, plan); err != nil {
		t.Fatal(err)
	}
	mv := ffmpeg.MasterVariant{Bandwidth: v.VideoBitrate, Width: v.Width, Height: v.Height, Codecs: ffmpeg.CopyCodecs(info),
		URI: v.Name + "/" + layout.VariantIndex}
	if err := ffmpeg.WriteMaster(filepath.Join(out, layout.MasterPlaylist), []ffmpeg.MasterVariant{mv}); err != nil {
		t.Fatal(err)
	}
	master := filepath.Join(out, layout.MasterPlaylist)
	f, err := os.Open(master)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ffmpeg.ParseMaster(f)
	f.Close()
	if err != nil || len(back) != 1 || back[0] != mv {
		t.Fatalf("master read back as %+v, %v; wrote %+v", back, err, mv)
	}
	p := ffprobe(t, master)
	if len(p.Streams) < 2 || p.Streams[0].Width != info.Width || p.Streams[0].Height != info.Height {
		t.Errorf("the copy's streams: %+v", p.Streams)
	}
	if got := decodedSeconds(t, master); got < info.Duration-0.1 || got > info.Duration+0.5 {
		t.Errorf("the copy decodes for %.2f s, the source lasts %.2f s", got, info.Duration)
	}
	index, err := os.ReadFile(filepath.Join(out, layout.HLSDir, v.Name, layout.VariantIndex))
	if err != nil || !strings.Contains(string(index), "#EXT-X-ENDLIST") {
		t.Errorf("the copy's playlist is not a finished VOD one: %v\n%s", err, index)
	}
}
