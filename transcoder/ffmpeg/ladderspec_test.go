package ffmpeg_test

import (
	"strings"
	"testing"

	"github.com/videoforge/videoforge/transcoder/ffmpeg"
)

func TestParseLadder(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []ffmpeg.Rung
		err  string
	}{
		{"720p:720:2800k, 360p:360:0.8M", []ffmpeg.Rung{{Name: "720p", Height: 720, VideoBitrate: 2800000}, {Name: "360p", Height: 360, VideoBitrate: 800000}}, ""},
		{"x:240:400000", []ffmpeg.Rung{{Name: "x", Height: 240, VideoBitrate: 400000}}, ""},
		{ffmpeg.FormatLadder(ffmpeg.DefaultConfig().Rungs), ffmpeg.DefaultConfig().Rungs, ""},
		{"", nil, "empty"},
		{"720p:720", nil, "name:height:bitrate"},
		{"720p:tall:1M", nil, "not a number"},
		{"720p:720:fast", nil, "bitrate"},
		{"721p:721:1M", nil, "even"},
		{"a:720:1M,a:480:1M", nil, "twice"},
	} {
		got, err := ffmpeg.ParseLadder(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ffmpeg.ParseLadder(%q): %v, want an error saying %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("ffmpeg.ParseLadder(%q) = %v, %v", tc.in, got, err)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("ffmpeg.ParseLadder(%q)[%d] = %+v, want %+v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}
