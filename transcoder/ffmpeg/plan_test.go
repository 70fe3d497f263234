package ffmpeg

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/layout"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/<name>.golden, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from %s (run go test -update if the change is intended):\n%s", name, path, got)
	}
}

// argv renders arguments one per line, so that golden diffs show what changed.
func argv(args []string) []byte {
	return []byte(strings.Join(args, "\n") + "\n")
}

func TestPlanLadder(t *testing.T) {
	cfg := DefaultConfig()
	type v = Variant
	for _, tc := range []struct {
		name string
		info Info
		want []Variant
		fps  float64
	}{
		{"Landscape1080p", Info{Width: 1920, Height: 1080, FPS: 30}, []Variant{
			{"1080p", 1920, 1080, 5_000_000}, {"720p", 1280, 720, 2_800_000}, {"480p", 854, 480, 1_400_000},
			{"360p", 640, 360, 800_000}, {"240p", 426, 240, 400_000}}, 0},
		{"NeverUpscales", Info{Width: 1280, Height: 720, FPS: 60}, []Variant{
			{"720p", 1280, 720, 2_800_000}, {"480p", 854, 480, 1_400_000}, {"360p", 640, 360, 800_000},
			{"240p", 426, 240, 400_000}}, 30},
		{"Portrait", Info{Width: 720, Height: 1280, FPS: 29.97}, []Variant{
			{"720p", 720, 1280, 2_800_000}, {"480p", 480, 854, 1_400_000}, {"360p", 360, 640, 800_000},
			{"240p", 240, 426, 400_000}}, 0},
		{"OddDimensions", Info{Width: 641, Height: 361, FPS: 25}, []Variant{
			{"360p", 640, 360, 800_000}, {"240p", 426, 240, 400_000}}, 0},
		{"SmallerThanEveryRung", Info{Width: 175, Height: 99, FPS: 24}, []Variant{{"98p", 174, 98, 400_000}}, 0},
		{"Square", Info{Width: 500, Height: 500}, []Variant{{"480p", 480, 480, 1_400_000}, {"360p", 360, 360, 800_000},
			{"240p", 240, 240, 400_000}}, 0},
		{"Ultrawide", Info{Width: 2560, Height: 1080, FPS: 120}, []Variant{
			{"1080p", 2560, 1080, 5_000_000}, {"720p", 1706, 720, 2_800_000}, {"480p", 1138, 480, 1_400_000},
			{"360p", 854, 360, 800_000}, {"240p", 568, 240, 400_000}}, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := PlanLadder(&tc.info, cfg)
			if len(p.Variants) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", p.Variants, tc.want)
			}
			for i, got := range p.Variants {
				if got != tc.want[i] {
					t.Errorf("variant %d: got %+v, want %+v", i, got, tc.want[i])
				}
				if got.Width%2 != 0 || got.Height%2 != 0 || got.Width > tc.info.Width+1 || got.Height > tc.info.Height+1 {
					t.Errorf("variant %+v: odd or upscaled", got)
				}
			}
			if p.FPS != tc.fps {
				t.Errorf("fps %v, want %v", p.FPS, tc.fps)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"NoRungs":     func(c *Config) { c.Rungs = nil },
		"OddHeight":   func(c *Config) { c.Rungs[0].Height = 1079 },
		"Duplicate":   func(c *Config) { c.Rungs[1].Name = c.Rungs[0].Name },
		"NoBitrate":   func(c *Config) { c.Rungs[0].VideoBitrate = 0 },
		"ShortSegs":   func(c *Config) { c.SegmentDuration = time.Millisecond },
		"NoPreset":    func(c *Config) { c.Preset = "" },
		"NoAudioRate": func(c *Config) { c.AudioBitrate = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			mod(&c)
			if c.Validate() == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestCommandGolden(t *testing.T) {
	cfg := DefaultConfig()
	hd := &Info{Width: 1920, Height: 1080, FPS: 60, AudioCodec: "aac", Duration: 12.5, Format: "mov,mp4,m4a,3gp,3g2,mj2"}
	t.Run("LadderWithAudio", func(t *testing.T) {
		golden(t, "ladder_audio", argv(LadderArgs("/in/source", "/out", PlanLadder(hd, cfg), cfg)))
	})
	t.Run("LadderNoAudio", func(t *testing.T) {
		info := &Info{Width: 480, Height: 854, FPS: 30, Duration: 3, Format: "matroska,webm"}
		golden(t, "ladder_portrait_silent", argv(LadderArgs("/in/source", "/out", PlanLadder(info, cfg), cfg)))
	})
	t.Run("Thumbnail", func(t *testing.T) {
		w, h := ThumbnailSize(hd, cfg)
		golden(t, "thumbnail", argv(thumbnailArgs("/in/source", hd.Format, "/out/thumbnail.jpg", ThumbnailTime(hd.Duration), w, h, false)))
	})
	t.Run("ThumbnailDecoded", func(t *testing.T) {
		w, h := ThumbnailSize(hd, cfg)
		golden(t, "thumbnail_decoded", argv(thumbnailArgs("/in/source", hd.Format, "/out/thumbnail.jpg", ThumbnailTime(hd.Duration), w, h, true)))
	})
	t.Run("ThumbnailDetected", func(t *testing.T) {
		w, h := ThumbnailSize(hd, cfg)
		golden(t, "thumbnail_detected", argv(ThumbnailArgs("/in/source", "/out/thumbnail.jpg", ThumbnailTime(hd.Duration), w, h)))
	})
	t.Run("Storyboard", func(t *testing.T) {
		golden(t, "storyboard", argv(storyboardArgs("/in/source", "mpegts", "/out/storyboard.jpg", PlanStoryboard(hd, cfg))))
	})
	t.Run("StoryboardVTT", func(t *testing.T) {
		golden(t, "storyboard_vtt", PlanStoryboard(hd, cfg).VTT(layout.StoryboardImage))
	})
	t.Run("Probe", func(t *testing.T) {
		golden(t, "probe", argv(ProbeArgs("/in/source")))
	})
}

func TestPlanStoryboard(t *testing.T) {
	cfg := DefaultConfig()
	long := PlanStoryboard(&Info{Width: 1280, Height: 720, Duration: 3600}, cfg)
	if long.Interval != 36 || long.Count != 100 || long.Columns != 10 || long.Rows != 10 || long.TileWidth != 160 || long.TileHeight != 90 {
		t.Errorf("hour-long: %+v", long)
	}
	short := PlanStoryboard(&Info{Width: 240, Height: 320, Duration: 2.2}, cfg)
	if short.Interval != 1 || short.Count != 3 || short.Columns != 3 || short.Rows != 1 || short.TileWidth != 120 || short.TileHeight != 160 {
		t.Errorf("short portrait: %+v", short)
	}
}

func TestParseProbe(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       Info
		err        string
	}{
		{"OK", `{"streams":[{"codec_type":"video","codec_name":"h264","profile":"High","pix_fmt":"yuv420p","level":40,"bit_rate":"9800000",
			"width":1920,"height":1080,"avg_frame_rate":"30000/1001","duration":"10.01"},
			{"codec_type":"audio","codec_name":"aac"}],"format":{"format_name":"mov,mp4","duration":"10.03","size":"1000","bit_rate":"10000000"}}`,
			Info{Width: 1920, Height: 1080, FPS: 30000.0 / 1001, VideoCodec: "h264", AudioCodec: "aac", Duration: 10.01, Size: 1000, Format: "mov,mp4",
				VideoProfile: "High", PixFmt: "yuv420p", VideoLevel: 40, VideoBitrate: 9_800_000, SquarePixels: true}, ""},
		{"ContainerBitrate", `{"streams":[{"codec_type":"video","codec_name":"h264","width":640,"height":360,"sample_aspect_ratio":"1:1"}],
			"format":{"duration":"3","bit_rate":"1200000"}}`,
			Info{Width: 640, Height: 360, VideoCodec: "h264", Duration: 3, VideoBitrate: 1_200_000, SquarePixels: true}, ""},
		{"Rotated", `{"streams":[{"codec_type":"video","codec_name":"h264","width":1920,"height":1080,"r_frame_rate":"30/1",
			"side_data_list":[{"rotation":-90}]}],"format":{"duration":"2"}}`,
			Info{Width: 1080, Height: 1920, FPS: 30, VideoCodec: "h264", Duration: 2, Rotated: true, SquarePixels: true}, ""},
		{"Anamorphic", `{"streams":[{"codec_type":"video","codec_name":"mpeg2video","width":720,"height":576,"sample_aspect_ratio":"16:11"}],"format":{"duration":"2"}}`,
			Info{Width: 1047, Height: 576, VideoCodec: "mpeg2video", Duration: 2}, ""},
		{"ErrAudioOnly", `{"streams":[{"codec_type":"audio","codec_name":"mp3"},{"codec_type":"video","codec_name":"mjpeg","width":500,"height":500,
			"disposition":{"attached_pic":1}}],"format":{"duration":"200"}}`, Info{}, "audio only"},
		{"Frames", `{"streams":[{"codec_type":"video","codec_name":"h264","width":64,"height":48,"nb_read_packets":"31"}],"format":{"format_name":"matroska,webm","duration":"14339.03"}}`,
			Info{Width: 64, Height: 48, VideoCodec: "h264", Duration: 14339.03, Format: "matroska,webm", VideoFrames: 31, SquarePixels: true}, ""},
		{"ErrNoStreams", `{"streams":[],"format":{}}`, Info{}, "no video stream"},
		{"ErrNoFrames", `{"streams":[{"codec_type":"video","codec_name":"h264","width":64,"height":48,"nb_read_packets":"0"}],"format":{"duration":"2"}}`, Info{}, "no frames"},
		{"ErrUnsized", `{"streams":[{"codec_type":"video","codec_name":"rawvideo","width":0,"height":0}],"format":{"duration":"1"}}`, Info{}, "no picture size"},
		{"ErrGarbage", `not json`, Info{}, "corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProbe([]byte(tc.json))
			if tc.err != "" {
				if videoforge.ErrorCode(err) != videoforge.EINVALID || !strings.Contains(videoforge.ErrorMessage(err), tc.err) {
					t.Fatalf("got %v, want EINVALID with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *got != tc.want {
				t.Fatalf("got %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := Info{Width: 640, Height: 360, Duration: 10, Size: 1000}
	limits := Limits{MaxDuration: time.Minute, MaxSize: 5000, MaxPixels: 1920 * 1080}
	for _, tc := range []struct {
		name string
		mod  func(*Info)
		code string
		msg  string
	}{
		{"OK", func(*Info) {}, "", ""},
		{"ErrZeroDuration", func(i *Info) { i.Duration = 0 }, videoforge.EINVALID, "zero duration"},
		{"ErrTooLong", func(i *Info) { i.Duration = 61 }, videoforge.ETOOLARGE, "over the limit of 1m0s"},
		{"ErrTooLarge", func(i *Info) { i.Size = 5001 }, videoforge.ETOOLARGE, "5001 bytes"},
		{"ErrTooManyPixels", func(i *Info) { i.Width, i.Height = 3840, 2160 }, videoforge.ETOOLARGE, "3840x2160"},
		{"ErrTooSmall", func(i *Info) { i.Width = 1 }, videoforge.EINVALID, "too small"},
		{"ErrOverMaxDimension", func(i *Info) { i.Width, i.Height = 65535, 2 }, videoforge.ETOOLARGE, "65535x2"},
		{"FramesFillDuration", func(i *Info) { i.Duration, i.VideoFrames = 50, 10 }, "", ""},
		{"ShortAndSparse", func(i *Info) { i.Duration, i.VideoFrames = 30, 1 }, "", ""},
		{"FramesUnknown", func(i *Info) { i.Duration = 50 }, "", ""},
		{"ErrSparse", func(i *Info) { i.Duration, i.VideoFrames = 50, 9 }, videoforge.EINVALID, "claims to last 50s but holds only 9 frames"},
		{"ErrSparseBeforeTooLong", func(i *Info) { i.Duration, i.VideoFrames = 14340, 2 }, videoforge.EINVALID, "claims to last 3h59m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := ok
			tc.mod(&i)
			err := Validate(&i, limits)
			if videoforge.ErrorCode(err) != tc.code || !strings.Contains(videoforge.ErrorMessage(err), tc.msg) {
				t.Fatalf("got %v, want %s %q", err, tc.code, tc.msg)
			}
		})
	}
}

func TestAllowedFormat(t *testing.T) {
	for _, tc := range []struct {
		format, short string
		ok            bool
	}{
		{"mov,mp4,m4a,3gp,3g2,mj2", "mov", true},
		{"matroska,webm", "matroska", true},
		{"mpegts", "mpegts", true},
		{"mov", "mov", true},
		{"mp4", "", false}, // one element of a name list is not the demuxer's name
		{"mpegtsraw", "", false},
		{"mpegvideo", "", false},
		{"hls", "", false},
		{"dash", "", false},
		{"concat", "", false},
		{"image2", "", false},
		{"webm_dash_manifest", "", false},
		{"", "", false},
	} {
		short, ok := AllowedFormat(tc.format)
		if short != tc.short || ok != tc.ok {
			t.Errorf("AllowedFormat(%q) = %q, %v; want %q, %v", tc.format, short, ok, tc.short, tc.ok)
		}
	}
}

func TestTimeLimit(t *testing.T) {
	if got := (Config{}).TimeLimit(60); got != DefaultTimeLimitBase+8*time.Minute {
		t.Errorf("zero config: %v", got)
	}
	if got := (Config{TimeLimitBase: time.Second, TimeLimitFactor: 0.5}).TimeLimit(10); got != 6*time.Second {
		t.Errorf("configured: %v", got)
	}
	if got := DefaultConfig().TimeLimit(-1); got != DefaultTimeLimitBase {
		t.Errorf("negative duration: %v", got)
	}
}

func TestCheckLength(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want float64
		err       string
	}{
		{"OK", 10.0, 10.01, ""},
		{"LastFrameShort", 9.5, 10, ""},
		{"ErrTruncated", 5, 10, "truncated: its video ends at 5.0s of 10.0s"},
		{"SegmentRounding", 14, 10, ""},
		{"ErrLonger", 40, 10, "encodes to 40.0s, but its video lasts 10.0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkLength(tc.got, tc.want, 4)
			if tc.err == "" && err != nil || tc.err != "" && (videoforge.ErrorCode(err) != videoforge.EINVALID || !strings.Contains(videoforge.ErrorMessage(err), tc.err)) {
				t.Fatalf("got %v, want %q", err, tc.err)
			}
		})
	}
}

func TestPlaylistSeconds(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := playlistSeconds(write("ok.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.000000,\nseg_0000.ts\n#EXTINF:1.5,\nseg_0001.ts\n#EXT-X-ENDLIST\n"))
	if err != nil || got != 5.5 {
		t.Errorf("got %v, %v; want 5.5", got, err)
	}
	if _, err := playlistSeconds(write("open.m3u8", "#EXTM3U\n#EXTINF:4,\nseg_0000.ts\n")); err == nil {
		t.Error("a playlist without ENDLIST was accepted")
	}
	if _, err := playlistSeconds(write("bad.m3u8", "#EXTM3U\n#EXTINF:x,\nseg_0000.ts\n#EXT-X-ENDLIST\n")); err == nil {
		t.Error("a bad EXTINF was accepted")
	}
	if _, err := playlistSeconds(filepath.Join(dir, "missing.m3u8")); err == nil {
		t.Error("a missing playlist was accepted")
	}
}

func TestParseMaster(t *testing.T) {
	vs, err := ParseMaster(strings.NewReader("#EXTM3U\n#EXT-X-VERSION:6\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=545600,RESOLUTION=320x240,CODECS=\"avc1.42c00d,mp4a.40.2\"\n240p/index.m3u8\n\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=325600,RESOLUTION=192x144,CODECS=\"avc1.42c00c,mp4a.40.2\"\n144p/index.m3u8\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []MasterVariant{{545600, 320, 240, "avc1.42c00d,mp4a.40.2", "240p/index.m3u8"}, {325600, 192, 144, "avc1.42c00c,mp4a.40.2", "144p/index.m3u8"}}
	if len(vs) != 2 || vs[0] != want[0] || vs[1] != want[1] {
		t.Fatalf("got %+v", vs)
	}
	if _, err := ParseMaster(strings.NewReader("#EXTM3U\n")); err == nil {
		t.Fatal("empty master accepted")
	}
}
