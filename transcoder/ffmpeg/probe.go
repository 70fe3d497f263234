package ffmpeg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/videoforge/videoforge"
)

// Info is what a job needs to know about a source video.
type Info struct {
	Duration   float64 // seconds
	Width      int     // display width: rotation and pixel aspect applied
	Height     int     // display height
	FPS        float64 // frames per second; 0 when unknown
	VideoCodec string  // e.g. "h264"
	AudioCodec string  // e.g. "aac"; "" without audio
	Size       int64   // bytes
	Format     string  // the container, as ffprobe names it (its format_name)
	// VideoFrames is how many packets (frames) of the video stream ffprobe read from
	// start to end; 0 when unknown.
	VideoFrames int64
	// What decides whether the video stream can be copied into HLS as it is
	// (StreamCopy): its profile ("High"), pixel format ("yuv420p"), level (40 for
	// 4.0), bitrate in bits per second (the stream's, else the container's; 0 when
	// unknown), whether it is stored rotated, and whether its pixels are square.
	VideoProfile string
	PixFmt       string
	VideoLevel   int
	VideoBitrate int
	Rotated      bool
	SquarePixels bool
}

// HasAudio reports whether the source has an audio stream to carry into the ladder.
func (i *Info) HasAudio() bool { return i.AudioCodec != "" }

// Limits bound the sources a job accepts; zero fields mean no limit.
type Limits struct {
	MaxDuration time.Duration
	MaxSize     int64 // bytes
	MaxPixels   int   // width × height of the source
}

// MaxDimension is the largest width or height of a source, whatever the limits: more
// than any H.264 level decodes, and a guard against sizes a forged header claims.
const MaxDimension = 16384

// A claimed duration must be backed by frames: a source longer than
// sparseCheckAfter whose video holds fewer than one frame per maxFrameSpacing of it
// is refused. ffmpeg's constant-frame-rate output would otherwise duplicate frames
// across the whole claim: for a 1.6 KB Matroska file of 30 frames at 30 fps and one
// stamped 3 h 59 min later, a single 720p rendition had 66 of its 239 minutes after
// ten minutes of encoding (430,000 frames in all, five renditions in a real ladder),
// while ffmpeg reported no progress and ignored SIGINT.
const (
	maxFrameSpacing  = 5.0  // seconds of claimed duration per frame, at most
	sparseCheckAfter = 30.0 // seconds; shorter sources are cheap whatever they claim
)

// ProbeTimeLimit is how long ffprobe may take over a source of size bytes: a floor,
// plus the time to read the whole file at a slow disk's pace, since -count_packets
// reads it all.
func ProbeTimeLimit(size int64) time.Duration {
	const floor, bytesPerSecond = 30 * time.Second, 20 << 20
	return floor + time.Duration(size/bytesPerSecond)*time.Second
}

// ProbeArgs returns ffprobe's arguments for reading a source's streams and format:
// through the input restrictions of InputArgs, counting the packets of every stream
// (which reads the file to its end: a plausibility check of the claimed duration).
func ProbeArgs(path string) []string {
	return append([]string{"-v", "error", "-count_packets", "-print_format", "json", "-show_format", "-show_streams"},
		InputArgs(path, "")...)
}

// HeaderProbeArgs returns ffprobe's arguments for reading a source's streams and
// format from its headers alone, without counting packets: what ProbeHeaders runs.
func HeaderProbeArgs(path string) []string {
	return append([]string{"-v", "error", "-print_format", "json", "-show_format", "-show_streams"},
		InputArgs(path, "")...)
}

// Probe reads the source at path with ffprobe and checks it against limits. A source
// that is not a playable video is an EINVALID error (ETOOLARGE for limits) whose
// message says why: not a container VideoForge reads (a playlist, a manifest, a concat
// list, any other format), corrupt, truncated, audio-only, zero duration, a claimed
// duration its frames do not fill, too long, too large. ffprobe runs for at most
// ProbeTimeLimit of the file's size; past it the source is refused as EINVALID.
func Probe(ctx context.Context, bin Binaries, path string, limits Limits) (*Info, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("ffprobe: %w", err)
	}
	return probe(ctx, bin, path, st.Size(), limits, ProbeArgs(path))
}

// ProbeHeaders is Probe from the source's headers alone, for a source of size bytes
// at a URL (see InputArgs) or in a file: it reads what the container's index says
// (seeking to a moov box at the end) instead of the whole source, so it answers in
// a fraction of a second whatever the length. It checks all that Probe does except
// that the frames fill the claimed duration, where the container does not say how
// many frames it holds; a job probes the whole source before it encodes a ladder.
func ProbeHeaders(ctx context.Context, bin Binaries, path string, size int64, limits Limits) (*Info, error) {
	return probe(ctx, bin, path, size, limits, HeaderProbeArgs(path))
}

