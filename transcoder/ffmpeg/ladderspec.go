package ffmpeg

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ParseLadder reads a ladder as TRANSCODER_LADDER spells it, comma-separated
// name:height:bitrate rungs: "720p:720:2800k,480p:480:1400k". The rungs are checked as
// ValidateRungs does.
func ParseLadder(s string) ([]Rung, error) {
	var rungs []Rung
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		fields := strings.Split(part, ":")
		if len(fields) != 3 {
			return nil, fmt.Errorf("%q: want name:height:bitrate", part)
		}
		h, err := strconv.Atoi(fields[1])
		if err != nil {
			return nil, fmt.Errorf("%q: height %q is not a number", part, fields[1])
		}
		b, err := ParseBitrate(fields[2])
		if err != nil {
			return nil, fmt.Errorf("%q: %w", part, err)
		}
		rungs = append(rungs, Rung{Name: fields[0], Height: h, VideoBitrate: b})
	}
	if len(rungs) == 0 {
		return nil, errors.New("empty")
	}
	return rungs, (Config{Rungs: rungs}).ValidateRungs()
}

// ParseBitrate reads bits per second: "800000", "800k" or "2.8M".
func ParseBitrate(s string) (int, error) {
	mult := 1.0
	num := strings.TrimSpace(s)
	switch {
	case strings.HasSuffix(num, "k"), strings.HasSuffix(num, "K"):
		mult, num = 1e3, num[:len(num)-1]
	case strings.HasSuffix(num, "M"), strings.HasSuffix(num, "m"):
		mult, num = 1e6, num[:len(num)-1]
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f <= 0 || f*mult > 1e10 {
		return 0, fmt.Errorf("bitrate %q: want bits per second such as 800k or 2.8M", s)
	}
	return int(f * mult), nil
}

// FormatLadder spells a ladder as ParseLadder reads it.
func FormatLadder(rungs []Rung) string {
	parts := make([]string, len(rungs))
	for i, r := range rungs {
		parts[i] = fmt.Sprintf("%s:%d:%dk", r.Name, r.Height, r.VideoBitrate/1000)
	}
	return strings.Join(parts, ",")
}
