package client_test

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge/client"
)

// clock is a test's time, moved by hand.
type clock struct{ t time.Time }

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) now() time.Time { return c.t }

// set moves the clock by d and then tells p the step is at fraction.
func (c *clock) set(p *client.Progress, d time.Duration, fraction float64) {
	c.t = c.t.Add(d)
	p.Set(fraction)
}

func lines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

func mib(n float64) int64 { return int64(n * (1 << 20)) }

// speedOf reads the MiB/s of a line.
func speedOf(t *testing.T, line string) float64 {
	t.Helper()
	m := regexp.MustCompile(` ([0-9.]+) MiB/s `).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no speed in %q", line)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func TestPlainLine(t *testing.T) {
	cases := []struct {
		name     string
		label    string
		fraction float64
		total    int64
		rate     float64
		want     string
	}{
		{"Bytes", "upload", 0.4, mib(30), 11.2 * (1 << 20), "upload 40% 12.0/30.0 MiB 11.2 MiB/s 0:02 left"},
		{"SpeedNotKnown", "upload", 0.05, mib(30), 0, "upload 5% 1.5/30.0 MiB"},
		{"SlowKiB", "upload", 0.5, 100 << 10, 10 << 10, "upload 50% 50.0/100.0 KiB 10.0 KiB/s 0:05 left"},
		{"GiB", "upload", 0.25, 8 << 30, 100 << 20, "upload 25% 2.0/8.0 GiB 100.0 MiB/s 1:02 left"},
		{"Hours", "upload", 0, 8 << 30, 1 << 20, "upload 0% 0.0/8.0 GiB 1.0 MiB/s 2:16:32 left"},
		{"Small", "upload", 1, 900, 300, "upload 100% 900/900 B 0.3 KiB/s 0:00 left"},
		{"Job", "transcode", 0.427, 0, 0, "transcode 42%"},
		{"Clamped", "transcode", 1.7, 0, 0, "transcode 100%"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := client.PlainLine(c.label, c.fraction, c.total, c.rate); got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestBarLine(t *testing.T) {
	if got, want := client.BarLine("upload", 0.5, mib(30), 12.3*(1<<20)), "upload    [###############...............]  50%  12.3 MiB/s, 0:02 left"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got, want := client.BarLine("transcode", 0.1, 0, 0), "transcode [###...........................]  10%"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestTimeLeft(t *testing.T) {
	cases := []struct {
		fraction float64
		total    int64
		rate     float64
		want     string
	}{
		{0, 42, 1, "0:42"},
		{0.5, 100, 1, "0:50"},
		{0, 41, 2, "0:21"}, // 20.5 s: rounded up
		{0, 725, 1, "12:05"},
		{0, 3723, 1, "1:02:03"},
		{0.5, 100, 0, "?:??"},
		{0, 1 << 40, 1, ">99h"},
	}
	for _, c := range cases {
		if got := client.TimeLeft(c.fraction, c.total, c.rate); got != c.want {
			t.Errorf("TimeLeft(%v, %d, %v) = %q, want %q", c.fraction, c.total, c.rate, got, c.want)
		}
	}
}

// TestProgressRate: the speed is the bytes over time, smoothed: steady at a steady
// speed, and moving towards a new speed within seconds rather than at once.
func TestProgressRate(t *testing.T) {
	c := newClock()
	var out bytes.Buffer
	total := mib(1000)
	p := client.NewProgress(&out, "upload", client.ProgressOptions{Total: total, Now: c.now})
	var n int64
	step := func(d time.Duration, bytesPerSecond float64) {
		n += int64(bytesPerSecond * d.Seconds())
		c.set(p, d, float64(n)/float64(total))
	}
	for range 21 { // 10 MiB/s for 10.5 s: lines after 0.5 s, 5.5 s and 10.5 s
		step(500*time.Millisecond, 10<<20)
	}
	ls := lines(out.String())
	// 105 MiB at 10 MiB/s; 895 MiB left at 10 MiB/s is 89.5 s.
	if got, want := ls[len(ls)-1], "upload 10% 105.0/1000.0 MiB 10.0 MiB/s 1:30 left"; len(ls) != 3 || got != want {
		t.Errorf("steady at 10 MiB/s: %q, want 3 lines, the last %q", ls, want)
	}
	out.Reset()
	for range 20 { // the speed doubles for 10 s: lines after 5 s and after 10 s
		step(500*time.Millisecond, 20<<20)
	}
	ls = lines(out.String())
	if len(ls) != 2 {
		t.Fatalf("%d lines in 10 s, want 2: %q", len(ls), ls)
	}
	if v := speedOf(t, ls[0]); v <= 15 || v >= 19 {
		t.Errorf("5 s after the speed doubled to 20 MiB/s it shows %v MiB/s: not smoothed over a few seconds", v)
	}
	if v := speedOf(t, ls[1]); v < 19 || v > 20 {
		t.Errorf("10 s after the speed doubled to 20 MiB/s it shows %v MiB/s", v)
	}
}

// TestProgressPlain: off a terminal, lines end with a line break, carry no "\r", and
// come at most one per 10 % or per LineEvery; the last state is shown by Done.
func TestProgressPlain(t *testing.T) {
	c := newClock()
	var out bytes.Buffer
	total := mib(30)
	p := client.NewProgress(&out, "upload", client.ProgressOptions{Total: total, Now: c.now})
	for i := 1; i <= 1000; i++ { // 30 MiB in 3 s, in a thousand reads
		c.set(p, 3*time.Millisecond, float64(i)/1000)
	}
	p.Done()
	s := out.String()
	if strings.Contains(s, "\r") || !strings.HasSuffix(s, "\n") {
		t.Fatalf("not plain lines: %q", s)
	}
	ls := lines(s)
	if len(ls) > 11 || len(ls) < 10 {
		t.Errorf("%d lines for one step, want one per 10 %%:\n%s", len(ls), s)
	}
	if got, want := ls[len(ls)-1], "upload 100% 30.0/30.0 MiB 10.0 MiB/s 0:00 left"; got != want {
		t.Errorf("last line %q, want %q", got, want)
	}
	if got, want := ls[1], "upload 10% 3.0/30.0 MiB 10.0 MiB/s 0:03 left"; got != want {
		t.Errorf("second line %q, want %q", got, want)
	}

	// A step done sooner than the speed's first sample shows its average at the end.
	out.Reset()
	c = newClock()
	p = client.NewProgress(&out, "upload", client.ProgressOptions{Total: mib(1), Now: c.now})
	for i := 1; i <= 4; i++ {
		c.set(p, 25*time.Millisecond, float64(i)/4)
	}
	p.Done()
	if got, want := out.String(), "upload 25% 0.2/1.0 MiB\nupload 50% 0.5/1.0 MiB\nupload 75% 0.8/1.0 MiB\nupload 100% 1.0/1.0 MiB 10.0 MiB/s 0:00 left\n"; got != want {
		t.Errorf("a short step:\n%s\nwant\n%s", got, want)
	}

	// A slow step: a line every LineEvery when it moved, none when it did not.
	out.Reset()
	c = newClock()
	p = client.NewProgress(&out, "transcode", client.ProgressOptions{Now: c.now})
	for i := range 60 { // 1 % a second for a minute
		c.set(p, time.Second, float64(i)/100)
	}
	for range 60 { // stuck for a minute
		c.set(p, time.Second, 0.59)
	}
	p.Done()
	ls = lines(out.String())
	if len(ls) != 13 { // 0 %, then every 5 s to 59 %: 5, 10, … 55, and no more while stuck
		t.Errorf("%d lines, want 13:\n%s", len(ls), out.String())
	}
	if ls[0] != "transcode 0%" || ls[1] != "transcode 5%" || ls[len(ls)-1] != "transcode 59%" {
		t.Errorf("lines %q", ls)
	}
	p.Done() // a second Done adds nothing
	if n := len(lines(out.String())); n != 13 {
		t.Errorf("a second Done wrote: %d lines", n)
	}
}

// TestProgressTerminal: on a terminal the one line is redrawn in place, when the
// percent changes or every RedrawEvery, and Done ends it.
func TestProgressTerminal(t *testing.T) {
	c := newClock()
	var out bytes.Buffer
	total := mib(30)
	p := client.NewProgress(&out, "upload", client.ProgressOptions{Terminal: true, Total: total, Now: c.now})
	for i := 1; i <= 1000; i++ {
		c.set(p, 3*time.Millisecond, float64(i)/1000)
	}
	p.Done()
	s := out.String()
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Fatalf("%d line breaks, want the one at the end", strings.Count(s, "\n"))
	}
	frames := strings.Split(strings.TrimSuffix(s, "\n"), "\r")[1:]
	if len(frames) < 100 || len(frames) > 102 {
		t.Errorf("%d redraws, want about one per percent", len(frames))
	}
	if got, want := frames[len(frames)-1], "upload    [##############################] 100%  10.0 MiB/s, 0:00 left\x1b[K"; got != want {
		t.Errorf("last frame %q, want %q", got, want)
	}
	// A step done sooner than the first sample shows its average over the step, not
	// over the time until Done (the server's answer may take a while after the bytes).
	out.Reset()
	p = client.NewProgress(&out, "upload", client.ProgressOptions{Terminal: true, Total: mib(1), Now: c.now})
	for i := 1; i <= 4; i++ {
		c.set(p, 25*time.Millisecond, float64(i)/4)
	}
	c.t = c.t.Add(time.Second)
	p.Done()
	if got, want := out.String()[strings.LastIndex(out.String(), "\r")+1:], "upload    [##############################] 100%  10.0 MiB/s, 0:00 left\x1b[K\n"; got != want {
		t.Errorf("a short step ends with %q, want %q", got, want)
	}

	// A stalled upload is redrawn each RedrawEvery, with the speed falling.
	out.Reset()
	p = client.NewProgress(&out, "upload", client.ProgressOptions{Terminal: true, Total: total, Now: c.now})
	c.set(p, time.Second, 0.5)
	for range 5 {
		c.set(p, 300*time.Millisecond, 0.5)
	}
	if n := strings.Count(out.String(), "\r"); n != 2 {
		t.Errorf("%d redraws in 1.5 s of no change, want the first and one a second later: %q", n, out.String())
	}
}

func TestIsTerminal(t *testing.T) {
	if client.IsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if client.IsTerminal(f) {
		t.Error("a file is a terminal")
	}
}
