package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/client"
	"github.com/videoforge/videoforge/internal/testutil"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
	"github.com/videoforge/videoforge/stack"
	"github.com/videoforge/videoforge/stack/stacktest"
)

func TestMain(m *testing.M) {
	pgtest.Main(m, func(ctx context.Context, dsn string) error { return nil })
}

// chromium is Debian's Chromium, which scripts/deps.sh installs.
const chromium = "/usr/bin/chromium"

// startDev runs the dev stack in-process on free ports, on its own database and data
// folder, until the test ends.
func startDev(t *testing.T) stack.Addrs {
	t.Helper()
	t.Setenv("DATABASE_URL", pgtest.NewDatabase(t))
	t.Setenv("NATS_PORT", "0")
	return stacktest.Start(t, "dev", "-data", t.TempDir(), "-gallery-addr", "127.0.0.1:0", "-edge-addr", "127.0.0.1:0")
}

// gate is a reverse proxy in front of the gallery, the origin the browser loads the
// pages from. While held, a tus PATCH's body stops after its first holdAfter bytes
// until the browser gives up the request (a reload), as a connection that dies
// mid-upload does. It records every PATCH's Upload-Offset and counts upload creations.
type gate struct {
	held      atomic.Bool
	holdAfter int64
	stalled   chan struct{} // a held body reached holdAfter

	mu      sync.Mutex
	offsets []int64
	creates int
}

// newGate starts the proxy in front of gallery and answers it with its origin.
func newGate(t *testing.T, gallery string) (*gate, string) {
	target, _ := url.Parse(gallery)
	g := &gate{holdAfter: 256 << 10, stalled: make(chan struct{}, 16)}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPatch && strings.Contains(r.URL.Path, "/tus/"):
			off, _ := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
			g.mu.Lock()
			g.offsets = append(g.offsets, off)
			g.mu.Unlock()
			if g.held.Load() {
				r.Body = &heldBody{ReadCloser: r.Body, ctx: r.Context(), left: g.holdAfter, stalled: g.stalled}
			}
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/api/gallery/uploads"):
			g.mu.Lock()
			g.creates++
			g.mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return g, "http://" + ln.Addr().String()
}

func (g *gate) patches() []int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int64(nil), g.offsets...)
}

func (g *gate) created() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.creates
}

// heldBody passes left bytes, then blocks until its request is given up.
type heldBody struct {
	io.ReadCloser
	ctx     context.Context
	left    int64
	stalled chan struct{}
}

func (b *heldBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		b.stalled <- struct{}{}
		<-b.ctx.Done()
		return 0, b.ctx.Err()
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// clip makes a test video: seconds long, 854x480 (a ladder of 480p, 360p and 240p), with
// sound, at the given video bitrate.
func clip(t *testing.T, dir, name string, seconds int, bitrate string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=854x480:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", strconv.Itoa(seconds), "-pix_fmt", "yuv420p",
		"-c:v", "libx264", "-preset", "ultrafast", "-b:v", bitrate, "-c:a", "aac", "-shortest", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	return out
}

// browser is one headless Chromium with one tab, whose console errors, exceptions
// and Content-Security-Policy violations fail the test.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T, base string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("Chromium is missing (%v): scripts/deps.sh installs it (apt-get install chromium)", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"), chromedp.WindowSize(1280, 900))
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, base: base}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			b.problem(fmt.Sprintf("exception: %s at %s:%d", desc, d.URL, d.LineNumber))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				b.problem("console.error: " + strings.Join(parts, " "))
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError && !expectedLog(ev.Entry) {
				b.problem(fmt.Sprintf("%s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	if err == nil {
		_, err = chromedp.Call(ctx, cdplog.Enable, cdp.Empty{})
	}
	if err == nil {
		_, err = chromedp.Call(ctx, network.Enable, network.EnableParams{})
	}
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.problems {
			t.Errorf("browser: %s", p)
		}
	})
	return b
}

// expectedLog tells the errors the pages cause on purpose: the API's answers of 404
// for a video another user may not see, and 409 for one not ready.
func expectedLog(e *cdplog.Entry) bool {
	return e.Source == cdplog.EntrySourceNetwork && (strings.Contains(e.Text, "404") || strings.Contains(e.Text, "409"))
}

// in makes the browser fail t, a subtest, until the returned func is called.
func (b *browser) in(t *testing.T) func() {
	parent := b.t
	b.t = t
	return func() { b.t = parent }
}

