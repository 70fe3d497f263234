package ffmpeg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/layout"
)

// ffmpeg's patterns of the variants' files inside layout.HLSDir; package layout names
// every file a job writes into its output folder.
const (
	variantPattern = "%v/" + layout.VariantIndex   // ffmpeg replaces %v with the variant's name
	segmentPath    = "%v/" + layout.SegmentPattern // idem
)

func kbps(bps int) string { return strconv.Itoa(bps/1000) + "k" }

// LadderArgs returns ffmpeg's arguments for encoding the whole ladder of plan in one
// process: the source is decoded once and split, each branch scaled to its variant and
// encoded with H.264 (and AAC when the source has sound), keyframes forced on segment
// boundaries so that every variant's segments line up, VOD playlists per variant and a
// master playlist listing them with BANDWIDTH, RESOLUTION and CODECS. Progress goes to
// standard output (-progress pipe:1). The source is opened as InputArgs says, as the
// container plan.Format names.
func LadderArgs(src, outDir string, plan Plan, cfg Config) []string {
	n := len(plan.Variants)
	seg := segmentSeconds(cfg)
	args := []string{"-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-progress", "pipe:1", "-nostats"}
	args = append(args, InputArgs(src, plan.Format)...)
	args = append(args, "-filter_complex", ladderGraph(plan))
	for i := range n {
		args = append(args, "-map", fmt.Sprintf("[v%d]", i))
	}
	if plan.Audio {
		for range n {
			args = append(args, "-map", "0:a:0")
		}
	}
	args = append(args, x264Args(cfg)...)
	for i, v := range plan.Variants {
		args = append(args, rateArgs(":"+strconv.Itoa(i), v)...)
	}
	var streams []string
	if plan.Audio {
		args = append(args, "-c:a", "aac", "-b:a", kbps(cfg.AudioBitrate), "-ac", "2")
		for i, v := range plan.Variants {
			streams = append(streams, fmt.Sprintf("v:%d,a:%d,name:%s", i, i, v.Name))
		}
	} else {
		for i, v := range plan.Variants {
			streams = append(streams, fmt.Sprintf("v:%d,name:%s", i, v.Name))
		}
	}
	hls := filepath.Join(outDir, layout.HLSDir)
	args = append(args, hlsArgs(seg, plan.Event, filepath.Join(hls, segmentPath))...)
	return append(args, "-master_pl_name", layout.MasterFile, "-var_stream_map", strings.Join(streams, " "),
		filepath.Join(hls, variantPattern))
}

// segmentSeconds is the segment length as ffmpeg's options take it.
func segmentSeconds(cfg Config) string {
	return strconv.FormatFloat(cfg.SegmentDuration.Seconds(), 'f', -1, 64)
}

// ladderGraph is the filter graph of plan's variants: the source's first video stream
// at the plan's frame rate, split, and each branch [v<i>] scaled to variant i.
func ladderGraph(plan Plan) string {
	var graph strings.Builder
	graph.WriteString("[0:v:0]")
	if plan.FPS > 0 {
		graph.WriteString("fps=" + strconv.FormatFloat(plan.FPS, 'f', -1, 64) + ",")
	}
	fmt.Fprintf(&graph, "split=%d", len(plan.Variants))
	for i := range plan.Variants {
		fmt.Fprintf(&graph, "[s%d]", i)
	}
	for i, v := range plan.Variants {
		fmt.Fprintf(&graph, ";[s%d]scale=%d:%d,setsar=1,format=yuv420p[v%d]", i, v.Width, v.Height, i)
	}
	return graph.String()
}

// x264Args are the video encoder's options shared by every variant: H.264 with
// keyframes forced on segment boundaries (counted from the output's start) and none
// placed on scene cuts, so that every variant's segments line up.
func x264Args(cfg Config) []string {
	args := []string{"-c:v", "libx264", "-preset", cfg.Preset, "-sc_threshold", "0",
		"-force_key_frames", "expr:gte(t,n_forced*" + segmentSeconds(cfg) + ")"}
	if cfg.Threads > 0 {
		args = append(args, "-threads", strconv.Itoa(cfg.Threads))
	}
	return args
}

