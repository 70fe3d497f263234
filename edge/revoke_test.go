package edge_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/edge"
	"github.com/videoforge/videoforge/internal/testutil"
	"github.com/videoforge/videoforge/media"
	"github.com/videoforge/videoforge/playback"
)

// mediaFor serves root with the embedded media server, asking e how each video may be
// played, over loopback HTTP; it returns the server's base URL.
func mediaFor(t *testing.T, e *running, root string) string {
	t.Helper()
	ms, err := media.New(media.Config{Root: root, TokenKey: tokenKey}, e.MediaAccess, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if !ms.Handle(ctx) {
			ctx.SetStatusCode(fasthttp.StatusNotFound)
		}
	}}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Shutdown()
		ms.Close()
	})
	return "http://" + ln.Addr().String()
}

// player gets stream URLs from the edge and plays them from the media server.
type player struct {
	t          *testing.T
	e          *running
	media, dir string
}

// url asks the edge for v's master playlist (with the owner's token or v's share key
// as given), stores a playlist where that URL points, and returns the URL's path.
func (p *player) url(v *videoforge.Video, token, query string) string {
	p.t.Helper()
	a := p.e.get(p.t, "/"+id(v)+query, token)
	if a.status != 200 {
		p.t.Fatalf("stream URL of video %d: %d %v", v.ID, a.status, a.body)
	}
	u, err := url.Parse(a.body["url"].(string))
	if err != nil {
		p.t.Fatal(err)
	}
	g, err := playback.Check(tokenKey, u.Path, time.Now())
	if err != nil {
		p.t.Fatalf("the edge signed %s: %v", u.Path, err)
	}
	f := filepath.Join(p.dir, filepath.FromSlash(g.Path))
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte("#EXTM3U\n"), 0o644); err != nil {
		p.t.Fatal(err)
	}
	return u.Path
}

// plays is a condition for checkFor: the media server answers path with want.
func (p *player) plays(path string, want int) func() error {
	return func() error {
		res, err := http.Get(p.media + path)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != want {
			return fmt.Errorf("%s: %d, want %d", path, res.StatusCode, want)
		}
		return nil
	}
}

