package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
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
	fs.IntVar(&so.users, "users", 3, "owned by this many users, user1 to userN, in turn (-playable: uploaded with minted tokens; -token uploads all as its user)")
	fs.IntVar(&so.parallel, "parallel", 3, "-playable: videos made, uploaded and waited for at a time")
	fs.BoolVar(&so.playable, "playable", false, "real clips encoded by ffmpeg, uploaded and transcoded by the stack, that play; without it, synthetic ready videos written to the database in bulk, which do not play (no media objects)")
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

// seedHelp says where synthetic videos go and lists seed's own flags, for -h.
func seedHelp(fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString("\n\nWithout -playable, seed writes synthetic ready public videos straight into the catalog's database\n" +
		"(COPY, each video with its created event in the outbox, so that the relay publishes them and edges\n" +
		"hold them; up to " + strconv.Itoa(postgres.DefaultSeedBatch) + " per transaction, as many as take about " + postgres.DefaultSeedHold.String() + ", for the stack's other writers wait\n" +
		"for each), then waits for the relay to publish them (at most -timeout).\n" +
		"They have no media objects and do not play: -playable makes videos that do. The database is the\n" +
		"one DATABASE_URL (or DB_HOST with DB_PORT, DB_NAME, DB_USER, DB_PASSWORD, DB_SSLMODE), with DB_SCHEMA,\n" +
		"names in the environment, else the one the dev stack of -data recorded at its start in\n" +
		"<data>/keys/" + devDatabaseFile + " (its private cluster's, when it started one).")
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
	switch {
	case so.videos < 1:
		return errors.New("-videos must be at least 1")
	case so.users < 1:
		return errors.New("-users must be at least 1")
	case so.parallel < 1:
		return errors.New("-parallel must be at least 1")
	}
	c := o.Client
	if !so.playable {
		if c.Token != "" {
			return errors.New("-token is for -playable, whose videos are uploaded; synthetic videos are written to the database as user1..userN (-users)")
		}
		return seedSynthetic(ctx, so, o, stdout)
	}
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

// seedSynthetic writes so.videos synthetic ready videos to the database of the stack
// that o names (seedDatabase) through postgres.SeedCatalog, each with its created
// event in the outbox, then waits for the stack's relay to publish those events, for
// at most -timeout: the writing itself is not bounded, since a million videos may take
// longer on a busy machine, and an interruption keeps the transactions committed.
func seedSynthetic(ctx context.Context, so seedOptions, o stack.Options, out io.Writer) error {
	cfg, from, err := seedDatabase(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "seeding %d synthetic videos of %s into %s (schema %s, from %s)\n",
		so.videos, usersOf(min(so.users, so.videos), false), redactURL(cfg.URL), cfg.Schema, from)
	g := newSynthetic(so.videos, so.users, time.Now())
	start := time.Now()
	shown := start
	res, err := postgres.SeedCatalog(ctx, cfg, so.videos, g.video, postgres.SeedOptions{Progress: func(done int) {
		switch now := time.Now(); {
		case done == so.videos:
			fmt.Fprintf(out, "  %d videos committed in %v (%.0f/s); vacuuming and analysing the table\n",
				done, now.Sub(start).Round(time.Millisecond), float64(done)/now.Sub(start).Seconds())
		case now.Sub(shown) >= 5*time.Second:
			fmt.Fprintf(out, "  %d of %d videos, %.0f/s\n", done, so.videos, float64(done)/now.Sub(start).Seconds())
			shown = now
		}
	}})
	took := time.Since(start)
	if err != nil {
		if res.Videos > 0 {
			fmt.Fprintf(out, "%d videos were written (ids %d to %d) before:\n", res.Videos, res.FirstID, res.LastID)
		}
		return fmt.Errorf("the database from %s: %w", from, err)
	}
	fmt.Fprintf(out, "%d videos in %v (%.0f/s), ids %d to %d, each with its created event in the outbox\n",
		res.Videos, took.Round(time.Millisecond), float64(res.Videos)/took.Seconds(), res.FirstID, res.LastID)
	wctx, cancel := context.WithTimeout(ctx, o.Client.Timeout)
	defer cancel()
	waitPublished(wctx, cfg, res, out)
	fmt.Fprintf(out, "They do not play (no media objects; -playable makes videos that do). Search them: %s/api/gallery/videos?search=%s (a common word), ?search=%s (a rarer one)\n",
		strings.TrimRight(o.Client.Gallery, "/"), seedWords[0], seedWords[len(seedWords)-1])
	return nil
}

// Waiting for the relay: how often the outbox is read, how often progress is shown,
// and how long the events may wait without one being published before seed stops
// waiting (no relay runs, or it is down: they go out when it is back).
const (
	publishPoll  = 500 * time.Millisecond
	publishShow  = 5 * time.Second
	publishStall = 30 * time.Second
)

// waitPublished waits until the relay has published the seed's events, showing its
// rate. It gives up, saying so, when none is published for publishStall or ctx ends:
// the videos are written either way, and the events stay in the outbox for the relay.
func waitPublished(ctx context.Context, cfg postgres.Config, res postgres.Seeded, out io.Writer) {
	start := time.Now()
	shown, moved := start, start
	first, last := int64(-1), int64(-1)
	for {
		left, err := postgres.UnpublishedEvents(ctx, cfg, res.LastEvent)
		now := time.Now()
		switch {
		case err != nil && ctx.Err() == nil:
			fmt.Fprintf(out, "could not follow the relay (%v); the events wait in the outbox for it\n", err)
			return
		case err != nil:
			fmt.Fprintf(out, "stopped waiting for the relay (%v): %d events were left in the outbox for it\n", ctx.Err(), last)
			return
		case left == 0 && first <= 0:
			fmt.Fprintln(out, "the relay had published every event by the last commit")
			return
		case left == 0:
			took := now.Sub(start)
			fmt.Fprintf(out, "the relay published every event %v after the last commit (%d were left then: %.0f/s)\n",
				took.Round(100*time.Millisecond), first, float64(first)/max(took.Seconds(), publishPoll.Seconds()))
			return
		case left != last:
			if first < 0 {
				first = left
			}
			last, moved = left, now
		case now.Sub(moved) >= publishStall:
			fmt.Fprintf(out, "no event was published for %v: %d wait in the outbox, for the stack's relay (is it running?)\n", publishStall, left)
			return
		}
		if now.Sub(shown) >= publishShow {
			fmt.Fprintf(out, "  the relay: %d of %d events left to publish\n", left, res.Videos)
			shown = now
		}
		select {
		case <-ctx.Done():
		case <-time.After(publishPoll):
		}
	}
}

// devDatabaseFile is where the dev stack records, at every start, the variables
// with which other processes join it (stack.Stack's writeTranscoderEnv), among them
// DATABASE_URL and DB_SCHEMA: that of its private cluster when it started one.
const devDatabaseFile = "transcoder.env"

// seedDatabase is the database synthetic videos go to, and where it was found: the
// one the environment names (DATABASE_URL, or DB_HOST with the seed's other DB_*
// variables, and DB_SCHEMA), else the one the dev stack of o's data folder recorded.
// seed's row in stack's settings takes no database flag, so these are read from the
// environment through the migrate command's settings, which are exactly the
// database's.
func seedDatabase(o stack.Options) (postgres.Config, string, error) {
	env, err := stack.Parse("migrate", "", nil)
	if err != nil {
		return postgres.Config{}, "", err
	}
	if env.DB.URL != "" || env.DB.Host != "" {
		cfg, err := env.Database()
		cfg.AppName = "videoforge-seed"
		from := "DATABASE_URL"
		if env.DB.URL == "" {
			from = "DB_HOST"
		}
		return cfg, from, err
	}
	path := filepath.Join(stack.KeyDir(o.Dev.Data), devDatabaseFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return postgres.Config{}, "", fmt.Errorf("no database: DATABASE_URL is not set and no dev stack recorded one in %s (start it with videoforge dev -data %s, or give its -data): %w",
			path, o.Dev.Data, err)
	}
	cfg := postgres.Config{Schema: stack.DefaultOptions().DB.Schema, AppName: "videoforge-seed"}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "DATABASE_URL":
			cfg.URL = v
		case "DB_SCHEMA":
			cfg.Schema = v
		}
	}
	if err := cfg.Validate(); err != nil {
		return postgres.Config{}, "", fmt.Errorf("%s: %w", path, err)
	}
	return cfg, path, nil
}