// rateArgs are variant v's bitrate, peak and buffer, for the output stream that
// spec names (":0" for a ladder's first, "" for an output's only video).
func rateArgs(spec string, v Variant) []string {
	return []string{"-b:v" + spec, kbps(v.VideoBitrate), "-maxrate:v" + spec, kbps(v.VideoBitrate * 107 / 100),
		"-bufsize:v" + spec, kbps(v.VideoBitrate * 3 / 2)}
}

// hlsArgs are the HLS muxer's options: segments of seg seconds as MPEG-TS named by
// segments, a VOD playlist, or with event an EVENT playlist whose segments appear
// under temporary names until complete.
func hlsArgs(seg string, event bool, segments string) []string {
	kind, flags := "vod", "independent_segments"
	if event {
		kind, flags = "event", "independent_segments+temp_file"
	}
	return []string{"-f", "hls", "-hls_time", seg, "-hls_playlist_type", kind,
		"-hls_flags", flags, "-hls_segment_type", "mpegts", "-hls_segment_filename", segments}
}

// ThumbnailTime returns where in the source the thumbnail is taken: a quarter in, at
// most ten seconds, past black intros without seeking far.
func ThumbnailTime(duration float64) float64 {
	return math.Round(min(duration/4, 10)*1000) / 1000
}

// ThumbnailSize returns the thumbnail's dimensions for a source: its size, fitted
// within cfg.ThumbnailWidth, never upscaled.
func ThumbnailSize(info *Info, cfg Config) (int, int) {
	return fitWithin(info.Width, info.Height, cfg.ThumbnailWidth)
}

// ThumbnailArgs returns ffmpeg's arguments for a JPEG of one frame at the given time:
// seeking on the input, which jumps to the keyframe before it instead of decoding from
// the start. The source is opened as InputArgs says, its container detected among the
// allowed ones; Runner.Thumbnail names the probed container besides.
func ThumbnailArgs(src, out string, at float64, w, h int) []string {
	return thumbnailArgs(src, "", out, at, w, h, false)
}

// thumbnailArgs is ThumbnailArgs for a probed container; decode puts -ss after the
// input instead, so that ffmpeg decodes from the start up to the time: slower, but
// it cannot land past the keyframe it needs.
func thumbnailArgs(src, format, out string, at float64, w, h int, decode bool) []string {
	ss := []string{"-ss", strconv.FormatFloat(at, 'f', 3, 64)}
	args := []string{"-hide_banner", "-nostdin", "-y", "-loglevel", "error"}
	if !decode {
		args = append(args, ss...)
	}
	args = append(args, InputArgs(src, format)...)
	if decode {
		args = append(args, ss...)
	}
	return append(args, "-frames:v", "1", "-vf", fmt.Sprintf("scale=%d:%d,setsar=1", w, h), "-q:v", "3", "-an", out)
}

// Storyboard describes a sprite of evenly spaced frames and where each tile is.
type Storyboard struct {
	Interval   int // seconds between tiles
	Count      int // tiles that show frames
	Columns    int
	Rows       int
	TileWidth  int
	TileHeight int
	Duration   float64
}

// Width and Height are the sprite's dimensions.
func (s Storyboard) Width() int  { return s.Columns * s.TileWidth }
func (s Storyboard) Height() int { return s.Rows * s.TileHeight }

// PlanStoryboard returns the storyboard of a source: one tile a second, or fewer for
// long sources so that there are at most cfg.StoryboardMaxTiles.
func PlanStoryboard(info *Info, cfg Config) Storyboard {
	interval := max(1, int(math.Ceil(info.Duration/float64(cfg.StoryboardMaxTiles))))
	count := max(1, int(math.Ceil(info.Duration/float64(interval))))
	cols := min(cfg.StoryboardColumns, count)
	w, h := fitWithin(info.Width, info.Height, cfg.StoryboardTileWidth)
	return Storyboard{Interval: interval, Count: count, Columns: cols, Rows: (count + cols - 1) / cols,
		TileWidth: w, TileHeight: h, Duration: info.Duration}
}

