package ffmpeg

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Rung is one quality of the configured ladder. Height is the length of the picture's
// short side, so that a portrait video's "720p" is 720 pixels wide.
type Rung struct {
	Name         string // e.g. "720p"; empty means "<Height>p"
	Height       int
	VideoBitrate int // bits per second
}

// Config is the ladder and encoder configuration of a transcoder.
type Config struct {
	Rungs           []Rung        // any order; chosen from tallest to shortest
	MaxFPS          float64       // frame rates above it are reduced to it; 0 means no cap
	AudioBitrate    int           // bits per second of every variant's AAC track
	Preset          string        // x264 preset, e.g. "veryfast"
	SegmentDuration time.Duration // HLS segment length; keyframes are forced on its multiples

	ThumbnailWidth      int // the thumbnail's long side at most, never upscaled
	StoryboardTileWidth int // the long side of one storyboard tile
	StoryboardColumns   int // tiles per row of the sprite
	StoryboardMaxTiles  int // the interval between tiles grows past this many
	Threads             int // x264 threads; 0 lets ffmpeg choose

	// Every ffmpeg run on a source (encode, thumbnail, storyboard) may take at most
	// TimeLimitBase plus TimeLimitFactor times the source's probed duration; past it
	// the run is stopped and fails as EINVALID. Zero values mean the defaults (see
	// DefaultConfig). The bound is generous: the whole ladder encodes at about its
	// duration's length on two cores, so a run that takes many times that is stuck
	// on this source, and retrying would only tie up another worker.
	TimeLimitBase   time.Duration
	TimeLimitFactor float64
}

// Default time limits of a run; see Config.TimeLimitBase.
const (
	DefaultTimeLimitBase   = 2 * time.Minute
	DefaultTimeLimitFactor = 8
)

// TimeLimit returns how long one ffmpeg run over a source of duration seconds may take.
func (c Config) TimeLimit(duration float64) time.Duration {
	base, factor := c.TimeLimitBase, c.TimeLimitFactor
	if base <= 0 {
		base = DefaultTimeLimitBase
	}
	if factor <= 0 {
		factor = DefaultTimeLimitFactor
	}
	return base + time.Duration(factor*max(0, duration)*float64(time.Second))
}

// DefaultConfig returns the ladder VideoForge serves unless configured otherwise.
func DefaultConfig() Config {
	return Config{
		Rungs: []Rung{
			{Name: "1080p", Height: 1080, VideoBitrate: 5_000_000},
			{Name: "720p", Height: 720, VideoBitrate: 2_800_000},
			{Name: "480p", Height: 480, VideoBitrate: 1_400_000},
			{Name: "360p", Height: 360, VideoBitrate: 800_000},
			{Name: "240p", Height: 240, VideoBitrate: 400_000},
		},
		MaxFPS:              30,
		AudioBitrate:        128_000,
		Preset:              "veryfast",
		SegmentDuration:     4 * time.Second,
		ThumbnailWidth:      1280,
		StoryboardTileWidth: 160,
		StoryboardColumns:   10,
		StoryboardMaxTiles:  100,
		TimeLimitBase:       DefaultTimeLimitBase,
		TimeLimitFactor:     DefaultTimeLimitFactor,
	}
}

// Validate checks a configuration before a transcoder starts.
func (c Config) Validate() error {
	if err := c.ValidateRungs(); err != nil {
		return err
	}
	switch {
	case c.AudioBitrate <= 0:
		return fmt.Errorf("audio bitrate must be positive")
	case c.SegmentDuration < time.Second:
		return fmt.Errorf("segment duration must be at least 1s")
	case c.Preset == "":
		return fmt.Errorf("no x264 preset")
	case c.ThumbnailWidth < 2 || c.StoryboardTileWidth < 2 || c.StoryboardColumns < 1 || c.StoryboardMaxTiles < 1:
		return fmt.Errorf("thumbnail and storyboard sizes must be positive")
	case c.TimeLimitBase < 0 || c.TimeLimitFactor < 0:
		return fmt.Errorf("time limits must not be negative")
	}
	return nil
}