func (b *browser) problem(p string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, p)
}

func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) open(path string) {
	b.t.Helper()
	b.run("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("#main")))
}

// setValue sets a form field's value as a user's edit would: with input and change
// events.
func setValue(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(el => { if (!el) return false; el.value = %q;
			el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true})); return true })(document.querySelector(%q))`, value, sel)))
		if err == nil && !ok {
			err = fmt.Errorf("no %s", sel)
		}
		return err
	})
}

// eval runs js in the page and answers its value.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %.200s: %v", js, err)
	}
	return v
}

// call sends one protocol command to the tab.
func call[P, R any](b *browser, cmd cdp.Command[P, R], params P) {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, cmd, params); err != nil {
		b.t.Fatalf("%s: %v", cmd.Method, err)
	}
}

// waitJS polls the page until js is true, for at most d.
func (b *browser) waitJS(d time.Duration, what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+js+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById('main')?.innerText.slice(0, 400) ?? ''`))
			b.t.Fatalf("%s: not so after %v (%v); the page shows: %q", what, d, err, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`document.querySelector(%q)?.innerText ?? ''`, sel))
}

func (b *browser) signIn(user string) {
	b.t.Helper()
	b.open("/signin")
	b.run("sign in as "+user, chromedp.WaitVisible(chromedp.CSS("#user")),
		setValue("#user", ""), chromedp.SendKeys(chromedp.CSS("#user"), user),
		chromedp.Click(chromedp.CSS("main form button[type=submit]")))
	b.waitJS(10*time.Second, "signed in as "+user, fmt.Sprintf(`location.pathname === '/' && document.getElementById('who').innerText.includes(%q)`, user))
}

func (b *browser) signOut() {
	b.t.Helper()
	b.run("sign out", chromedp.Click(chromedp.CSS("#who button")))
	b.waitJS(10*time.Second, "signed out", `location.pathname === '/' && document.getElementById('who').innerText.includes('Sign in')`)
}

// screenshot saves the page as PNG into WEB_SCREENSHOTS when that is set (the
// README's pictures), else into a temporary folder, and checks it is a picture.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil || img.Bounds().Dx() < 300 {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := os.Getenv("WEB_SCREENSHOTS")
	if dir == "" {
		dir = b.t.TempDir()
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) viewport(w, h int64, mobile bool) {
	b.t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	b.run("viewport", chromedp.EmulateViewport(w, h, opts...))
}

// uploadThroughPage uploads file through the upload page and waits for the watch page,
// answering the video's id.
func (b *browser) uploadThroughPage(file, title, visibility string) string {
	b.t.Helper()
	b.open("/upload")
	b.run("choose "+file, chromedp.WaitVisible(chromedp.CSS("#title")),
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{file}))
	b.waitJS(5*time.Second, "the file is chosen", `!document.getElementById('start').disabled`)
	b.run("fill the form", setValue("#title", ""), chromedp.SendKeys(chromedp.CSS("#title"), title),
		setValue("#visibility", visibility))
	// Record what the progress line says, to check the upload and the job were shown.
	eval[bool](b, `(line => { window.vfSeen = []; new MutationObserver(() => window.vfSeen.push(line.innerText))
		.observe(line, {childList: true, characterData: true, subtree: true}); return true })(document.getElementById('upload-status'))`)
	b.run("start the upload", chromedp.Click(chromedp.CSS("#start")))
	b.waitJS(2*time.Minute, "the upload lands on the watch page", `location.pathname.startsWith('/watch/')`)
	seen := eval[[]string](b, `window.vfSeen || []`)
	if !containsPrefix(seen, "Uploading") || !(containsPrefix(seen, "Processing") || containsPrefix(seen, "Waiting")) {
		b.t.Errorf("the upload page showed %q: want the upload's progress, then the job's", seen)
	}
	return strings.TrimPrefix(eval[string](b, `location.pathname`), "/watch/")
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// fillGallery uploads a few more clips through the API, as another user, and waits
// until they are complete.
func fillGallery(t *testing.T, gallery, dir string) {
	res, err := http.Post(gallery+"/dev/signin", "application/json", strings.NewReader(`{"user":"dana"}`))
	if err != nil {
		t.Fatal(err)
	}
	var signin struct{ Token string }
	json.NewDecoder(res.Body).Decode(&signin)
	res.Body.Close()
	cl := client.New(gallery, signin.Token, client.Options{})
	ctx := context.Background()
	var jobs []int64
	for i, c := range []struct{ title, source string }{
		{"Colour bars at noon", "smptebars=size=854x480:rate=30"},
		{"Mandelbrot, slowly", "mandelbrot=size=854x480:rate=30"},
		{"A game of life", "life=size=854x480:rate=30:mold=10:ratio=0.1:death_color=#203040:life_color=#ffd060"},
		{"Gradients", "gradients=size=854x480:rate=30:speed=0.05"},
		{"Test card", "testsrc=size=854x480:rate=30"},
	} {
		file := filepath.Join(dir, fmt.Sprintf("extra%d.mp4", i))
		if b, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", c.source,
			"-f", "lavfi", "-i", "sine=frequency=330", "-t", "6", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
			"-c:a", "aac", "-shortest", file).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v: %s", err, b)
		}
		up, err := cl.CreateUpload(ctx, client.NewUpload{Title: c.title, Visibility: "public"})
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		err = cl.UploadFile(ctx, up, f, st.Size(), client.UploadOptions{})
		f.Close()
		if err == nil {
			_, err = cl.CompleteUpload(ctx, up.JobID)
		}
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, up.JobID)
	}
	for _, id := range jobs {
		testutil.WaitFor(t, 3*time.Minute, fmt.Sprintf("job %d completes", id), func() error {
			j, err := cl.Job(ctx, id)
			if err != nil || j.Status != "completed" {
				return fmt.Errorf("%v %v", j, err)
			}
			return nil
		})
	}
}