// redactURL is a database URL without its password, for output.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return "the database"
	}
	return u.Redacted()
}

// seedWords are the real words of synthetic titles and descriptions, most frequent
// first (seedVocabulary). None is an English stop word, which search would ignore.
var seedWords = strings.Fields(`
video music live new best official guide easy quick home world game travel day night life cooking
review first tutorial full city summer family road kitchen dance story beach mountain river garden
street winter coffee ocean forest train island festival market morning evening lake camera football
guitar piano bread soup pasta pizza chicken salad cake recipe workout yoga running cycling hiking
camping fishing surfing skiing climbing painting drawing knitting woodworking gardening baking
photography dog cat bird horse puppy kitten animal wildlife nature sunset sunrise rain snow storm
thunder cloud wind fire water stone sand desert valley canyon glacier volcano waterfall meadow field
farm village harbour bridge tower castle cathedral temple museum library school college office
factory station airport highway tunnel subway bus car truck bike motorcycle boat ship plane rocket
drone robot computer phone laptop keyboard screen song album concert band singer drummer violin
cello trumpet saxophone orchestra choir jazz blues rock folk country techno house disco opera ballet
theatre comedy drama movie trailer scene episode season series podcast interview lecture talk lesson
class course exam science physics chemistry biology history geography language grammar math algebra
geometry calculus statistics economics finance money stock crypto bitcoin business startup marketing
design fashion makeup hair skincare shoes dress jacket red blue green yellow orange purple pink
black white silver golden amber crimson violet bright dark quiet loud fast slow tiny huge ancient
modern simple complex perfect strange hidden secret lost frozen wild calm gentle brave lucky happy
funny scary epic magic classic vintage retro urban rural tropical arctic northern southern eastern
western coastal alpine misty sunny rainy stormy foggy windy build make fix clean paint draw cook
bake grow plant explore discover learn teach play sing write read watch drive ride swim climb jump
fly sail race fight win lose test compare unbox repair restore upgrade install apple banana cherry
grape lemon mango peach pear plum strawberry tomato potato carrot onion garlic pepper rice noodle
dumpling curry taco burger sandwich cheese butter chocolate honey tea juice wine beer cocktail
breakfast lunch dinner dessert snack picnic barbecue mother father brother sister friend neighbour
teacher student doctor nurse chef farmer pilot sailor soldier artist writer poet scientist engineer
builder driver minute hour week month year weekend holiday birthday wedding party christmas
halloween easter spring autumn january february march april june july august september october
november december tokyo paris london berlin rome madrid lisbon vienna prague budapest athens
istanbul cairo nairobi lagos delhi mumbai bangkok singapore sydney melbourne auckland toronto
vancouver montreal chicago boston seattle denver austin miami havana lima bogota santiago quito
planet moon star galaxy comet asteroid orbit telescope satellite astronaut universe atom cell gene
virus brain heart blood bone muscle lantern candle mirror window door roof wall floor table chair
sofa bed lamp clock map compass rope knife hammer saw drill nail brick glass paper ink pencil brush
canvas clay marble wood iron steel copper gold diamond crystal pearl feather leather wool silk
cotton circuit signal engine motor battery solar turbine power energy voltage sensor laser radio
antenna network server database code program software hardware linux python javascript rust golang
kubernetes docker tide wave reef coral shell whale dolphin shark turtle octopus crab lobster salmon
trout eagle owl falcon parrot penguin flamingo swan duck goose fox wolf bear deer moose rabbit
squirrel hedgehog badger otter beaver lion tiger leopard cheetah elephant giraffe zebra hippo rhino
gorilla monkey panda koala kangaroo camel llama chess puzzle riddle trivia quiz card dice board
tournament league champion final match goal score record medal trophy walk tour journey trip voyage
adventure expedition quest mission escape rescue challenge experiment project prototype vlog montage
timelapse slowmotion aerial underwater closeup panorama footage highlights compilation remix cover
acoustic instrumental lullaby anthem ballad harvest orchard vineyard greenhouse beehive chimney
lighthouse windmill cottage cabin tent caravan hostel hotel resort spa sauna`)