// TestRevokedTokensStopPlaying: the token matrix. A URL handed out before a video's
// access narrowed (unlisted or public made private, public made unlisted, private made
// public and private again) or before it was deleted stops playing at the media server
// as soon as the event reaches the edge, while the tokens the edge signs afterwards
// (the owner's, the share key holder's) play.
func TestRevokedTokensStopPlaying(t *testing.T) {
	dsn, db, vs := catalogDB(t)
	iss, verifier := issuer(t)
	ns := startNATS(t)
	js := ns.js()
	unl := create(t, vs, newVideo("alice", videoforge.Unlisted, videoforge.StatusReady))
	pub := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	priv := create(t, vs, newVideo("alice", videoforge.Private, videoforge.StatusReady))
	gone := create(t, vs, newVideo("alice", videoforge.Private, videoforge.StatusReady))
	relay(t, db, js)
	e := startEdge(t, edgeCatalog(t, dsn), ns.url(), verifier, func(c *edge.Config) { c.SignPublic = true })
	p := &player{t: t, e: e, dir: t.TempDir()}
	p.media = mediaFor(t, e, p.dir)
	alice, _ := iss.Mint("alice", time.Hour)

	before := map[string]string{
		"UnlistedMadePrivate":       p.url(unl, "", keyOf(unl)),
		"PublicMadeUnlisted":        p.url(pub, "", ""),
		"PrivateMadePublicThenBack": p.url(priv, alice, ""),
		"Deleted":                   p.url(gone, alice, ""),
	}
	for name, path := range before {
		if err := p.plays(path, 200)(); err != nil {
			t.Fatalf("%s, before: %v", name, err)
		}
	}
	set := func(v *videoforge.Video, vis videoforge.Visibility) {
		t.Helper()
		if _, err := vs.UpdateVideo(context.Background(), v.ID, "alice", videoforge.VideoUpdate{Visibility: &vis}); err != nil {
			t.Fatal(err)
		}
	}
	set(unl, videoforge.Private)
	set(pub, videoforge.Unlisted)
	set(priv, videoforge.Public)
	set(priv, videoforge.Private)
	if err := vs.DeleteVideo(context.Background(), gone.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	relay(t, db, js)
	for name, path := range before {
		want := 403
		if name == "Deleted" {
			want = 404
		}
		t.Run(name, func(t *testing.T) { checkFor(t, 5*time.Second, p.plays(path, want)) })
	}
	t.Run("NewTokensPlay", func(t *testing.T) {
		// A video made unlisted streams by its share key once the edge has read it
		// back from PostgreSQL (events never carry it): milliseconds after the event.
		pub.Visibility = videoforge.Unlisted // its share key is the one it was created with
		checkFor(t, 5*time.Second, statusIs(t, e, "/"+id(pub)+keyOf(pub), "", 200))
		for _, path := range []string{p.url(unl, alice, ""), p.url(pub, "", keyOf(pub)), p.url(priv, alice, "")} {
			if err := p.plays(path, 200)(); err != nil {
				t.Error(err)
			}
		}
	})
}

// TestRevokedWithoutTheBus: with no events at all, a video made private stops playing
// for the holders of its old URLs within EDGE_STALENESS: PostgreSQL decides.
func TestRevokedWithoutTheBus(t *testing.T) {
	dsn, _, vs := catalogDB(t)
	v := create(t, vs, newVideo("alice", videoforge.Unlisted, videoforge.StatusReady))
	e := startEdge(t, edgeCatalog(t, dsn), "", nil, func(c *edge.Config) { c.Staleness = 200 * time.Millisecond })
	p := &player{t: t, e: e, dir: t.TempDir()}
	p.media = mediaFor(t, e, p.dir)
	old := p.url(v, "", keyOf(v))
	if err := p.plays(old, 200)(); err != nil {
		t.Fatal(err)
	}
	private := videoforge.Private
	if _, err := vs.UpdateVideo(context.Background(), v.ID, "alice", videoforge.VideoUpdate{Visibility: &private}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	checkFor(t, 5*time.Second, p.plays(old, 403))
	t.Logf("revoked %v after the change (EDGE_STALENESS 200ms)", time.Since(start).Round(time.Millisecond))
}

// TestMediaMissesLimited: the media server's look-ups of unknown ids share the edge's
// per-client miss budget: beyond it they are 429 with Retry-After and cost PostgreSQL
// nothing, while a known public video keeps playing.
func TestMediaMissesLimited(t *testing.T) {
	dsn, _, vs := catalogDB(t)
	v := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	e := startEdge(t, edgeCatalog(t, dsn), "", nil, func(c *edge.Config) { c.MissRate, c.MissBurst = 0.001, 3 })
	p := &player{t: t, e: e, dir: t.TempDir()}
	p.media = mediaFor(t, e, p.dir)
	f := filepath.Join(p.dir, "videos", id(v), "hls", "master.m3u8")
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte("#EXTM3U\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reads := func() float64 { return testutil.Metric(t, e.Registry(), "videoforge_edge_reads_total") }
	before := reads()
	var codes []int
	for i := range 20 {
		res, err := http.Get(fmt.Sprintf("%s/videos/%d/hls/master.m3u8", p.media, 5_000_000+i))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		codes = append(codes, res.StatusCode)
		if res.StatusCode == 429 && res.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if got := reads() - before; got > 3 {
		t.Errorf("%v PostgreSQL reads for 20 unknown ids, want at most the burst of 3 (answers %v)", got, codes)
	}
	if codes[0] != 404 || codes[19] != 429 {
		t.Errorf("answers %v: want 404 within the budget, 429 beyond", codes)
	}
	if err := p.plays("/videos/"+id(v)+"/hls/master.m3u8", 200)(); err != nil {
		t.Error(err)
	}
}
