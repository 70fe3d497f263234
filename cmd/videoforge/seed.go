package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/client"
	"github.com/videoforge/videoforge/stack"
)

// seedOptions are seed's own flags, beside the client settings it shares with upload
// (stack.Parse reads those). They are not rows of stack's table of settings: they
// configure no part of the stack and have no environment variable, and a row fills a
// field of stack.Options.
type seedOptions struct {
	videos, users, parallel int
	playable                bool
}

// seedFlags declares seed's own flags on a flag set of their own.
func seedFlags(so *seedOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&so.videos, "videos", 8, "how many videos to make")
	fs.IntVar(&so.users, "users", 3, "upload as this many users, user1 to userN, in turn (with minted tokens; -token uploads all as its user)")
	fs.IntVar(&so.parallel, "parallel", 3, "videos made, uploaded and waited for at a time")
	fs.BoolVar(&so.playable, "playable", false, "real clips encoded by ffmpeg and transcoded by the stack, that play; the only kind built so far (synthetic rows in bulk, without it, are to come)")
	return fs
}

// splitSeedArgs separates seed's own flags (seedFlags) from the settings stack.Parse
// reads, keeping each one's order.
func splitSeedArgs(fs *flag.FlagSet, args []string) (own, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return own, append(rest, args[i:]...)
		}
		if !strings.HasPrefix(a, "-") {
			rest = append(rest, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		if f == nil {
			rest = append(rest, a)
			continue
		}
		own = append(own, a)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && b.IsBoolFlag()) && i+1 < len(args) {
			own = append(own, args[i+1])
			i++
		}
	}
	return own, rest
}

// seedHelp lists seed's own flags, for -h.
func seedHelp(fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString("\n\nseed's own flags:")
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(&b, "\n  %s\n    \t%s", strings.TrimSpace("-"+f.Name+" "+kind), usage)
		if kind != "" {
			fmt.Fprintf(&b, " (default %s)", f.DefValue)
		}
	})
	return b.String()
}

// errOnlyPlayable is seed's answer without -playable.
var errOnlyPlayable = errors.New("only -playable is built so far (real clips, transcoded, that play): synthetic catalog rows in bulk, without -playable, are to come")

func runSeed(ctx context.Context, name, about string, args []string, stdout io.Writer) error {
	var so seedOptions
	fs := seedFlags(&so)
	own, rest := splitSeedArgs(fs, args)
	if err := fs.Parse(own); err != nil {
		return err
	}
	o, err := stack.Parse(name, about+seedHelp(fs), rest)
	if err != nil {
		return err
	}
	if !so.playable {
		return errOnlyPlayable
	}
	switch {
	case so.videos < 1:
		return errors.New("-videos must be at least 1")
	case so.users < 1:
		return errors.New("-users must be at least 1")
	case so.parallel < 1:
		return errors.New("-parallel must be at least 1")
	}
	c := o.Client
	if c.Token != "" {
		explicit := false
		fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "users" })
		if explicit {
			return errors.New("-token uploads every video as its own user: give -token or -users, not both")
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	s := &seeder{o: c, data: o.Dev.Data, natsURL: readerURL(o), out: stdout, text: drawtextWorks(ctx)}
	return s.run(ctx, so)
}

// seeder makes the demo videos of one seed run.
type seeder struct {
	o       stack.ClientOptions
	data    string // the dev stack's folder, whose key mints the users' tokens
	natsURL string
	text    bool // ffmpeg's drawtext works: the clips carry their titles

	mu  sync.Mutex // out is written by every worker
	out io.Writer
}

// seeded is one video's outcome.
type seeded struct {
	n              int // 1-based, in the order made
	user, title    string
	videoID, jobID int64
	url            string
	err            error
}

func (s *seeder) printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.out, format, args...)
}