// seedVocabulary is what synthetic titles and descriptions are made of, drawn with a
// Zipf distribution (s = 1.1) over this order: seedWords, then 20 000 made-up names
// (two or three syllables). So search meets common words (the first is in nearly
// every video), rarer ones (the last real word in about one video in 500) and the
// long tail real catalogs have (a name in a few videos per million).
var seedVocabulary = append(slices.Clip(seedWords), syntheticNames(20_000)...)

// syntheticNames makes n distinct pronounceable names, always the same ones, none a
// word of seedWords or an English stop word.
func syntheticNames(n int) []string {
	rng := rand.New(rand.NewPCG(7, 14))
	const cons, vow = "bdfgklmnprstvz", "aeiou"
	taken := map[string]bool{"before": true, "more": true, "some": true, "same": true} // the stop words of this shape
	for _, w := range seedWords {
		taken[w] = true
	}
	out := make([]string, 0, n)
	for len(out) < n {
		b := make([]byte, 0, 6)
		for range 2 + rng.IntN(2) {
			b = append(b, cons[rng.IntN(len(cons))], vow[rng.IntN(len(vow))])
		}
		if w := string(b); !taken[w] {
			taken[w] = true
			out = append(out, w)
		}
	}
	return out
}

// synthetic draws the videos of a synthetic seed, always the same ones for the same
// count: the n-th call of video gives the n-th video.
type synthetic struct {
	n, users int
	now      time.Time
	rng      *rand.Rand
	zipf     *rand.Zipf
}

