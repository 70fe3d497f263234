package ffmpeg_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/transcoder/ffmpeg"
)

// The hostile corpus, testdata/hostile, holds uploads made to have ffmpeg read another
// file, run for hours, or fail without saying why. In its files {{SECRET}} stands for
// the absolute path of a secret clip (solid magenta) that each case creates beside the
// upload; the ffconcat files and the mov data reference name it relatively, as
// secret.mp4. The text files are written by hand; go test -update remakes the binary
// ones (makeHostile).
const (
	hostileDir  = "testdata/hostile"
	placeholder = "{{SECRET}}"
	secretName  = "secret.mp4"
	sourceName  = "source" // what the transcoder names a downloaded upload
)

// updating reports whether the tests run with -update (a flag of the package's
// internal tests, which share this binary).
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// secretClip returns the bytes of the clip no output may ever show: two seconds of
// solid magenta in an MP4 whose index (moov) comes after its media data, so that the
// mov data-reference case can rewrite the index without moving the data.
var secretClip = sync.OnceValues(func() ([]byte, error) {
	path := filepath.Join(clips, secretName)
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "color=c=0xFF00FF:size=96x64:rate=10:duration=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-threads", "1", path).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("generate the secret clip: %v: %s", err, out)
	}
	return os.ReadFile(path)
})

// isSecret reports whether an RGB pixel is the secret's magenta, give or take what
// chroma subsampling and JPEG do to it.
func isSecret(r, g, b byte) bool {
	return r > 200 && g < 60 && b > 200
}

// showsSecret reports whether any frame of the picture or video at path, averaged to
// one pixel, is the secret's colour.
func showsSecret(t *testing.T, path string) bool {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", path,
		"-vf", "scale=1:1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Logf("reading %s back: %v: %s", path, err, ee.Stderr)
		}
	}
	for i := 0; i+2 < len(out); i += 3 {
		if isSecret(out[i], out[i+1], out[i+2]) {
			return true
		}
	}
	return false
}