func (s *seeder) run(ctx context.Context, so seedOptions) error {
	start := time.Now()
	dir, err := os.MkdirTemp("", "videoforge-seed-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// One client per user, with a token minted for each; with -token, the one user is
	// the token's, "" here.
	clients := map[string]*client.Client{}
	userOf := func(i int) string { return "user" + strconv.Itoa(i%so.users+1) }
	if s.o.Token != "" {
		userOf = func(int) string { return "" }
		clients[""] = client.New(s.o.Gallery, s.o.Token, client.Options{})
	}
	for i := range so.videos {
		if u := userOf(i); clients[u] == nil {
			tok, err := mint(s.data, u, 24*time.Hour)
			if err != nil {
				return fmt.Errorf("no -token, and none can be minted: %w", err)
			}
			clients[u] = client.New(s.o.Gallery, tok, client.Options{})
		}
	}
	// A catalog seeded before gets the clips after its own, with titles of their own.
	first, err := catalogTotal(ctx, s.o.Gallery)
	if err != nil {
		return fmt.Errorf("the gallery at %s: %w", s.o.Gallery, err)
	}
	s.printf("seeding %d videos as %s, %d at a time (clips in %s)\n", so.videos, usersOf(min(so.users, so.videos), s.o.Token != ""), min(so.parallel, so.videos), dir)

	results := make([]seeded, so.videos)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(so.parallel, so.videos) {
		wg.Go(func() {
			for i := range next {
				u := userOf(i)
				results[i] = s.one(ctx, clients[u], dir, i+1, first+i, u)
			}
		})
	}
	for i := range so.videos {
		next <- i
	}
	close(next)
	wg.Wait()

	var failed []error
	s.printf("\n%d videos in %v:\n", so.videos, time.Since(start).Round(time.Second))
	for _, r := range results {
		if r.err != nil {
			failed = append(failed, r.err)
			s.printf("  %2d  failed: %v\n", r.n, r.err)
			continue
		}
		s.printf("  video %-4d %-7s %-34q %s\n", r.videoID, orToken(r.user), r.title, r.url)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d videos failed: %w", len(failed), so.videos, errors.Join(failed...))
	}
	s.printf("Search them: %s/api/gallery/videos?search=%s\n", s.o.Gallery, strings.ToLower(strings.Fields(results[0].title)[1]))
	return nil
}

func usersOf(n int, token bool) string {
	switch {
	case token:
		return "the token's user"
	case n == 1:
		return "user1"
	}
	return fmt.Sprintf("user1..user%d", n)
}

// one makes, uploads and waits for the n-th video of the run, the index-th clip.
func (s *seeder) one(ctx context.Context, cl *client.Client, dir string, n, index int, user string) seeded {
	spec := clipFor(index, s.text)
	r := seeded{n: n, user: user, title: spec.title}
	fail := func(step string, err error) seeded {
		r.err = fmt.Errorf("video %d (%q): %s: %w", r.n, r.title, step, err)
		return r
	}
	file := filepath.Join(dir, fmt.Sprintf("clip-%03d.mp4", n))
	if err := runFFmpeg(ctx, clipArgs(spec, file)); err != nil {
		return fail("make the clip", err)
	}
	defer os.Remove(file)
	f, err := os.Open(file)
	if err != nil {
		return fail("make the clip", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fail("make the clip", err)
	}
	up, err := cl.CreateUpload(ctx, client.NewUpload{Title: spec.title, Description: spec.description, Visibility: videoforge.Public})
	if err != nil {
		return fail("start the upload", err)
	}
	r.videoID, r.jobID = up.VideoID, up.JobID
	if err := uploadRetrying(ctx, cl, up, f, st.Size()); err != nil {
		return fail("upload", err)
	}
	if _, err := cl.CompleteUpload(ctx, up.JobID); err != nil {
		return fail("complete the upload", err)
	}
	s.printf("video %d (%s): %q uploaded (%s, %s), job %d queued\n", up.VideoID, orToken(user), spec.title, strings.SplitN(spec.source, "=", 2)[0], humanBytes(st.Size()), up.JobID)
	job, err := cl.FollowJob(ctx, s.natsURL, up.JobID, nil)
	if err != nil {
		return fail("transcode", err)
	}
	if job.Status == videoforge.JobFailed {
		msg := "unknown reason"
		if job.Error != nil {
			msg = *job.Error
		}
		return fail("transcode", errors.New(msg))
	}
	stream, err := cl.StreamURL(ctx, s.o.Edge, up.VideoID, "")
	if err != nil {
		return fail("stream URL", err)
	}
	r.url = stream.URL
	s.printf("video %d ready: %s\n", up.VideoID, stream.URL)
	return r
}

// uploadAttempts is how many times seed sends a clip whose PUT broke off.
const uploadAttempts = 3

// uploadRetrying sends the clip, again when the connection broke (a kept-alive one
// the server had just closed, a busy machine's timeout): the upload is not sealed
// before complete, so a new PUT replaces what came. A refusal is final.
func uploadRetrying(ctx context.Context, cl *client.Client, up *videoforge.Upload, f io.ReaderAt, size int64) error {
	for attempt := 1; ; attempt++ {
		err := cl.UploadFile(ctx, up, f, size, client.UploadOptions{})
		var refused *client.APIError
		if err == nil || errors.As(err, &refused) || ctx.Err() != nil || attempt == uploadAttempts {
			return err
		}
		slog.Debug("seed: the upload broke off, sending it again", "job", up.JobID, "attempt", attempt, "err", err)
	}
}

// orToken names a video's user: "" is the -token's.
func orToken(user string) string {
	if user == "" {
		return "(token)"
	}
	return user
}

// clip is one demo video: what ffmpeg draws and hears, and what the catalog says of it.
type clip struct {
	source  string // the lavfi video source, its name first
	text    string // drawn over the picture; "" for none
	tone    int    // the sine's frequency, Hz
	seconds int
	title   string
	// description is the video's description in the catalog.
	description string
}

// Words of the demo titles and descriptions: plain letters, so that drawtext needs no
// escaping and search finds every one.
var (
	seedAdjectives = []string{"Amber", "Quiet", "Electric", "Golden", "Crimson", "Misty", "Silver", "Restless", "Velvet", "Bright", "Hidden", "Frozen"}
	seedNouns      = []string{"Harbour", "Meadow", "Circuit", "Canyon", "Lantern", "Orchard", "Comet", "Glacier", "Festival", "Signal", "Forest", "Tide"}
	seedPlaces     = []string{"at dawn", "after rain", "in motion", "by night", "from above", "up close", "at noon", "in winter"}
)

// clipSources are the lavfi pictures the clips take in turn, so that thumbnails differ;
// each is 1280x720 at 25 fps, varied by the clip's number.
var clipSources = []func(i int) string{
	func(int) string { return "testsrc2=size=1280x720:rate=25" },
	func(int) string { return "smptebars=size=1280x720:rate=25" },
	func(i int) string {
		return fmt.Sprintf("mandelbrot=size=426x240:rate=25:maxiter=128:start_scale=%d:end_scale=0.3,scale=1280:720", 3+i%4)
	},
	func(i int) string {
		colours := []string{"#f0c020", "#40d0a0", "#e05080", "#60a0ff"}
		return fmt.Sprintf("life=size=320x180:rate=25:mold=10:ratio=0.1:seed=%d:life_color=%s:death_color=#202838,scale=1280:720:flags=neighbor", i+1, colours[i%len(colours)])
	},
	func(i int) string {
		rules := []int{30, 90, 110, 150, 182}
		return fmt.Sprintf("cellauto=size=1280x720:rate=25:rule=%d", rules[i%len(rules)])
	},
	func(i int) string {
		return fmt.Sprintf("gradients=size=640x360:rate=25:speed=0.02:seed=%d,scale=1280:720", i+1)
	},
	func(i int) string {
		colours := []string{"navy", "darkgreen", "maroon", "indigo", "teal", "sienna"}
		return fmt.Sprintf("color=c=%s:size=1280x720:rate=25", colours[i%len(colours)])
	},
}

// clipFor is the i-th demo video: each of the first hundreds has a title of its own,
// and the picture, the tone and the length vary with i.
func clipFor(i int, text bool) clip {
	na, nn, np := len(seedAdjectives), len(seedNouns), len(seedPlaces)
	adj := seedAdjectives[i%na]
	noun := seedNouns[(i/na+i)%nn]
	place := seedPlaces[(i/(na*nn)+i)%np]
	title := fmt.Sprintf("%s %s %s", adj, noun, place)
	if i >= na*nn {
		title += fmt.Sprintf(" %d", i/(na*nn)+1)
	}
	src := clipSources[i%len(clipSources)](i)
	c := clip{
		source: src, tone: 220 + 110*(i%8), seconds: 6 + i%3, title: title,
		description: fmt.Sprintf("A %s demo clip: a %s %s, drawn by ffmpeg's %s, with a %d Hz tone. Made by videoforge seed.",
			strings.ToLower(adj), strings.ToLower(noun), place, strings.SplitN(src, "=", 2)[0], 220+110*(i%8)),
	}
	if text {
		c.text = title
	}
	return c
}

// clipArgs is the ffmpeg command line that encodes c into file: H.264 and AAC in MP4,
// a browser's format, which the transcoder's ladder starts from.
func clipArgs(c clip, file string) []string {
	video := c.source
	if c.text != "" {
		video += ",drawtext=text='" + c.text + "':fontsize=72:fontcolor=white:box=1:boxcolor=black@0.55:boxborderw=24:x=(w-text_w)/2:y=h-180"
	}
	return []string{"-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", video,
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%d:sample_rate=48000", c.tone),
		"-t", strconv.Itoa(c.seconds),
		"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "128k", "-shortest", "-movflags", "+faststart", file}
}

// drawtextWorks tells whether this ffmpeg draws text (it needs libfreetype and a font
// that fontconfig finds); the clips go without titles when it does not.
func drawtextWorks(ctx context.Context) bool {
	err := runFFmpeg(ctx, []string{"-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=size=64x64:duration=0.1,drawtext=text='x'", "-frames:v", "1", "-f", "null", "-"})
	if err != nil {
		slog.Debug("seed: the clips go without titles", "err", err)
	}
	return err == nil
}

// runFFmpeg runs ffmpeg with args in its own process group: cancelling ctx sends the
// group SIGINT, and SIGKILL a few seconds later. A failure carries ffmpeg's last words.
func runFFmpeg(ctx context.Context, args []string) error {
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if len(msg) > 2000 {
			msg = "…" + msg[len(msg)-2000:]
		}
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("ffmpeg is needed to make the clips (apt-get install ffmpeg): %w", err)
		}
		return fmt.Errorf("ffmpeg: %w: %s", err, msg)
	}
	return nil
}

// offerSeed prints how to fill the catalog when the gallery at a lists no video, so
// that a fresh `make run` shows something to play.
func offerSeed(ctx context.Context, a stack.Addrs, w io.Writer) {
	if a.Gallery == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	total, err := catalogTotal(ctx, a.Gallery)
	if err != nil {
		slog.Debug("seed: could not tell whether the catalog is empty", "err", err)
		return
	}
	if total > 0 {
		return
	}
	cmd := "videoforge seed -data " + a.Data
	def := stack.DefaultOptions().Client
	if a.Gallery != def.Gallery {
		cmd += " -gallery " + a.Gallery
	}
	if a.Edge != "" && a.Edge != def.Edge {
		cmd += " -edge " + a.Edge
	}
	if a.NATSServer != "" && a.NATSServer != "nats://127.0.0.1:4222" {
		cmd += " -nats-url " + a.NATSServer
	}
	fmt.Fprintf(w, "The catalog is empty: fill it with demo videos: %s -videos 8 -playable\n", cmd)
}

// catalogTotal asks the gallery how many videos it lists.
func catalogTotal(ctx context.Context, gallery string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(gallery, "/")+"/api/gallery/videos?limit=1", nil)
	if err != nil {
		return 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /videos: %s", res.Status)
	}
	var l struct {
		Pagination struct {
			Total int `json:"total"`
		} `json:"pagination"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&l); err != nil {
		return 0, fmt.Errorf("GET /videos: %w", err)
	}
	return l.Pagination.Total, nil
}