func newSynthetic(n, users int, now time.Time) *synthetic {
	rng := rand.New(rand.NewPCG(14, 14))
	return &synthetic{n: n, users: users, now: now, rng: rng, zipf: rand.NewZipf(rng, 1.1, 1, uint64(len(seedVocabulary)-1))}
}

// syntheticSpan is how far back synthetic videos were created, oldest first.
const syntheticSpan = 2 * 365 * 24 * time.Hour

// syntheticFormats are the resolutions synthetic videos have, with their share in
// hundredths and a bitrate for their file size.
var syntheticFormats = []struct {
	resolution string
	share, bps int
}{{"1920x1080", 45, 5_000_000}, {"1280x720", 35, 2_800_000}, {"854x480", 10, 1_400_000}, {"3840x2160", 10, 16_000_000}}

// video is the i-th synthetic video (i from 0): public and ready, owned by
// user<i mod users + 1>, 3 to 6 title words and 8 to 20 description words, created in
// order over the last two years, with views spread log-normally (most have tens, a
// few have millions) and a duration, resolution and file size of a plausible upload.
func (g *synthetic) video(i int) videoforge.Video {
	r := g.rng
	words := func(lo, hi int) []string {
		ws := make([]string, lo+r.IntN(hi-lo+1))
		for j := range ws {
			ws[j] = seedVocabulary[g.zipf.Uint64()]
		}
		return ws
	}
	title := words(3, 6)
	title[0] = strings.ToUpper(title[0][:1]) + title[0][1:]
	desc := strings.Join(words(8, 20), " ") + "."
	created := g.now.Add(-syntheticSpan + time.Duration(float64(syntheticSpan)*float64(i+1)/float64(g.n)) - time.Duration(r.Int64N(int64(time.Hour))))
	f, pick := syntheticFormats[0], r.IntN(100)
	for _, fm := range syntheticFormats {
		if f = fm; pick < fm.share {
			break
		}
		pick -= fm.share
	}
	duration := math.Round(min(15+r.ExpFloat64()*400, 4*3600)*100) / 100
	size := int64(duration * float64(f.bps) / 8)
	views := int64(min(math.Exp(3+2.5*r.NormFloat64()), 5e8))
	videoCodec, audioCodec := "h264", "aac"
	return videoforge.Video{UserID: "user" + strconv.Itoa(i%g.users+1), Title: strings.Join(title, " "), Description: &desc,
		Visibility: videoforge.Public, Status: videoforge.StatusReady, Duration: &duration, Resolution: &f.resolution,
		VideoCodec: &videoCodec, AudioCodec: &audioCodec, FileSize: &size, Views: views, CreatedAt: created}
}
