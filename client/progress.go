package client

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
)

// IsTerminal tells whether w is a terminal (an *os.File on one), where a Progress may
// redraw its line.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// Progress shows how far one step (an upload, a job) got, on w. On a terminal it
// redraws one line, "upload    [#########.....................]  31%  12.3 MiB/s, 0:42 left",
// with carriage returns; elsewhere (a pipe, a log file) it writes plain lines,
// "upload 30% 9.0/30.0 MiB 11.2 MiB/s 0:02 left", at most one per 10 % of the step or
// per LineEvery, so that a log holds a few lines and no "\r". Speed and time left are
// shown for steps of bytes (ProgressOptions.Total). Its Set fits
// UploadOptions.Progress and FollowJob; it is safe for concurrent use.
type Progress struct {
	mu    sync.Mutex // the HTTP transport reads a PUT's body on its own goroutine
	w     io.Writer
	label string
	opts  ProgressOptions
	rate  rateMeter

	last  float64   // the last Set's fraction
	ended time.Time // when the step first reached 1
	pct   int       // the percent last shown
	at    time.Time // when it was last shown
	shown bool      // something was shown
	open  bool      // a terminal line waits for its line break
}

// ProgressOptions says how a Progress shows itself.
type ProgressOptions struct {
	// Terminal redraws one line in place; otherwise Progress writes plain lines.
	// IsTerminal tells whether a writer is one.
	Terminal bool
	// Total is the bytes the step moves: when set, Progress shows the bytes, the speed
	// and the time left. 0 for a step not of bytes (a job), shown as a percent.
	Total int64
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// LineEvery is the longest a Progress off a terminal stays silent while its step
// advances less than 10 %; RedrawEvery, how often it redraws a terminal's line whose
// percent did not change (for the speed and the time left).
const (
	LineEvery   = 5 * time.Second
	RedrawEvery = time.Second
)

// NewProgress returns a Progress labelled label that shows itself on w.
func NewProgress(w io.Writer, label string, opts ProgressOptions) *Progress {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Progress{w: w, label: label, opts: opts}
	p.rate.start(opts.Now())
	return p
}

// Set records that the step is at fraction (from 0 to 1) and shows it when due: on a
// terminal when the percent changed or RedrawEvery passed, elsewhere when the step
// advanced 10 % or LineEvery passed since the last line.
func (p *Progress) Set(fraction float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fraction = min(max(fraction, 0), 1)
	now := p.opts.Now()
	p.last = fraction
	if fraction == 1 && p.ended.IsZero() {
		p.ended = now
	}
	if p.opts.Total > 0 {
		p.rate.add(now, fraction*float64(p.opts.Total))
	}
	pct := int(fraction * 100)
	switch {
	case !p.shown:
	case p.opts.Terminal && (pct != p.pct || (p.opts.Total > 0 && now.Sub(p.at) >= RedrawEvery)):
	case !p.opts.Terminal && (pct >= p.pct+10 || (pct > p.pct && now.Sub(p.at) >= LineEvery)):
	default:
		return
	}
	p.show(now, fraction, pct, p.speed())
}

// speed is the smoothed speed, or for a step done sooner than the first sample its
// average, which is exact then; the caller holds mu.
func (p *Progress) speed() float64 {
	if r := p.rate.perSecond(); r > 0 || p.ended.IsZero() || !p.ended.After(p.rate.began) {
		return r
	}
	return float64(p.opts.Total) / p.ended.Sub(p.rate.began).Seconds()
}

// show writes the step's state at fraction; the caller holds mu.
func (p *Progress) show(now time.Time, fraction float64, pct int, rate float64) {
	p.pct, p.at, p.shown = pct, now, true
	if p.opts.Terminal {
		p.open = true
		fmt.Fprintf(p.w, "\r%s\x1b[K", BarLine(p.label, fraction, p.opts.Total, rate))
		return
	}
	fmt.Fprintln(p.w, PlainLine(p.label, fraction, p.opts.Total, rate))
}

// Done shows the step's last state, if it did not, and ends a terminal's line. The
// Progress shows nothing more afterwards unless Set is called again.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pct := int(p.last * 100); p.shown && pct != p.pct {
		p.show(p.opts.Now(), p.last, pct, p.speed())
	}
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
	p.shown = false
}

