package stack

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/videoforge/videoforge/playback"
	"github.com/videoforge/videoforge/telemetry"
	"github.com/videoforge/videoforge/transcoder/ffmpeg"
)

// value is a setting's parser: a flag.Value over the Options field it fills.
type value struct {
	set    func(string) error
	get    func() string
	isBool bool
}

func (v value) String() string {
	if v.get == nil { // the flag package's zero value, for -h
		return ""
	}
	return v.get()
}
func (v value) Set(s string) error { return v.set(s) }
func (v value) IsBoolFlag() bool   { return v.isBool }

// valueOf returns the parser of a field by its type: strings, numbers, durations,
// booleans, comma-separated lists, playback keys and ladders.
func valueOf(p any) value {
	switch p := p.(type) {
	case *string:
		return value{set: func(s string) error { *p = s; return nil }, get: func() string { return *p }}
	case *bool:
		return value{isBool: true, set: func(s string) (err error) { *p, err = strconv.ParseBool(s); return plain(err, "true or false") },
			get: func() string { return strconv.FormatBool(*p) }}
	case *int:
		return value{set: func(s string) (err error) {
			*p, err = strconv.Atoi(strings.TrimSpace(s))
			return plain(err, "a whole number")
		},
			get: func() string { return strconv.Itoa(*p) }}
	case *int64:
		return value{set: func(s string) (err error) {
			*p, err = strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			return plain(err, "a whole number")
		},
			get: func() string { return strconv.FormatInt(*p, 10) }}
	case *float64:
		return value{set: func(s string) (err error) {
			*p, err = strconv.ParseFloat(strings.TrimSpace(s), 64)
			return plain(err, "a number")
		},
			get: func() string { return strconv.FormatFloat(*p, 'f', -1, 64) }}
	case *time.Duration:
		return value{set: func(s string) (err error) {
			*p, err = time.ParseDuration(strings.TrimSpace(s))
			return plain(err, "a duration such as 30s or 5m")
		},
			get: func() string { return p.String() }}
	case *[]string:
		return value{set: func(s string) error { *p = splitList(s); return nil }, get: func() string { return strings.Join(*p, ",") }}
	case *tokenKey:
		return value{set: func(s string) (err error) {
			if s == "" {
				*p = tokenKey{}
				return nil
			}
			p.key, err = playback.ParseKey(s)
			p.set = err == nil
			return err
		},
			get: func() string { return "" }} // a secret is never shown
	case *[]ffmpeg.Rung:
		return value{set: func(s string) (err error) { *p, err = ffmpeg.ParseLadder(s); return err },
			get: func() string { return ffmpeg.FormatLadder(*p) }}
	case *bitrate:
		return value{set: func(s string) (err error) { *p.bps, err = ffmpeg.ParseBitrate(s); return err },
			get: func() string { return formatBitrate(*p.bps) }}
	case *LogFormat:
		return value{set: func(s string) error {
			switch f := LogFormat(strings.ToLower(strings.TrimSpace(s))); f {
			case telemetry.FormatText, telemetry.FormatJSON:
				*p = f
				return nil
			}
			return errors.New("want text or json")
		}, get: func() string { return string(*p) }}
	}
	panic(fmt.Sprintf("stack: no parser for %T", p))
}

// plain says what a value should have been instead of strconv's and time's wording,
// which repeats the value.
func plain(err error, want string) error {
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		return errors.New("out of range")
	}
	if err != nil {
		return errors.New("want " + want)
	}
	return nil
}

// tokenKey is a playback signing key as configured (PLAYBACK_TOKEN_KEY): its bytes, or
// "base64:<standard base64>" for a binary key.
type tokenKey struct {
	key []byte
	set bool
}

// bitrate points at a bits-per-second field written as 128k or 2.8M.
type bitrate struct{ bps *int }

func formatBitrate(bps int) string {
	if bps%1000 == 0 && bps > 0 {
		return strconv.Itoa(bps/1000) + "k"
	}
	return strconv.Itoa(bps)
}

// LogFormat is how a role writes its log (LOG_FORMAT): telemetry.FormatText or
// telemetry.FormatJSON.
type LogFormat string

// splitList splits a comma-separated setting, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