// noSecretIn fails the test if any picture or segment under dir shows the secret.
func noSecretIn(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(path) {
		case ".ts", ".jpg":
			if showsSecret(t, path) {
				t.Errorf("%s shows the secret clip", path)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
}

// hostileUpload writes the corpus file name into a fresh work folder as the upload,
// beside a copy of the secret clip, and returns the upload's path.
func hostileUpload(t *testing.T, name string) string {
	t.Helper()
	secret, err := secretClip()
	if err != nil {
		t.Fatalf("%v (%s)", err, howTo)
	}
	dir := t.TempDir()
	secretPath := filepath.Join(dir, secretName)
	if err := os.WriteFile(secretPath, secret, 0o644); err != nil {
		t.Fatal(err)
	}
	var body []byte
	if name == "dref.mov" {
		// Made here rather than committed: it must match the secret's layout.
		if body, err = externalTrack(secret, secretName); err != nil {
			t.Fatal(err)
		}
	} else if body, err = os.ReadFile(filepath.Join(hostileDir, name)); err != nil {
		t.Fatalf("%v (go test -update remakes the corpus)", err)
	}
	src := filepath.Join(dir, sourceName)
	if err := os.WriteFile(src, bytes.ReplaceAll(body, []byte(placeholder), []byte(secretPath)), 0o644); err != nil {
		t.Fatal(err)
	}
	return src
}

// hostileLimits are the transcoder's default limits.
var hostileLimits = ffmpeg.Limits{MaxDuration: 4 * time.Hour, MaxSize: 20 << 30, MaxPixels: 4096 * 2304}

// hostileConfig bounds every run tightly, so that a hostile file that got past the
// checks would fail on its time limit instead of with the reason a case expects.
func hostileConfig() ffmpeg.Config {
	cfg := testConfig()
	cfg.TimeLimitBase = 20 * time.Second
	cfg.TimeLimitFactor = 0.001
	return cfg
}

// job does what the transcoder does with an upload: probe, encode, thumbnail,
// storyboard, stopping at the first error.
func job(ctx context.Context, r *ffmpeg.Runner, src, out string) (stage string, err error) {
	info, err := ffmpeg.Probe(ctx, r.Bin, src, hostileLimits)
	if err != nil {
		return "probe", err
	}
	if err := r.Encode(ctx, src, out, ffmpeg.PlanLadder(info, r.Config), nil); err != nil {
		return "encode", err
	}
	if _, _, err := r.Thumbnail(ctx, src, out, info); err != nil {
		return "thumbnail", err
	}
	if _, err := r.Storyboard(ctx, src, out, info); err != nil {
		return "storyboard", err
	}
	return "done", nil
}

func TestHostileCorpus(t *testing.T) {
	if updating() {
		if err := makeHostile(hostileDir); err != nil {
			t.Fatalf("%v (%s)", err, howTo)
		}
	}
	if _, err := secretClip(); err != nil {
		t.Fatalf("%v (%s)", err, howTo)
	}
	if !showsSecret(t, filepath.Join(clips, secretName)) {
		t.Fatal("showsSecret does not see the secret clip itself: the checks below would prove nothing")
	}
	r := &ffmpeg.Runner{Config: hostileConfig()}
	for _, tc := range []struct {
		name, file string
		stage      string // where the job stops
		code       string // its error's code; "" for none
		reason     string // what its message says
		follows    []string
		alone      bool // also refused by Encode and Thumbnail without a probe
	}{
		// The reference formats: refused by the allow-list before anything is read.
		{"DASHManifest", "dash.mpd", "probe", videoforge.EINVALID, "not a video in a container VideoForge reads", []string{}, true},
		{"HLSPlaylist", "hls.m3u8", "probe", videoforge.EINVALID, "not a video in a container VideoForge reads", []string{}, true},
		{"FFconcat", "concat.ffconcat", "probe", videoforge.EINVALID, "not a video in a container VideoForge reads", []string{}, true},
		{"SelfIncludingConcat", "concat_self.ffconcat", "probe", videoforge.EINVALID, "not a video in a container VideoForge reads", nil, true},
		{"HLSPlaylistThenTS", "hls_then_ts.m3u8", "probe", videoforge.EINVALID, "not a video in a container VideoForge reads", []string{}, true},
		// An MPEG-TS with a playlist appended is the MPEG-TS it starts with: it
		// encodes, and the playlist's reference is never opened.
		{"TSThenHLSPlaylist", "ts_then_hls.ts", "done", "", "", nil, false},
		// A mov whose track lives in another file: ffmpeg opens it only with
		// -enable_drefs 1. Without, the track's own (zeroed) data decodes to nothing.
		{"MovDataReference", "dref.mov", "encode", videoforge.EINVALID, "corrupt or unreadable", []string{"-enable_drefs", "1"}, true},
		{"RandomBytes", "random.bin", "probe", videoforge.EINVALID, "not a video that can be read", nil, false},
		{"Empty", "empty", "probe", videoforge.EINVALID, "empty", nil, false},
		{"HugeClaimedSize", "huge_claim.mkv", "probe", videoforge.EINVALID, "no picture size that can be decoded", nil, false},
		{"OverPixelLimit", "over_limit.mkv", "probe", videoforge.ETOOLARGE, "4112x2304, over the limit", nil, false},
		{"ClaimsFourHours", "claims4h.mkv", "probe", videoforge.EINVALID, "claims to last 3h59m0s but holds only 2 frames", nil, false},
		{"FourHourGap", "gap4h.mkv", "probe", videoforge.EINVALID, "claims to last 3h58m59s but holds only 31 frames", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			src := hostileUpload(t, tc.file)
			out := filepath.Join(filepath.Dir(src), "out")
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			stage, err := job(ctx, r, src, out)
			t.Logf("%s after %v: %v", stage, time.Since(began).Round(time.Millisecond), err)
			if stage != tc.stage || videoforge.ErrorCode(err) != tc.code || !strings.Contains(videoforge.ErrorMessage(err), tc.reason) {
				t.Errorf("stopped at %s with %v; want %s with %q at %s", stage, err, tc.code, tc.reason, tc.stage)
			}
			noSecretIn(t, out)

			if tc.follows != nil {
				t.Run("Unrestricted", func(t *testing.T) {
					// The case is real: ffmpeg without the restrictions decodes the
					// secret from this upload.
					args := append([]string{"-hide_banner", "-nostdin", "-v", "error"}, tc.follows...)
					args = append(args, "-i", src, "-frames:v", "1", "-vf", "scale=1:1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-")
					px, err := exec.Command("ffmpeg", args...).Output()
					if err != nil || len(px) < 3 || !isSecret(px[0], px[1], px[2]) {
						t.Fatalf("unrestricted ffmpeg did not read the secret through %s (%v, %x): the case proves nothing", tc.file, err, px)
					}
				})
			}
			if tc.alone {
				// Without a probe in front, the runs hold by themselves. Left to
				// detect the container, they refuse the upload. Told one (as if a
				// probe had passed), they read the upload as that container alone:
				// they refuse it, or read the media it holds (an MPEG-TS after a
				// playlist), never what it names.
				dir := t.TempDir()
				for _, format := range []string{"", "mov,mp4,m4a,3gp,3g2,mj2", "mpegts"} {
					plan := ffmpeg.Plan{Variants: []ffmpeg.Variant{{Name: "64p", Width: 96, Height: 64, VideoBitrate: 100_000}}, Duration: 2, Format: format}
					err := r.Encode(ctx, src, dir, plan, nil)
					if code := videoforge.ErrorCode(err); code != videoforge.EINVALID && (format == "" || code != "") {
						t.Errorf("Encode as %q: got %v, want EINVALID", format, err)
					}
				}
				_, _, err := r.Thumbnail(ctx, src, dir, &ffmpeg.Info{Width: 96, Height: 64, Duration: 2})
				if videoforge.ErrorCode(err) != videoforge.EINVALID {
					t.Errorf("Thumbnail: got %v, want EINVALID", err)
				}
				_, err = r.Storyboard(ctx, src, dir, &ffmpeg.Info{Width: 96, Height: 64, Duration: 2})
				if videoforge.ErrorCode(err) != videoforge.EINVALID {
					t.Errorf("Storyboard: got %v, want EINVALID", err)
				}
				noSecretIn(t, dir)
			}
		})
	}
}

// TestTimeLimitStopsRun runs a stand-in ffmpeg that never ends and checks that the
// run's time limit ends it with an EINVALID error that says so.
func TestTimeLimitStopsRun(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "ffmpeg")
	body := "#!/bin/sh\nexec ffmpeg -hide_banner -nostdin -loglevel error -re -f lavfi -i testsrc2=size=64x64:rate=10 -progress pipe:1 -nostats -f null -\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.TimeLimitBase, cfg.TimeLimitFactor = 200*time.Millisecond, 0.01
	r := &ffmpeg.Runner{Bin: ffmpeg.Binaries{FFmpeg: script}, Config: cfg}
	began := time.Now()
	err := r.Encode(context.Background(), "/dev/null", dir, ffmpeg.PlanLadder(&ffmpeg.Info{Width: 64, Height: 64, Duration: 10}, cfg), nil)
	t.Logf("stopped after %v", time.Since(began))
	if videoforge.ErrorCode(err) != videoforge.EINVALID || !strings.Contains(videoforge.ErrorMessage(err), "ran past its limit of 300ms") {
		t.Fatalf("got %v, want EINVALID saying the encode ran past its limit", err)
	}
}