// BarLine is a terminal's line for a step at fraction: the bar and the percent, and
// for a step of total bytes the speed and the time left when the speed is known
// (bytesPerSecond > 0).
func BarLine(label string, fraction float64, total int64, bytesPerSecond float64) string {
	const width = 30
	pct := int(min(max(fraction, 0), 1) * 100)
	fill := pct * width / 100
	s := fmt.Sprintf("%-9s [%s%s] %3d%%", label, strings.Repeat("#", fill), strings.Repeat(".", width-fill), pct)
	if total > 0 && bytesPerSecond > 0 {
		s += "  " + Speed(bytesPerSecond) + ", " + TimeLeft(fraction, total, bytesPerSecond) + " left"
	}
	return s
}

// PlainLine is the line for a step at fraction off a terminal: "upload 40% 12.0/30.0
// MiB 11.2 MiB/s 0:02 left" for a step of total bytes (without the last two when the
// speed is not known yet), "transcode 40%" for another.
func PlainLine(label string, fraction float64, total int64, bytesPerSecond float64) string {
	fraction = min(max(fraction, 0), 1)
	s := fmt.Sprintf("%s %d%%", label, int(fraction*100))
	if total > 0 {
		s += " " + bytesOf(int64(fraction*float64(total)), total)
		if bytesPerSecond > 0 {
			s += " " + Speed(bytesPerSecond) + " " + TimeLeft(fraction, total, bytesPerSecond) + " left"
		}
	}
	return s
}

// bytesOf reads "12.0/30.0 MiB", both in the unit of total.
func bytesOf(n, total int64) string {
	unit, div := "B", 1.0
	switch {
	case total >= 1<<30:
		unit, div = "GiB", 1<<30
	case total >= 1<<20:
		unit, div = "MiB", 1<<20
	case total >= 1<<10:
		unit, div = "KiB", 1<<10
	}
	if unit == "B" {
		return fmt.Sprintf("%d/%d B", n, total)
	}
	return fmt.Sprintf("%.1f/%.1f %s", float64(n)/div, float64(total)/div, unit)
}

// Speed reads "12.3 MiB/s", or "512.0 KiB/s" under a MiB per second.
func Speed(bytesPerSecond float64) string {
	if bytesPerSecond < 1<<20 {
		return fmt.Sprintf("%.1f KiB/s", bytesPerSecond/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB/s", bytesPerSecond/(1<<20))
}

// TimeLeft reads the time the rest of total bytes takes at bytesPerSecond, rounded up
// to the second: "0:42", "12:05", "1:02:03"; "?:??" when the speed is not known.
func TimeLeft(fraction float64, total int64, bytesPerSecond float64) string {
	if bytesPerSecond <= 0 {
		return "?:??"
	}
	left := (1 - min(max(fraction, 0), 1)) * float64(total) / bytesPerSecond
	if left > 100*3600 {
		return ">99h"
	}
	s := int64(math.Ceil(left))
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// rateMeter smooths a step's speed: every sample at least rateSample after the last
// one gives the speed since, which is averaged into the rate with a weight that decays
// over rateWindow, so that a stall or a burst moves the shown speed within seconds
// without making it jump with each read.
type rateMeter struct {
	began time.Time
	at    time.Time // the last sample's time
	n     float64   // the bytes then
	rate  float64   // bytes per second, 0 until the first sample
}

const (
	rateSample = 250 * time.Millisecond
	rateWindow = 3 * time.Second
)

func (r *rateMeter) start(now time.Time) { r.began, r.at = now, now }

func (r *rateMeter) add(now time.Time, n float64) {
	dt := now.Sub(r.at)
	if dt < rateSample {
		return
	}
	inst := (n - r.n) / dt.Seconds()
	if r.rate == 0 {
		r.rate = inst
	} else {
		w := 1 - math.Exp(-dt.Seconds()/rateWindow.Seconds())
		r.rate += w * (inst - r.rate)
	}
	r.at, r.n = now, n
}

// perSecond is the smoothed speed in bytes per second, 0 while not known.
func (r *rateMeter) perSecond() float64 { return max(r.rate, 0) }