// ValidateRungs checks the ladder alone.
func (c Config) ValidateRungs() error {
	if len(c.Rungs) == 0 {
		return fmt.Errorf("the ladder has no rungs")
	}
	seen := map[string]bool{}
	for _, r := range c.Rungs {
		if r.Height < 2 || r.Height%2 != 0 || r.VideoBitrate <= 0 {
			return fmt.Errorf("rung %q: height must be even and at least 2, bitrate positive", r.Name)
		}
		if seen[r.name()] {
			return fmt.Errorf("rung %q appears twice", r.name())
		}
		seen[r.name()] = true
	}
	return nil
}

func (r Rung) name() string {
	if r.Name == "" {
		return fmt.Sprintf("%dp", r.Height)
	}
	return r.Name
}

// Variant is one rendition a job encodes.
type Variant struct {
	Name         string
	Width        int
	Height       int
	VideoBitrate int
}

// Plan is what a job encodes from one source.
type Plan struct {
	Variants []Variant // tallest first
	FPS      float64   // the output frame rate when the source's is capped; 0 keeps it
	Audio    bool
	Duration float64 // seconds of the source
	// Format is the source's container as its probe read it (Info.Format); the encode
	// reads the source as that container only. Empty lets ffmpeg detect it, still
	// among the allowed containers alone.
	Format string
	// Event writes the variants' playlists as EVENT playlists that grow segment by
	// segment, each segment under a temporary name until it is complete, so that what
	// is there can be published while the encode goes on.
	Event bool
}

// PlanLadder chooses the variants for a source: every rung not taller than the source's
// short side (never upscaling), or, for a source smaller than every rung, one variant at
// its own size. Dimensions keep the source's aspect ratio and are even, as H.264 with
// 4:2:0 chroma needs; the frame rate is capped at cfg.MaxFPS.
func PlanLadder(info *Info, cfg Config) Plan {
	rungs := slices.Clone(cfg.Rungs)
	slices.SortFunc(rungs, func(a, b Rung) int { return b.Height - a.Height })
	short := min(info.Width, info.Height)
	var p Plan
	for _, r := range rungs {
		if r.Height <= short {
			w, h := scaleTo(info.Width, info.Height, r.Height)
			p.Variants = append(p.Variants, Variant{Name: r.name(), Width: w, Height: h, VideoBitrate: r.VideoBitrate})
		}
	}
	if len(p.Variants) == 0 {
		w, h := scaleTo(info.Width, info.Height, even(short))
		smallest := rungs[len(rungs)-1]
		p.Variants = []Variant{{Name: fmt.Sprintf("%dp", min(w, h)), Width: w, Height: h, VideoBitrate: smallest.VideoBitrate}}
	}
	if cfg.MaxFPS > 0 && info.FPS > cfg.MaxFPS+0.01 {
		p.FPS = cfg.MaxFPS
	}
	p.Audio = info.HasAudio()
	p.Duration = info.Duration
	p.Format = info.Format
	return p
}

// scaleTo returns w×h scaled so that its short side is short, both even.
func scaleTo(w, h, short int) (int, int) {
	if w <= h {
		return even(short), evenRound(float64(h) * float64(short) / float64(w))
	}
	return evenRound(float64(w) * float64(short) / float64(h)), even(short)
}

// evenRound rounds x to the nearest even number, at least 2.
func evenRound(x float64) int {
	return max(2, 2*int(math.Round(x/2)))
}

// even rounds n down to an even number, at least 2.
func even(n int) int {
	return max(2, n-n%2)
}

// fitWithin scales w×h down (never up) so that its long side is at most long, even.
func fitWithin(w, h, long int) (int, int) {
	if max(w, h) <= long {
		return even(w), even(h)
	}
	if w >= h {
		return even(long), evenRound(float64(h) * float64(long) / float64(w))
	}
	return evenRound(float64(w) * float64(long) / float64(h)), even(long)
}