// StoryboardArgs returns ffmpeg's arguments for the sprite: one frame per interval,
// scaled to a tile and laid out by the tile filter into one JPEG. The source is opened
// as InputArgs says, its container detected among the allowed ones; Runner.Storyboard
// names the probed container besides.
func StoryboardArgs(src, out string, sb Storyboard) []string {
	return storyboardArgs(src, "", out, sb)
}

func storyboardArgs(src, format, out string, sb Storyboard) []string {
	args := append([]string{"-hide_banner", "-nostdin", "-y", "-loglevel", "error"}, InputArgs(src, format)...)
	return append(args, "-an",
		"-vf", fmt.Sprintf("fps=1/%d,scale=%d:%d,setsar=1,tile=%dx%d", sb.Interval, sb.TileWidth, sb.TileHeight, sb.Columns, sb.Rows),
		"-frames:v", "1", "-q:v", "4", out)
}

// VTT returns the WebVTT file of the storyboard: one cue per tile, pointing into image
// (a URL relative to the VTT file) with a media fragment.
func (s Storyboard) VTT(image string) []byte {
	var b bytes.Buffer
	b.WriteString("WEBVTT\n")
	for i := range s.Count {
		start := float64(i * s.Interval)
		if start >= s.Duration && i > 0 {
			break
		}
		end := min(float64((i+1)*s.Interval), s.Duration)
		if end <= start {
			end = start + float64(s.Interval)
		}
		fmt.Fprintf(&b, "\n%s --> %s\n%s#xywh=%d,%d,%d,%d\n", vttTime(start), vttTime(end), image,
			(i%s.Columns)*s.TileWidth, (i/s.Columns)*s.TileHeight, s.TileWidth, s.TileHeight)
	}
	return b.Bytes()
}

func vttTime(sec float64) string {
	ms := int64(math.Round(sec * 1000))
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
}

// MasterVariant is one #EXT-X-STREAM-INF entry of a master playlist.
type MasterVariant struct {
	Bandwidth int
	Width     int
	Height    int
	Codecs    string
	URI       string
}

// ParseMaster reads the variants of an HLS master playlist.
func ParseMaster(r io.Reader) ([]MasterVariant, error) {
	var out []MasterVariant
	var cur *MasterVariant
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#EXT-X-STREAM-INF:"):
			cur = &MasterVariant{}
			for _, attr := range splitAttrs(strings.TrimPrefix(line, "#EXT-X-STREAM-INF:")) {
				k, v, _ := strings.Cut(attr, "=")
				switch k {
				case "BANDWIDTH":
					cur.Bandwidth, _ = strconv.Atoi(v)
				case "RESOLUTION":
					ws, hs, _ := strings.Cut(v, "x")
					cur.Width, _ = strconv.Atoi(ws)
					cur.Height, _ = strconv.Atoi(hs)
				case "CODECS":
					cur.Codecs = strings.Trim(v, `"`)
				}
			}
		case line != "" && !strings.HasPrefix(line, "#") && cur != nil:
			cur.URI = line
			out = append(out, *cur)
			cur = nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("master playlist lists no variants")
	}
	return out, nil
}

