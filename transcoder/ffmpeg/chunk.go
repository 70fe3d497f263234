package ffmpeg

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/layout"
)

// A long source's ladder is encoded in chunks: each chunk is a span of the source
// whose start and length are whole segments, its video encoded for every variant into
// one MPEG-TS file per variant (EncodeChunk), without sound. The sound is encoded once,
// whole (EncodeAudio), so that it has no joins at all. Stitch then joins a variant's
// chunks end to end with the sound into its HLS rendition: one remux, so that its
// timestamps and segment numbers run on across the joins as if it were one encode, and
// its keyframes, forced on segment boundaries counted from each chunk's start, fall on
// the same boundaries as a whole encode's.

// ChunkSpans returns the chunks of a source of duration seconds: spans of about
// chunk seconds, rounded to whole segments of seg seconds, the last one taking the
// rest. A source not longer than two chunks is one span.
func ChunkSpans(duration, chunk, seg float64) []Span {
	n := max(1, math.Round(chunk/seg)) * seg
	if duration <= 2*n {
		return []Span{{Start: 0, Length: duration}}
	}
	var spans []Span
	for start := 0.0; start < duration; start += n {
		spans = append(spans, Span{Start: start, Length: n})
	}
	// A tail shorter than a segment joins the chunk before it.
	if last := spans[len(spans)-1]; duration-last.Start < seg && len(spans) > 1 {
		spans = spans[:len(spans)-1]
	}
	last := &spans[len(spans)-1]
	last.Length = duration - last.Start
	return spans
}

// Span is a stretch of a source, in seconds.
type Span struct {
	Start  float64 `json:"start"`
	Length float64 `json:"length"`
}

// ChunkFile is the name of variant v's file of a chunk.
func ChunkFile(v Variant) string { return v.Name + ".ts" }

// AudioFile is the name of the sound encoded whole for a chunked ladder.
const AudioFile = "audio.ts"

func seconds(f float64) string { return strconv.FormatFloat(f, 'f', 6, 64) }

// ChunkArgs returns ffmpeg's arguments for the chunk span of plan's ladder: the
// source read from span.Start (seeking on the input, then decoding exactly to it) for
// span.Length, through the ladder's filter graph, each variant's video into
// outDir/<ChunkFile>. The last chunk reads to the source's end.
func ChunkArgs(src, outDir string, plan Plan, span Span, last bool, cfg Config) []string {
	args := []string{"-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-progress", "pipe:1", "-nostats"}
	if span.Start > 0 {
		args = append(args, "-ss", seconds(span.Start))
	}
	if !last {
		args = append(args, "-t", seconds(span.Length))
	}
	args = append(args, InputArgs(src, plan.Format)...)
	args = append(args, "-filter_complex", ladderGraph(plan))
	for i, v := range plan.Variants {
		args = append(args, "-map", fmt.Sprintf("[v%d]", i))
		args = append(args, x264Args(cfg)...)
		args = append(args, rateArgs("", v)...)
		args = append(args, "-an", "-dn", "-sn", "-f", "mpegts", filepath.Join(outDir, ChunkFile(v)))
	}
	return args
}

// EncodeChunk encodes the chunk span of plan's ladder into outDir (see ChunkArgs),
// calling progress with ffmpeg's reports.
func (r *Runner) EncodeChunk(ctx context.Context, src, outDir string, plan Plan, span Span, last bool, progress func(Progress)) error {
	if err := checkFormat(plan.Format); err != nil {
		return err
	}
	ctx, cancel := r.bounded(ctx, "chunk encode", span.Length)
	defer cancel()
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	if err := runProgress(ctx, r.Bin.ffmpeg(), ChunkArgs(src, outDir, plan, span, last, r.Config), progress); err != nil {
		return sourceError(err, src)
	}
	for _, v := range plan.Variants {
		if err := nonEmpty(filepath.Join(outDir, ChunkFile(v))); err != nil {
			return videoforge.Errorf(videoforge.EINVALID, "the upload has no picture that can be decoded from %.1fs", span.Start)
		}
	}
	return nil
}