func probe(ctx context.Context, bin Binaries, path string, size int64, limits Limits, args []string) (*Info, error) {
	if size == 0 {
		return nil, videoforge.Errorf(videoforge.EINVALID, "the upload is empty")
	}
	if limits.MaxSize > 0 && size > limits.MaxSize {
		return nil, videoforge.Errorf(videoforge.ETOOLARGE, "the upload is %d bytes, over the limit of %d", size, limits.MaxSize)
	}
	limit := ProbeTimeLimit(size)
	ctx, cancel := context.WithTimeoutCause(ctx, limit,
		videoforge.Errorf(videoforge.EINVALID, "the upload cannot be read: ffprobe took longer than %s over it", limit))
	defer cancel()
	var out bytes.Buffer
	tail := newTail()
	err := run(ctx, bin.ffprobe(), args, &out, tail)
	var exit *ExitError
	if errors.As(err, &exit) {
		stderr := strings.ReplaceAll(exit.Stderr, inputURL(path), "source")
		if refused(stderr) {
			return nil, errNotAllowed(stderr)
		}
		return nil, videoforge.Errorf(videoforge.EINVALID, "the upload is not a video that can be read (corrupt or truncated): %s", firstLine(stderr))
	} else if err != nil {
		return nil, err
	}
	info, err := ParseProbe(out.Bytes())
	if err != nil {
		if e := strings.ReplaceAll(tail.String(), inputURL(path), "source"); e != "" && videoforge.ErrorCode(err) == videoforge.EINVALID {
			return nil, videoforge.Errorf(videoforge.EINVALID, "%s (ffprobe: %s)", videoforge.ErrorMessage(err), firstLine(e))
		}
		return nil, err
	}
	if _, ok := AllowedFormat(info.Format); !ok {
		// ffprobe refuses these itself; this holds should its whitelist ever not.
		return nil, errNotAllowed("ffprobe read it as " + info.Format)
	}
	if info.Size == 0 {
		info.Size = size
	}
	if err := Validate(info, limits); err != nil {
		return nil, err
	}
	return info, nil
}

// refused reports whether ffmpeg's or ffprobe's stderr says that the input's format or
// a protocol it asked for is outside the allow-lists.
func refused(stderr string) bool {
	return strings.Contains(stderr, "not on whitelist")
}

func errNotAllowed(detail string) error {
	return videoforge.Errorf(videoforge.EINVALID, "the upload is not a video in a container VideoForge reads "+
		"(MP4/MOV, Matroska/WebM, AVI, MPEG-TS, FLV, Ogg, MXF, WMV, MPEG-PS); playlists, manifests and "+
		"concat lists are refused: %s", firstLine(detail))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, " | ")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