// splitAttrs splits an attribute list at commas outside quotes.
func splitAttrs(s string) []string {
	var out []string
	quoted, start := false, 0
	for i, c := range s {
		switch {
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// Runner runs the commands of a job. Every run reads the source through InputArgs, as
// the container its probe accepted, and is bounded by Config.TimeLimit of the source's
// duration.
type Runner struct {
	Bin    Binaries
	Config Config
}

// bounded returns ctx limited to the time one run over a source of duration seconds
// may take; the limit ends the run with an EINVALID error naming it.
func (r *Runner) bounded(ctx context.Context, what string, duration float64) (context.Context, context.CancelFunc) {
	limit := r.Config.TimeLimit(duration)
	return context.WithTimeoutCause(ctx, limit, videoforge.Errorf(videoforge.EINVALID,
		"the upload takes too long to process: the %s ran past its limit of %s for %.1fs of video", what, limit, duration))
}

// checkFormat refuses a container outside the allow-list before ffmpeg is started;
// "" lets ffmpeg detect it among the allowed ones.
func checkFormat(format string) error {
	if _, ok := AllowedFormat(format); format != "" && !ok {
		return errNotAllowed("it was probed as " + format)
	}
	return nil
}

// unreadable are what ffmpeg says, beside an error about the input itself (a line
// that starts with its URL), when a source cannot be demuxed or decoded.
var unreadable = []string{
	"Invalid data found",
	"Cannot determine format of input stream",
	"does not contain any stream",
	"Picture size",        // "Picture size 65535x65535 is invalid"
	`"0x0" as image size`, // a video stream without a size
}

// sourceError turns what ffmpeg says about an unreadable source src into an EINVALID
// error, so that the job fails for good instead of retrying; other failures (a full
// disk, a killed process) stay as they are. The message names the source "source",
// not by its path on the worker.
func sourceError(err error, src string) error {
	var exit *ExitError
	if !errors.As(err, &exit) {
		return err
	}
	stderr := strings.ReplaceAll(exit.Stderr, inputURL(src), "source")
	if refused(stderr) {
		return errNotAllowed(stderr)
	}
	for _, line := range strings.Split(stderr, " | ") {
		bad := strings.HasPrefix(line, "source: ")
		for _, m := range unreadable {
			bad = bad || strings.Contains(line, m)
		}
		if bad {
			return videoforge.Errorf(videoforge.EINVALID, "the upload is corrupt or unreadable: %s", firstLine(line))
		}
	}
	return err
}

// Encode encodes plan's ladder from src into outDir/hls, calling progress (when not nil)
// with each of ffmpeg's reports. It then reads back every variant's playlist: a ladder
// whose length falls well short of the probed duration is a truncated upload, one that
// lasts well beyond it an upload with inconsistent timestamps; both are EINVALID
// errors, as are a source outside the allow-list and a run past its time limit.
func (r *Runner) Encode(ctx context.Context, src, outDir string, plan Plan, progress func(Progress)) error {
	if err := checkFormat(plan.Format); err != nil {
		return err
	}
	ctx, cancel := r.bounded(ctx, "encode", plan.Duration)
	defer cancel()
	for _, v := range plan.Variants {
		if err := os.MkdirAll(filepath.Join(outDir, layout.HLSDir, v.Name), 0o755); err != nil {
			return err
		}
	}
	if err := runProgress(ctx, r.Bin.ffmpeg(), LadderArgs(src, outDir, plan, r.Config), progress); err != nil {
		return sourceError(err, src)
	}
	if plan.Duration <= 0 {
		return nil
	}
	for _, v := range plan.Variants {
		got, err := playlistSeconds(filepath.Join(outDir, layout.HLSDir, v.Name, layout.VariantIndex))
		if err != nil {
			return err
		}
		if err := checkLength(got, plan.Duration, r.Config.SegmentDuration.Seconds()); err != nil {
			return err
		}
	}
	return nil
}

// runProgress runs ffmpeg with args that report progress on standard output
// (-progress pipe:1), calling progress (when not nil) with each report.
func runProgress(ctx context.Context, name string, args []string, progress func(Progress)) error {
	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = ParseProgress(pr, func(p Progress) {
			if progress != nil {
				progress(p)
			}
		})
		_, _ = io.Copy(io.Discard, pr)
	})
	err := run(ctx, name, args, pw, nil)
	pw.Close()
	wg.Wait()
	return err
}

// checkLength compares an encoded variant's length with the source's probed duration,
// both in seconds. Slack for the short side covers a last frame's duration and audio
// that ends before the video; for the long side, one segment of rounding and a sound
// track that outlasts the video a little. Beyond that, a source's streams disagree
// (sound long after the pictures end) or its timestamps jump.
func checkLength(got, want, segment float64) error {
	switch {
	case got < want*0.9-0.5:
		return videoforge.Errorf(videoforge.EINVALID, "the upload is truncated: its video ends at %.1fs of %.1fs", got, want)
	case got > want*1.1+max(segment, 1):
		return videoforge.Errorf(videoforge.EINVALID, "the upload's streams or timestamps are inconsistent: it encodes to %.1fs, but its video lasts %.1fs", got, want)
	}
	return nil
}

// playlistSeconds returns the length of a VOD media playlist that ffmpeg wrote: the
// sum of its #EXTINF durations. A playlist without #EXT-X-ENDLIST is unfinished.
func playlistSeconds(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("ffmpeg wrote no %s: %w", path, err)
	}
	defer f.Close()
	sum, ended := 0.0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if d, ok := strings.CutPrefix(line, "#EXTINF:"); ok {
			d, _, _ = strings.Cut(d, ",")
			sec, err := strconv.ParseFloat(d, 64)
			if err != nil || sec < 0 {
				return 0, fmt.Errorf("%s: bad %q", path, line)
			}
			sum += sec
		} else if line == "#EXT-X-ENDLIST" {
			ended = true
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if !ended {
		return 0, fmt.Errorf("%s has no #EXT-X-ENDLIST: ffmpeg did not finish it", path)
	}
	return sum, nil
}

// Thumbnail writes outDir/thumbnail.jpg and returns its size. Like Encode, it reads the
// source as the probed container (info.Format) within the time limit.
func (r *Runner) Thumbnail(ctx context.Context, src, outDir string, info *Info) (w, h int, err error) {
	w, h = ThumbnailSize(info, r.Config)
	if err := checkFormat(info.Format); err != nil {
		return w, h, err
	}
	ctx, cancel := r.bounded(ctx, "thumbnail", info.Duration)
	defer cancel()
	out, at := filepath.Join(outDir, layout.ThumbnailFile), ThumbnailTime(info.Duration)
	err = run(ctx, r.Bin.ffmpeg(), thumbnailArgs(src, info.Format, out, at, w, h, false), nil, nil)
	if err == nil && nonEmpty(out) != nil {
		// Seeking on the input lands past the only keyframe before the time in some
		// sources (MPEG-TS with long keyframe intervals), and ffmpeg then writes
		// nothing: decode from the start instead.
		err = run(ctx, r.Bin.ffmpeg(), thumbnailArgs(src, info.Format, out, at, w, h, true), nil, nil)
	}
	if err != nil {
		return w, h, sourceError(err, src)
	}
	if nonEmpty(out) != nil {
		return w, h, videoforge.Errorf(videoforge.EINVALID, "the upload has no picture that can be decoded at %.1fs for its thumbnail", at)
	}
	return w, h, nil
}

// Storyboard writes outDir/storyboard.jpg and outDir/storyboard.vtt. Like Encode, it
// reads the source as the probed container (info.Format) within the time limit.
func (r *Runner) Storyboard(ctx context.Context, src, outDir string, info *Info) (Storyboard, error) {
	sb := PlanStoryboard(info, r.Config)
	if err := checkFormat(info.Format); err != nil {
		return sb, err
	}
	ctx, cancel := r.bounded(ctx, "storyboard", info.Duration)
	defer cancel()
	out := filepath.Join(outDir, layout.StoryboardImage)
	if err := run(ctx, r.Bin.ffmpeg(), storyboardArgs(src, info.Format, out, sb), nil, nil); err != nil {
		return sb, sourceError(err, src)
	}
	if nonEmpty(out) != nil {
		return sb, videoforge.Errorf(videoforge.EINVALID, "the upload has no picture that can be decoded for its storyboard")
	}
	return sb, os.WriteFile(filepath.Join(outDir, layout.StoryboardVTT), sb.VTT(layout.StoryboardImage), 0o644)
}

// nonEmpty reports whether ffmpeg wrote something at path; it writes nothing, and
// exits with status 0, when no frame came out of the source.
func nonEmpty(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Size() == 0 {
		return errors.New("empty")
	}
	return nil
}
