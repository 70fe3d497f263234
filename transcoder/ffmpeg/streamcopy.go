package ffmpeg

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/videoforge/videoforge/layout"
)

// The H.264 sources every browser's decoder plays as they are: these profiles, 8-bit
// 4:2:0, level 5.1 at most, with AAC, MP3 or no sound.
var (
	copyProfiles = map[string]string{ // profile -> the avc1 codec string's profile and constraint bytes
		"Constrained Baseline": "42E0", "Baseline": "42E0", "Main": "4D40", "High": "6400",
	}
	copyPixFmts = map[string]bool{"yuv420p": true, "yuvj420p": true}
	copyAudio   = map[string]string{"": "", "aac": "mp4a.40.2", "mp3": "mp4a.40.34"}
)

// A copied stream's bitrate must be within reason for its size: at most
// copyBitsPerPixel bits per pixel and frame (a phone's 1080p30 at 10 Mb/s is 0.16),
// or copyFloor whatever the size, and never more than copyCeiling.
const (
	copyBitsPerPixel = 0.4
	copyFloor        = 2_000_000
	copyCeiling      = 60_000_000
	copyMaxLevel     = 51
)

// StreamCopy tells whether the source's video can be published as an HLS rendition
// without encoding it: H.264 in a profile, pixel format and level browsers play, with
// sound they play (or none), stored upright with square pixels, at a bitrate within
// reason for its size. The copy stays in the ladder: it stands in for the plan's
// tallest variant (replacesTop, named after it) when it has that variant's size, the
// costliest rung not encoded at all; a source larger than every rung keeps it above
// them, named after its short side.
func StreamCopy(info *Info, plan Plan) (v Variant, replacesTop, ok bool) {
	if info.VideoCodec != "h264" || copyProfiles[info.VideoProfile] == "" || !copyPixFmts[info.PixFmt] ||
		info.VideoLevel <= 0 || info.VideoLevel > copyMaxLevel || info.Rotated || !info.SquarePixels {
		return Variant{}, false, false
	}
	if _, ok := copyAudio[info.AudioCodec]; !ok {
		return Variant{}, false, false
	}
	fps := info.FPS
	if fps <= 0 {
		fps = 30
	}
	limit := max(copyFloor, int(copyBitsPerPixel*float64(info.Width*info.Height)*fps))
	if info.VideoBitrate <= 0 || info.VideoBitrate > min(limit, copyCeiling) {
		return Variant{}, false, false
	}
	v = Variant{Name: fmt.Sprintf("%dp", min(info.Width, info.Height)), Width: info.Width, Height: info.Height, VideoBitrate: info.VideoBitrate}
	if len(plan.Variants) > 0 {
		if top := plan.Variants[0]; top.Width == info.Width && top.Height == info.Height {
			v.Name = top.Name
			return v, true, true
		}
		if v.Name == plan.Variants[0].Name {
			v.Name += "-source" // a size between the rungs' would take a rung's name
		}
	}
	return v, false, true
}

// CopyCodecs returns the CODECS attribute of a stream-copied rendition.
func CopyCodecs(info *Info) string {
	c := fmt.Sprintf("avc1.%s%02X", copyProfiles[info.VideoProfile], info.VideoLevel)
	if a := copyAudio[info.AudioCodec]; a != "" {
		c += "," + a
	}
	return c
}

// RemuxArgs returns ffmpeg's arguments for copying the source's video (and sound) into
// the HLS rendition v under outDir/hls/<v.Name>: no decoding, segments cut at the
// source's keyframes near every segment length, a VOD playlist (EVENT with plan.Event).
func RemuxArgs(src, outDir string, v Variant, plan Plan, cfg Config) []string {
	args := []string{"-hide_banner", "-nostdin", "-y", "-loglevel", "error"}
	args = append(args, InputArgs(src, plan.Format)...)
	args = append(args, "-map", "0:v:0")
	if plan.Audio {
		args = append(args, "-map", "0:a:0")
	}
	dir := filepath.Join(outDir, layout.HLSDir, v.Name)
	args = append(args, "-c", "copy", "-dn", "-sn")
	args = append(args, hlsArgs(segmentSeconds(cfg), plan.Event, filepath.Join(dir, layout.SegmentPattern))...)
	return append(args, filepath.Join(dir, layout.VariantIndex))
}

// Remux copies the source into the rendition v (see RemuxArgs) and checks its length
// against the probed duration, as Encode does.
func (r *Runner) Remux(ctx context.Context, src, outDir string, v Variant, plan Plan) error {
	if err := checkFormat(plan.Format); err != nil {
		return err
	}
	ctx, cancel := r.bounded(ctx, "remux", plan.Duration)
	defer cancel()
	dir := filepath.Join(outDir, layout.HLSDir, v.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := run(ctx, r.Bin.ffmpeg(), RemuxArgs(src, outDir, v, plan, r.Config), nil, nil); err != nil {
		return sourceError(err, src)
	}
	if plan.Duration <= 0 {
		return nil
	}
	got, err := playlistSeconds(filepath.Join(dir, layout.VariantIndex))
	if err != nil {
		return err
	}
	return checkLength(got, plan.Duration, r.Config.SegmentDuration.Seconds())
}

// WriteMaster writes the master playlist of the variants to the file path (a job's is
// outDir/hls/master.m3u8, layout.MasterPlaylist), in their order.
func WriteMaster(path string, variants []MasterVariant) error {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	for _, v := range variants {
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,RESOLUTION=%dx%d", v.Bandwidth, v.Width, v.Height)
		if v.Codecs != "" {
			fmt.Fprintf(&b, ",CODECS=\"%s\"", v.Codecs)
		}
		b.WriteString("\n" + v.URI + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