type probeOutput struct {
	Streams []struct {
		CodecType         string            `json:"codec_type"`
		CodecName         string            `json:"codec_name"`
		Profile           string            `json:"profile"`
		PixFmt            string            `json:"pix_fmt"`
		Level             int               `json:"level"`
		BitRate           string            `json:"bit_rate"`
		Width             int               `json:"width"`
		Height            int               `json:"height"`
		SampleAspectRatio string            `json:"sample_aspect_ratio"`
		AvgFrameRate      string            `json:"avg_frame_rate"`
		RFrameRate        string            `json:"r_frame_rate"`
		Duration          string            `json:"duration"`
		NbReadPackets     string            `json:"nb_read_packets"`
		Disposition       map[string]int    `json:"disposition"`
		Tags              map[string]string `json:"tags"`
		SideDataList      []struct {
			Rotation float64 `json:"rotation"`
		} `json:"side_data_list"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
		Size       string `json:"size"`
		BitRate    string `json:"bit_rate"`
	} `json:"format"`
}

// ParseProbe reads ffprobe's JSON output (see ProbeArgs) into an Info. It rejects, as
// EINVALID, sources without a video stream; Validate checks the rest.
func ParseProbe(b []byte) (*Info, error) {
	var p probeOutput
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, videoforge.Errorf(videoforge.EINVALID, "the upload is not a video that can be read (corrupt): ffprobe gave no usable answer")
	}
	info := &Info{Format: p.Format.FormatName}
	info.Size, _ = strconv.ParseInt(p.Format.Size, 10, 64)
	video, unsized := -1, false
	for i, s := range p.Streams {
		switch s.CodecType {
		case "video":
			// Cover art in music files is a one-picture "video" stream.
			if s.Disposition["attached_pic"] == 1 {
				continue
			}
			if s.Width <= 0 || s.Height <= 0 {
				unsized = true
				continue
			}
			if video < 0 {
				video = i
			}
		case "audio":
			if info.AudioCodec == "" {
				info.AudioCodec = s.CodecName
			}
		}
	}
	if video < 0 {
		if info.AudioCodec != "" {
			return nil, videoforge.Errorf(videoforge.EINVALID, "the upload is audio only: it has no video stream")
		}
		if unsized {
			return nil, videoforge.Errorf(videoforge.EINVALID, "the upload's video has no picture size that can be decoded (corrupt, or an impossible size)")
		}
		return nil, videoforge.Errorf(videoforge.EINVALID, "the upload has no video stream")
	}
	v := p.Streams[video]
	info.VideoCodec, info.VideoProfile, info.PixFmt, info.VideoLevel = v.CodecName, v.Profile, v.PixFmt, v.Level
	for _, b := range []string{v.BitRate, p.Format.BitRate} {
		if n, err := strconv.Atoi(b); err == nil && n > 0 {
			info.VideoBitrate = n
			break
		}
	}
	if v.NbReadPackets != "" {
		n, err := strconv.ParseInt(v.NbReadPackets, 10, 64)
		if err == nil && n == 0 {
			return nil, videoforge.Errorf(videoforge.EINVALID, "the upload's video stream holds no frames")
		}
		if err == nil && n > 0 {
			info.VideoFrames = n
		}
	}
	w, h := v.Width, v.Height
	info.SquarePixels = true
	if num, den, ok := ratio(v.SampleAspectRatio); ok && num != den {
		w = int(math.Round(float64(w) * float64(num) / float64(den)))
		info.SquarePixels = false
	}
	rot := 0.0
	for _, sd := range v.SideDataList {
		if sd.Rotation != 0 {
			rot = sd.Rotation
		}
	}
	if r, err := strconv.ParseFloat(v.Tags["rotate"], 64); err == nil && rot == 0 {
		rot = r
	}
	info.Rotated = int(math.Abs(rot))%360 != 0
	if int(math.Abs(rot))%180 == 90 {
		w, h = h, w
	}
	info.Width, info.Height = w, h
	for _, r := range []string{v.AvgFrameRate, v.RFrameRate} {
		if num, den, ok := ratio(r); ok && num > 0 {
			info.FPS = float64(num) / float64(den)
			break
		}
	}
	info.Duration = parseSeconds(p.Format.Duration)
	if d := parseSeconds(v.Duration); info.Duration == 0 || (d > 0 && d < info.Duration) {
		info.Duration = d
	}
	return info, nil
}

// Validate checks a probed source against limits, and against what no source may be
// whatever the limits: smaller than 2x2, larger than MaxDimension a side, without
// duration, or claiming a duration that its frames do not fill.
func Validate(info *Info, limits Limits) error {
	switch {
	case info.Width < 2 || info.Height < 2:
		return videoforge.Errorf(videoforge.EINVALID, "the video is %dx%d, too small to encode", info.Width, info.Height)
	case info.Width > MaxDimension || info.Height > MaxDimension:
		return videoforge.Errorf(videoforge.ETOOLARGE, "the video is %dx%d, over the largest size of %d pixels a side", info.Width, info.Height, MaxDimension)
	case !(info.Duration > 0):
		return videoforge.Errorf(videoforge.EINVALID, "the video has zero duration")
	case info.VideoFrames > 0 && info.Duration > sparseCheckAfter && float64(info.VideoFrames)*maxFrameSpacing < info.Duration:
		return videoforge.Errorf(videoforge.EINVALID, "the video claims to last %s but holds only %d frames, fewer than one per %gs: its length or timestamps are implausible",
			time.Duration(info.Duration*float64(time.Second)).Round(time.Second), info.VideoFrames, maxFrameSpacing)
	case limits.MaxDuration > 0 && info.Duration > limits.MaxDuration.Seconds():
		return videoforge.Errorf(videoforge.ETOOLARGE, "the video is %s long, over the limit of %s",
			time.Duration(info.Duration*float64(time.Second)).Round(time.Second), limits.MaxDuration)
	case limits.MaxSize > 0 && info.Size > limits.MaxSize:
		return videoforge.Errorf(videoforge.ETOOLARGE, "the upload is %d bytes, over the limit of %d", info.Size, limits.MaxSize)
	case limits.MaxPixels > 0 && info.Width*info.Height > limits.MaxPixels:
		return videoforge.Errorf(videoforge.ETOOLARGE, "the video is %dx%d, over the limit of %d pixels", info.Width, info.Height, limits.MaxPixels)
	}
	return nil
}

func parseSeconds(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0
	}
	return f
}

// ratio parses "num/den" or "num:den" with both parts positive.
func ratio(s string) (num, den int, ok bool) {
	a, b, found := strings.Cut(s, "/")
	if !found {
		a, b, found = strings.Cut(s, ":")
	}
	if !found {
		return 0, 0, false
	}
	n, err1 := strconv.Atoi(a)
	d, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || n <= 0 || d <= 0 {
		return 0, 0, false
	}
	return n, d, true
}
