package ffmpeg

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"
)

// Progress is one report of ffmpeg's -progress output: a block of key=value lines that
// ends with progress=continue or progress=end.
type Progress struct {
	Frame   int64         // frames written so far
	OutTime time.Duration // media time written so far
	Speed   float64       // times real time; 0 when ffmpeg does not know yet
	Size    int64         // bytes written; -1 when ffmpeg does not know (HLS, segment muxers)
	End     bool          // the last block: ffmpeg is done
}

// ProgressParser turns the lines of ffmpeg's -progress output into Progress values. It
// does no input or output and keeps no more than the block being read, so that it can be
// fed untrusted bytes (fuzzed) and the caller chooses how to read.
type ProgressParser struct {
	cur Progress
}

// Feed takes one line (with or without its newline) and returns a Progress when the line
// closes a block. Unknown keys, malformed lines and unparsable values are ignored:
// ffmpeg adds keys between versions, and "N/A" is a normal value.
func (p *ProgressParser) Feed(line string) (Progress, bool) {
	line = strings.TrimRight(line, "\r\n")
	key, value, ok := strings.Cut(line, "=")
	if !ok {
		return Progress{}, false
	}
	key, value = strings.TrimSpace(key), strings.TrimSpace(value)
	switch key {
	case "frame":
		if n, err := strconv.ParseInt(value, 10, 64); err == nil && n >= 0 {
			p.cur.Frame = n
		}
	case "out_time_us", "out_time_ms": // both are microseconds (out_time_ms is misnamed)
		if n, err := strconv.ParseInt(value, 10, 64); err == nil && n >= 0 && n < int64(1<<62)/1000 {
			p.cur.OutTime = time.Duration(n) * time.Microsecond
		}
	case "total_size":
		p.cur.Size = -1
		if n, err := strconv.ParseInt(value, 10, 64); err == nil && n >= 0 {
			p.cur.Size = n
		}
	case "speed":
		if f, err := strconv.ParseFloat(strings.TrimSuffix(value, "x"), 64); err == nil && f >= 0 && f < 1e9 {
			p.cur.Speed = f
		}
	case "progress":
		out := p.cur
		out.End = value == "end"
		// Keep the values: the next block repeats them anyway, and a block cut short
		// should not report time going backwards.
		p.cur.End = false
		return out, true
	}
	return Progress{}, false
}

// ParseProgress reads -progress output until r ends and calls fn for every complete block.
func ParseProgress(r io.Reader, fn func(Progress)) error {
	var p ProgressParser
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for sc.Scan() {
		if pr, ok := p.Feed(sc.Text()); ok {
			fn(pr)
		}
	}
	return sc.Err()
}

// parseProgressBytes is ParseProgress over a byte slice, for tests.
func parseProgressBytes(b []byte) []Progress {
	var out []Progress
	_ = ParseProgress(bytes.NewReader(b), func(p Progress) { out = append(out, p) })
	return out
}