// TestTimeLimitEndsDuplicatingRun encodes the 31-frame file whose last frame comes
// 3 h 59 min after the others, as if its probe had passed: ffmpeg duplicates frames
// across the gap without reading more input, reports no progress and does not stop
// on SIGINT, so it is the time limit's kill that ends it.
func TestTimeLimitEndsDuplicatingRun(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.TimeLimitBase, cfg.TimeLimitFactor = 500*time.Millisecond, 1e-6
	r := &ffmpeg.Runner{Config: cfg}
	src := hostileUpload(t, "gap4h.mkv")
	plan := ffmpeg.Plan{Variants: []ffmpeg.Variant{{Name: "48p", Width: 64, Height: 48, VideoBitrate: 100_000}},
		Duration: 14339, Format: "matroska,webm"}
	began := time.Now()
	err := r.Encode(context.Background(), src, t.TempDir(), plan, nil)
	t.Logf("stopped after %v: %v", time.Since(began).Round(time.Millisecond), err)
	if videoforge.ErrorCode(err) != videoforge.EINVALID || !strings.Contains(videoforge.ErrorMessage(err), "ran past its limit") {
		t.Fatalf("got %v, want EINVALID saying the encode ran past its limit", err)
	}
}

// makeHostile writes the binary files of the corpus into dir.
func makeHostile(dir string) error {
	tmp, err := os.MkdirTemp("", "hostile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	gen := func(args ...string) ([]byte, error) {
		path := filepath.Join(tmp, "out.mkv")
		args = append(append([]string{"-hide_banner", "-loglevel", "error", "-y", "-threads", "1"}, args...), "-fflags", "+bitexact", path)
		if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ffmpeg %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return os.ReadFile(path)
	}
	h264 := []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-flags", "+bitexact"}
	files := map[string][]byte{"empty": nil}

	random := make([]byte, 64<<10)
	rng := rand.New(rand.NewChaCha8([32]byte{'v', 'i', 'd', 'e', 'o', 'f', 'o', 'r', 'g', 'e'}))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	files["random.bin"] = random

	// An innocent solid green MPEG-TS and the playlist naming the secret, in both orders.
	playlist, err := os.ReadFile(filepath.Join(dir, "hls.m3u8"))
	if err != nil {
		return err
	}
	ts, err := gen(append([]string{"-f", "lavfi", "-i", "color=c=0x00A000:size=64x48:rate=10:duration=1"}, append(h264, "-f", "mpegts")...)...)
	if err != nil {
		return err
	}
	files["ts_then_hls.ts"] = append(append([]byte{}, ts...), playlist...)
	files["hls_then_ts.m3u8"] = append(append([]byte{}, playlist...), ts...)

	// A Matroska header claiming 65535x65535 raw pictures, cut after 4 KiB.
	raw, err := gen("-f", "lavfi", "-i", "color=c=gray:size=256x256:rate=1:duration=1", "-frames:v", "1", "-c:v", "rawvideo", "-pix_fmt", "gray")
	if err != nil {
		return err
	}
	if raw, err = patch(raw, "\xb0\x82\x01\x00\xba\x82\x01\x00", "\xb0\x82\xff\xff\xba\x82\xff\xff"); err != nil {
		return fmt.Errorf("huge_claim.mkv: %w", err)
	}
	files["huge_claim.mkv"] = raw[:4096]

	// One real frame just over the default pixel limit of 4096x2304.
	if files["over_limit.mkv"], err = gen(append([]string{"-f", "lavfi", "-i", "color=c=gray:size=4112x2304:rate=1:duration=1", "-frames:v", "1"}, h264...)...); err != nil {
		return err
	}

	// Two frames whose header and duration tag claim 3 h 59 min.
	two, err := gen(append([]string{"-f", "lavfi", "-i", "color=c=gray:size=64x48:rate=25:duration=1", "-frames:v", "2"}, h264...)...)
	if err != nil {
		return err
	}
	// The segment's Duration element, a double in milliseconds: 80 becomes 14,340,000.
	was := binary.BigEndian.AppendUint64([]byte("\x44\x89\x88"), math.Float64bits(80))
	claim := binary.BigEndian.AppendUint64([]byte("\x44\x89\x88"), math.Float64bits(14_340_000))
	if two, err = patch(two, string(was), string(claim)); err != nil {
		return fmt.Errorf("claims4h.mkv: %w", err)
	}
	if two, err = patch(two, "00:00:00.080000000", "03:59:00.000000000"); err != nil {
		return fmt.Errorf("claims4h.mkv: %w", err)
	}
	files["claims4h.mkv"] = two

	// 30 frames at 30 fps, then one stamped 3 h 59 min later: ffmpeg's constant
	// frame rate output would duplicate frames across the gap.
	if files["gap4h.mkv"], err = gen(append([]string{"-f", "lavfi", "-i", "color=c=gray:size=64x48:rate=30:duration=2",
		"-vf", `setpts=if(lt(N\,30)\,N/30\,14339)/TB`, "-frames:v", "31", "-fps_mode", "passthrough"}, h264...)...); err != nil {
		return err
	}

	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// patch replaces the one occurrence of old in b by new, of the same length.
func patch(b []byte, old, new string) ([]byte, error) {
	if len(old) != len(new) || bytes.Count(b, []byte(old)) != 1 {
		return nil, fmt.Errorf("%q is not in the file exactly once", old)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1), nil
}

// externalTrack returns a copy of an MP4 whose index follows its media data, with the
// track's data reference turned into a Mac alias ("alis") to the file name beside it,
// as QuickTime reference movies have, and the media data itself zeroed: whatever
// frames come out of it were read from the other file.
func externalTrack(mp4 []byte, name string) ([]byte, error) {
	var alias []byte
	alias = append(alias, make([]byte, 10)...)   // record header
	alias = append(alias, make([]byte, 1+27)...) // volume name, empty
	alias = append(alias, make([]byte, 12)...)   // dates, file system
	alias = append(alias, byte(len(name)))       // file name
	alias = append(alias, append([]byte(name), make([]byte, 63-len(name))...)...)
	alias = append(alias, make([]byte, 16)...) // ids, types
	alias = append(alias, 0, 1, 0, 1)          // levels up from the alias, down to the target
	alias = append(alias, make([]byte, 16)...) // volume attributes and the like
	path := "/" + name
	alias = binary.BigEndian.AppendUint16(alias, 2) // an absolute path record
	alias = binary.BigEndian.AppendUint16(alias, uint16(len(path)))
	alias = append(alias, path...)
	if len(path)%2 == 1 {
		alias = append(alias, 0)
	}
	alias = append(alias, 0xff, 0xff, 0, 0) // end of records

	entry := binary.BigEndian.AppendUint32(nil, uint32(12+len(alias)))
	entry = append(entry, "alis\x00\x00\x00\x00"...) // flags 0: not in this file
	entry = append(entry, alias...)
	dref := append([]byte{0, 0, 0, 0, 0, 0, 0, 1}, entry...) // version, flags, one entry

	out, found := rewriteBoxes(mp4, []string{"moov", "trak", "mdia", "minf", "dinf", "dref"}, func([]byte) []byte { return dref })
	if !found {
		return nil, errors.New("no moov/trak/mdia/minf/dinf/dref box")
	}
	// Zero the media data: the boxes keep their sizes, so the index still points
	// into it.
	for off := 0; off+8 <= len(out); {
		size := int(binary.BigEndian.Uint32(out[off:]))
		if size < 8 || off+size > len(out) {
			return nil, fmt.Errorf("box at %d: bad size %d", off, size)
		}
		if string(out[off+4:off+8]) == "mdat" {
			clear(out[off+8 : off+size])
		}
		off += size
	}
	return out, nil
}

// rewriteBoxes returns the ISO BMFF boxes in b with the body of the first box at path
// replaced by repl of it, and the sizes of the boxes around it adjusted. Only 32-bit
// box sizes are handled, which is all a small test file has.
func rewriteBoxes(b []byte, path []string, repl func([]byte) []byte) ([]byte, bool) {
	var out []byte
	found := false
	for len(b) >= 8 {
		size := int(binary.BigEndian.Uint32(b))
		if size < 8 || size > len(b) {
			return nil, false
		}
		box, typ := b[:size], string(b[4:8])
		b = b[size:]
		if typ == path[0] && !found {
			var body []byte
			if len(path) == 1 {
				body, found = repl(box[8:]), true
			} else {
				body, found = rewriteBoxes(box[8:], path[1:], repl)
			}
			if found {
				box = append(binary.BigEndian.AppendUint32(nil, uint32(8+len(body))), typ...)
				box = append(box, body...)
			}
		}
		out = append(out, box...)
	}
	return out, found
}