// AudioArgs returns ffmpeg's arguments for the source's first sound stream, whole,
// as the ladder encodes it (AAC, stereo), into out as MPEG-TS.
func AudioArgs(src, out string, plan Plan, cfg Config) []string {
	args := []string{"-hide_banner", "-nostdin", "-y", "-loglevel", "error"}
	args = append(args, InputArgs(src, plan.Format)...)
	return append(args, "-map", "0:a:0", "-vn", "-dn", "-sn", "-c:a", "aac", "-b:a", kbps(cfg.AudioBitrate), "-ac", "2",
		"-f", "mpegts", out)
}

// EncodeAudio encodes the source's sound for a chunked ladder into out.
func (r *Runner) EncodeAudio(ctx context.Context, src, out string, plan Plan) error {
	if err := checkFormat(plan.Format); err != nil {
		return err
	}
	ctx, cancel := r.bounded(ctx, "sound encode", plan.Duration)
	defer cancel()
	if err := run(ctx, r.Bin.ffmpeg(), AudioArgs(src, out, plan, r.Config), nil, nil); err != nil {
		return sourceError(err, src)
	}
	return nil
}

// ConcatList returns an ffconcat list of the files, each but the last lasting its
// span's length: the concat demuxer places every file's start where the one before
// ends, so that the timestamps run on across the joins.
func ConcatList(files []string, spans []Span) string {
	var b strings.Builder
	b.WriteString("ffconcat version 1.0\n")
	for i, f := range files {
		fmt.Fprintf(&b, "file '%s'\n", strings.ReplaceAll(f, "'", `'\''`))
		if i < len(files)-1 {
			fmt.Fprintf(&b, "duration %s\n", seconds(spans[i].Length))
		}
	}
	return b.String()
}

// StitchArgs returns ffmpeg's arguments that join the chunks listed in list (see
// ConcatList) with the sound in audio ("" for none) into variant v's HLS rendition
// under outDir/hls/<v.Name>: stream copy, segments cut on the chunks' keyframes.
func StitchArgs(list, audio, outDir string, v Variant, cfg Config) []string {
	args := []string{"-hide_banner", "-nostdin", "-y", "-loglevel", "error",
		"-protocol_whitelist", "file", "-f", "concat", "-safe", "0", "-i", list}
	if audio != "" {
		args = append(args, "-protocol_whitelist", "file", "-f", "mpegts", "-i", inputURL(audio), "-map", "0:v:0", "-map", "1:a:0")
	} else {
		args = append(args, "-map", "0:v:0")
	}
	dir := filepath.Join(outDir, layout.HLSDir, v.Name)
	args = append(args, "-c", "copy")
	args = append(args, hlsArgs(segmentSeconds(cfg), false, filepath.Join(dir, layout.SegmentPattern))...)
	return append(args, filepath.Join(dir, layout.VariantIndex))
}

// Stitch joins variant v's chunk files, in order, with the sound in audio ("" for
// none) into its rendition under outDir/hls/<v.Name>, and checks its length against
// duration as Encode does.
func (r *Runner) Stitch(ctx context.Context, files []string, spans []Span, audio, outDir string, v Variant, duration float64) error {
	ctx, cancel := r.bounded(ctx, "stitch", duration)
	defer cancel()
	dir := filepath.Join(outDir, layout.HLSDir, v.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	list := filepath.Join(outDir, v.Name+".ffconcat")
	if err := os.WriteFile(list, []byte(ConcatList(files, spans)), 0o644); err != nil {
		return err
	}
	defer os.Remove(list)
	if err := run(ctx, r.Bin.ffmpeg(), StitchArgs(list, audio, outDir, v, r.Config), nil, nil); err != nil {
		return fmt.Errorf("stitch %s: %w", v.Name, err)
	}
	got, err := playlistSeconds(filepath.Join(dir, layout.VariantIndex))
	if err != nil {
		return err
	}
	return checkLength(got, duration, r.Config.SegmentDuration.Seconds())
}