// frameJS is the mean brightness (0–255) of the video's current frame, drawn on a
// canvas.
const frameJS = `(v => {
	const c = document.createElement('canvas');
	c.width = v.videoWidth; c.height = v.videoHeight;
	const g = c.getContext('2d');
	g.drawImage(v, 0, 0);
	const d = g.getImageData(0, 0, c.width, c.height).data;
	let sum = 0;
	for (let i = 0; i < d.length; i += 4) sum += d[i] + d[i + 1] + d[i + 2];
	return sum / (d.length / 4) / 3;
})(document.querySelector('.player video'))`

// waitPlaying waits until the page's video has played past t seconds.
func (b *browser) waitPlaying(after float64) {
	b.t.Helper()
	b.waitJS(90*time.Second, fmt.Sprintf("the video plays past %.1f s", after),
		fmt.Sprintf(`(v => v && !v.paused && v.currentTime > %f && v.readyState >= 2)(document.querySelector('.player video'))`, after))
}

// TestBrowser drives the app in Chromium as two users would: sign in, upload through the
// page, watch with every quality, storyboard and keys, edit, another user's view of a
// private video, the embed, delete, and an upload resumed after a reload.
func TestBrowser(t *testing.T) {
	dev := startDev(t)
	g, site := newGate(t, dev.Gallery)
	dir := t.TempDir()
	first := clip(t, dir, "harbour.mp4", 20, "1M")
	b := newBrowser(t, site)

	// Anonymous, the gallery is empty and says how to fill it.
	b.open("/")
	b.waitJS(10*time.Second, "the empty gallery", `document.querySelector('.empty')?.innerText.includes('No videos yet')`)
	b.screenshot("gallery-empty")

	b.signIn("alice")
	id := b.uploadThroughPage(first, "Harbour at dawn", "public")

	t.Run("watch", func(t *testing.T) {
		defer b.in(t)()
		b.waitPlaying(1)
		// Every rendition joins the player once the ladder is complete.
		b.waitJS(2*time.Minute, "three quality levels and the auto choice", `document.querySelectorAll('.player .quality option').length >= 4`)
		// The clip may have played to its end meanwhile: from the start again, and in a
		// loop from here on, so that it is playing whenever the test looks.
		eval[bool](b, `(v => { v.loop = true; if (v.ended || v.currentTime > v.duration - 8) v.currentTime = 0; v.play(); return true })(document.querySelector('.player video'))`)
		b.waitPlaying(3)
		if got := b.text("#title"); got != "Harbour at dawn" {
			t.Errorf("title %q", got)
		}
		// The lowest quality: the picture is 240 lines high and goes on playing.
		eval[bool](b, `(q => { q.value = q.options[q.options.length - 1].value; q.dispatchEvent(new Event('change')); const v = document.querySelector('.player video'); v.currentTime = 1; v.play(); return true })(document.querySelector('.player .quality'))`)
		b.waitJS(30*time.Second, "the lowest quality plays", `document.querySelector('.player video').videoHeight === 240`)
		t0 := eval[float64](b, `document.querySelector('.player video').currentTime`)
		b.waitPlaying(t0 + 1)

		// The storyboard's thumbnail over the seek bar, under the pointer.
		b.waitJS(10*time.Second, "the storyboard is loaded", `document.querySelector('.player').dataset.storyboard === 'ready'`)
		box := eval[struct{ X, Y, W float64 }](b, `(r => ({X: r.left, Y: r.top + r.height / 2, W: r.width}))(document.querySelector('.player .seek input').getBoundingClientRect())`)
		b.run("hover the seek bar", chromedp.MouseEvent(chromedp.MouseMoved, box.X+box.W/2, box.Y))
		b.waitJS(5*time.Second, "the storyboard thumbnail shows", `(p => p.classList.contains('on') && getComputedStyle(p).display !== 'none' && p.style.backgroundImage.includes('storyboard.jpg'))(document.querySelector('.player .preview'))`)
		at := eval[float64](b, `Number(document.querySelector('.player .preview').dataset.time)`)
		duration := eval[float64](b, `document.querySelector('.player video').duration`)
		if at < duration*0.4 || at > duration*0.6 {
			t.Errorf("the thumbnail under the seek bar's middle is of %.1f s of %.1f s", at, duration)
		}

		// Nothing covers the picture: the element at the player's centre is the video.
		if on := eval[string](b, `(r => document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 3)?.tagName ?? '')(document.querySelector('.player video').getBoundingClientRect())`); on != "VIDEO" {
			t.Errorf("the player's centre shows a %s, not the video", on)
		}
		// The picture is really decoded: the frame drawn on a canvas is not black.
		if lum := eval[float64](b, frameJS); lum < 20 {
			t.Errorf("the video's frame has a mean brightness of %.1f: no picture", lum)
		}

		// Keys: k pauses and plays again.
		b.run("press k", chromedp.KeyEvent("k"))
		b.waitJS(5*time.Second, "k pauses", `document.querySelector('.player video').paused`)
		b.run("press k", chromedp.KeyEvent("k"))
		b.waitJS(5*time.Second, "k plays", `!document.querySelector('.player video').paused`)
		b.screenshot("watch")
	})

	t.Run("edit to private", func(t *testing.T) {
		defer b.in(t)()
		b.open("/watch/" + id)
		b.run("edit", chromedp.WaitVisible(chromedp.CSS("button.edit")), chromedp.Click(chromedp.CSS("button.edit")),
			chromedp.WaitVisible(chromedp.CSS("dialog input[name=title]")),
			setValue("dialog input[name=title]", ""),
			chromedp.SendKeys(chromedp.CSS("dialog input[name=title]"), "Harbour at dusk"),
			setValue("dialog select[name=visibility]", "private"),
			chromedp.Click(chromedp.CSS("dialog button[type=submit]")))
		b.waitJS(10*time.Second, "the page shows the change", `document.getElementById('title')?.innerText === 'Harbour at dusk' && document.querySelector('.meta .stats').innerText.includes('private')`)
		b.waitPlaying(0.5) // the owner still plays it, through a signed URL
	})

	t.Run("another user sees it nowhere", func(t *testing.T) {
		defer b.in(t)()
		b.signOut()
		b.signIn("bob")
		b.open("/")
		b.waitJS(10*time.Second, "the gallery is listed", `document.querySelector('.empty') || document.querySelector('#videos')`)
		if strings.Contains(b.text("#main"), "Harbour") {
			t.Errorf("bob's gallery lists alice's private video")
		}
		b.open("/?q=harbour")
		b.waitJS(10*time.Second, "no result", `document.querySelector('.empty')?.innerText.includes('No video matches')`)
		b.open("/watch/" + id)
		b.waitJS(10*time.Second, "not available", `document.getElementById('gone')`)
		b.open("/embed/" + id)
		b.waitJS(10*time.Second, "the embed says not available", `document.querySelector('.player .message')?.innerText.includes('not available')`)
		b.open("/mine")
		b.waitJS(10*time.Second, "bob has no videos", `document.querySelector('.empty')?.innerText.includes('not uploaded')`)
		b.open("/watch/999999")
		b.waitJS(10*time.Second, "an unknown id looks the same", `document.getElementById('gone')`)
	})

	t.Run("embed and delete", func(t *testing.T) {
		defer b.in(t)()
		b.signOut()
		b.signIn("alice")
		b.open("/mine")
		b.run("edit to public", chromedp.WaitVisible(chromedp.CSS("button.edit")), chromedp.Click(chromedp.CSS("button.edit")),
			chromedp.WaitVisible(chromedp.CSS("dialog select[name=visibility]")),
			setValue("dialog select[name=visibility]", "public"),
			chromedp.Click(chromedp.CSS("dialog button[type=submit]")))
		b.waitJS(10*time.Second, "listed as public", `document.querySelector('table.mine tbody tr')?.innerText.includes('public')`)
		b.open("/embed/" + id)
		b.waitPlaying(1)
		b.open("/watch/" + id)
		b.run("delete", chromedp.WaitVisible(chromedp.CSS("button.delete")), chromedp.Click(chromedp.CSS("button.delete")),
			chromedp.WaitVisible(chromedp.CSS("dialog button.confirm")), chromedp.Click(chromedp.CSS("dialog button.confirm")))
		b.waitJS(10*time.Second, "back on my videos, without it", `location.pathname === '/mine' && document.querySelector('.empty')`)
		b.open("/watch/" + id)
		b.waitJS(10*time.Second, "gone", `document.getElementById('gone')`)
	})

	t.Run("reload mid-upload resumes", func(t *testing.T) {
		defer b.in(t)()
		second := clip(t, dir, "lighthouse.mp4", 12, "3M")
		b.open("/upload")
		g.held.Store(true)
		b.run("choose the file", chromedp.WaitVisible(chromedp.CSS("#title")), chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{second}))
		b.waitJS(5*time.Second, "the file is chosen", `!document.getElementById('start').disabled`)
		b.run("title", setValue("#title", ""), chromedp.SendKeys(chromedp.CSS("#title"), "Lighthouse"))
		b.run("start", chromedp.Click(chromedp.CSS("#start")))
		select {
		case <-g.stalled:
		case <-time.After(30 * time.Second):
			t.Fatal("the upload's PATCH never reached the held point")
		}
		creates := g.created()
		b.run("reload mid-upload", chromedp.Reload())
		g.held.Store(false)
		b.run("choose the same file again", chromedp.WaitVisible(chromedp.CSS("#title")), chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{second}))
		b.waitJS(5*time.Second, "the page knows the earlier upload", `document.getElementById('picked').innerText.includes('resumes')`)
		b.run("start again", chromedp.Click(chromedp.CSS("#start")))
		b.waitJS(2*time.Minute, "the resumed upload lands on the watch page", `location.pathname.startsWith('/watch/')`)
		offs := g.patches()
		if len(offs) < 2 || offs[0] != 0 || offs[len(offs)-1] == 0 {
			t.Fatalf("PATCH offsets %v: want the first from 0 and the one after the reload from where the server stood", offs)
		}
		if g.created() != creates {
			t.Errorf("the reload created another upload (%d, then %d POST /uploads)", creates, g.created())
		}
		b.waitPlaying(1)
		if got := b.text("#title"); got != "Lighthouse" {
			t.Errorf("title %q", got)
		}
	})

	t.Run("pictures and figures", func(t *testing.T) {
		defer b.in(t)()
		if os.Getenv("WEB_SCREENSHOTS") != "" {
			fillGallery(t, dev.Gallery, dir) // the README's gallery shows more than one video
		}
		// The thumbnail comes with the whole ladder.
		testutil.WaitFor(t, 2*time.Minute, "every video has its thumbnail", func() error {
			res, err := http.Get(dev.Gallery + "/api/gallery/videos")
			if err != nil {
				return err
			}
			defer res.Body.Close()
			var list struct {
				Videos []struct{ ThumbnailURL *string }
			}
			if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
				return err
			}
			for _, v := range list.Videos {
				if v.ThumbnailURL == nil {
					return errors.New("a video has none yet")
				}
			}
			return nil
		})
		b.open("/")
		b.waitJS(10*time.Second, "the gallery lists the video", `document.querySelectorAll('#videos .card img').length >= 1 && [...document.querySelectorAll('#videos .card img')].every(i => i.complete && i.naturalWidth > 0)`)
		b.screenshot("gallery")
		id2 := eval[string](b, `document.querySelector('#videos .card a')?.getAttribute('href') ?? ''`)
		b.open("/upload")
		b.screenshot("upload")

		// The watch page from a cold cache: its weight and the time to its first frame.
		call(b, network.ClearBrowserCache, cdp.Empty{})
		call(b, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true})
		b.open(id2)
		b.waitJS(60*time.Second, "the first frame", `performance.getEntriesByName('vf-first-frame').length > 0`)
		fig := eval[struct{ HTML, JS, CSS, HTMLRaw, JSRaw, CSSRaw, FirstFrame float64 }](b, `(() => {
			const f = {HTML: 0, JS: 0, CSS: 0, HTMLRaw: 0, JSRaw: 0, CSSRaw: 0};
			const nav = performance.getEntriesByType('navigation')[0];
			f.HTML = nav.transferSize; f.HTMLRaw = nav.decodedBodySize;
			for (const r of performance.getEntriesByType('resource')) {
				const p = new URL(r.name).pathname;
				if (p.endsWith('.js')) { f.JS += r.transferSize; f.JSRaw += r.decodedBodySize; }
				if (p.endsWith('.css')) { f.CSS += r.transferSize; f.CSSRaw += r.decodedBodySize; }
			}
			f.FirstFrame = performance.getEntriesByName('vf-first-frame')[0].startTime;
			return f;
		})()`)
		t.Logf("watch page, cold cache: HTML %.0f B (%.0f B decoded), JS %.0f B (%.0f B), CSS %.0f B (%.0f B); first frame %.0f ms after navigation",
			fig.HTML, fig.HTMLRaw, fig.JS, fig.JSRaw, fig.CSS, fig.CSSRaw, fig.FirstFrame)
		if fig.JSRaw == 0 || fig.CSSRaw == 0 {
			t.Errorf("no JS or CSS measured: %+v", fig)
		}
		call(b, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: false})

		// At a phone's width.
		b.viewport(390, 844, true)
		for _, p := range []struct{ name, path, ready string }{
			{"gallery-phone", "/", `document.querySelector('#videos')`},
			{"watch-phone", id2, `(v => v && v.readyState >= 2 && v.currentTime > 1)(document.querySelector('.player video'))`},
			{"upload-phone", "/upload", `document.getElementById('start')`},
		} {
			b.open(p.path)
			b.waitJS(30*time.Second, p.name, p.ready)
			if eval[bool](b, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
				t.Errorf("%s: the page is wider than the phone's screen", p.name)
			}
			b.screenshot(p.name)
		}
	})

	t.Run("pages by cursor", func(t *testing.T) {
		defer b.in(t)()
		b.viewport(1280, 900, false)
		// More videos than a page holds, written straight into the catalog.
		if _, err := postgres.SeedCatalog(context.Background(), postgres.Config{URL: os.Getenv("DATABASE_URL"), Schema: schema.DefaultSchema}, 40,
			func(i int) videoforge.Video {
				return videoforge.Video{UserID: "erin", Title: fmt.Sprintf("Synthetic %02d", i), Visibility: videoforge.Public, Status: videoforge.StatusReady}
			}, postgres.SeedOptions{}); err != nil {
			t.Fatal(err)
		}
		cards := `[...document.querySelectorAll('#videos .card a')].map(a => a.getAttribute('href'))`
		b.open("/")
		b.waitJS(10*time.Second, "a full first page", `document.querySelectorAll('#videos .card').length === 24`)
		first := eval[[]string](b, cards)
		b.run("more", chromedp.Click(chromedp.CSS(".pager a[rel=next]")))
		b.waitJS(10*time.Second, "the next page, by cursor", `new URLSearchParams(location.search).get('cursor') && document.querySelector('.pager').innerText.includes('Page 2')`)
		second := eval[[]string](b, cards)
		seen := map[string]bool{}
		for _, h := range append(first, second...) {
			if seen[h] {
				t.Errorf("%s is on both pages", h)
			}
			seen[h] = true
		}
		var total int
		res, err := http.Get(dev.Gallery + "/api/gallery/videos")
		if err != nil {
			t.Fatal(err)
		}
		var list struct{ Pagination struct{ Total int } }
		json.NewDecoder(res.Body).Decode(&list)
		res.Body.Close()
		total = list.Pagination.Total
		if want := min(total, 48); len(seen) != want {
			t.Errorf("two pages show %d videos of %d: want %d", len(seen), total, want)
		}
		b.run("back", chromedp.Click(chromedp.CSS(".pager button[rel=prev]")))
		b.waitJS(10*time.Second, "page 1 again", `!location.search.includes('cursor') && document.querySelectorAll('#videos .card').length === 24`)
	})
}
