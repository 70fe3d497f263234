package ffmpeg

import (
	"strings"
	"testing"
	"time"
)

const sampleProgress = `frame=45
fps=0.00
stream_0_0_q=-1.0
bitrate=N/A
total_size=N/A
out_time_us=1500000
out_time_ms=1500000
out_time=00:00:01.500000
dup_frames=0
drop_frames=0
speed=2.5x
progress=continue
frame=90
fps=0.00
total_size=123456
out_time_us=3018600
out_time_ms=3018600
out_time=00:00:03.018600
speed=9.52x
progress=end
`

func TestParseProgress(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []Progress
	}{
		{"OK", sampleProgress, []Progress{
			{Frame: 45, OutTime: 1500 * time.Millisecond, Speed: 2.5, Size: -1},
			{Frame: 90, OutTime: 3018600 * time.Microsecond, Speed: 9.52, Size: 123456, End: true},
		}},
		{"CRLF", strings.ReplaceAll("frame=1\nout_time_us=10\nprogress=continue\n", "\n", "\r\n"),
			[]Progress{{Frame: 1, OutTime: 10 * time.Microsecond}}},
		{"NotAvailable", "frame=N/A\nout_time_us=N/A\nspeed=N/A\nprogress=continue\n", []Progress{{}}},
		{"Negative", "frame=-3\nout_time_us=-9223372036854775807\nprogress=continue\n", []Progress{{}}},
		{"Garbage", "hello\n\n==\nprogress\n", nil},
		{"UnterminatedBlock", "frame=5\nout_time_us=100\n", nil},
		{"KeepsLastValues", "out_time_us=200\nprogress=continue\nframe=7\nprogress=end\n", []Progress{
			{OutTime: 200 * time.Microsecond}, {Frame: 7, OutTime: 200 * time.Microsecond, End: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseProgressBytes([]byte(tc.in))
			if len(got) != len(tc.want) {
				t.Fatalf("got %d blocks %+v, want %d %+v", len(got), got, len(tc.want), tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("block %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func FuzzParseProgress(f *testing.F) {
	f.Add([]byte(sampleProgress))
	f.Add([]byte("out_time_us=99999999999999999999\nprogress=end\n"))
	f.Add([]byte("speed=1e308x\nprogress=continue\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		blocks := parseProgressBytes(b)
		if n := strings.Count(string(b), "progress="); len(blocks) > n {
			t.Fatalf("%d blocks from %d progress lines", len(blocks), n)
		}
		for _, p := range blocks {
			if p.Frame < 0 || p.OutTime < 0 || p.Speed < 0 || p.Size < -1 {
				t.Fatalf("out of range: %+v", p)
			}
		}
	})
}
