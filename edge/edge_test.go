package edge_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/edge"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/playback"
)

func id(v *videoforge.Video) string { return strconv.FormatInt(v.ID, 10) }

func TestEndpoints(t *testing.T) {
	dsn, _, vs := catalogDB(t)
	iss, verifier := issuer(t)
	pub := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	unl := create(t, vs, newVideo("alice", videoforge.Unlisted, videoforge.StatusReady))
	priv := create(t, vs, newVideo("alice", videoforge.Private, videoforge.StatusReady))
	busy := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusProcessing))
	e := startEdge(t, edgeCatalog(t, dsn), "", verifier, nil)
	alice, _ := iss.Mint("alice", time.Hour)
	bob, _ := iss.Mint("bob", time.Hour)

	t.Run("Health", func(t *testing.T) {
		for _, p := range []string{"/health", "/api/stream/health"} {
			a := e.get(t, p, "")
			if a.status != 200 || a.body["status"] != "ok" || a.body["service"] != "streaming-service" || a.body["runtime"] != "go" {
				t.Fatalf("%s: %+v", p, a)
			}
			if _, err := time.Parse(time.RFC3339, a.body["timestamp"].(string)); err != nil {
				t.Fatal(err)
			}
		}
		if a := e.get(t, "/ready", ""); a.status != 200 {
			t.Fatalf("ready: %+v", a)
		}
	})
	t.Run("Public", func(t *testing.T) {
		for _, prefix := range []string{"", "/api/stream"} {
			a := e.get(t, prefix+"/"+id(pub), "")
			want := map[string]any{"videoId": id(pub), "url": "https://cdn.example/videos/" + id(pub) + "/hls/master.m3u8", "format": "hls", "expiresAt": nil}
			if a.status != 200 || fmt.Sprint(a.body) != fmt.Sprint(want) {
				t.Fatalf("stream: %d %v", a.status, a.body)
			}
			a = e.get(t, prefix+"/"+id(pub)+"/qualities", "")
			qs := a.body["qualities"].([]any)
			q0 := qs[0].(map[string]any)
			if a.status != 200 || a.body["videoId"] != id(pub) || len(qs) != 2 || q0["name"] != "1080p" || q0["width"] != 1920.0 ||
				q0["height"] != 1080.0 || q0["bandwidth"] != 5e6 || q0["url"] != "https://cdn.example/videos/"+id(pub)+"/hls/1080p/index.m3u8" {
				t.Fatalf("qualities: %d %v", a.status, a.body)
			}
			a = e.get(t, prefix+"/"+id(pub)+"/thumbnail", "")
			if a.status != 200 || a.body["url"] != "https://cdn.example/videos/"+id(pub)+"/thumbnail.jpg" || len(a.body) != 2 {
				t.Fatalf("thumbnail: %d %v", a.status, a.body)
			}
		}
	})
	t.Run("UnlistedByKeyOnly", func(t *testing.T) {
		busy := create(t, vs, newVideo("alice", videoforge.Unlisted, videoforge.StatusProcessing))
		for _, p := range []string{"/" + id(unl), "/" + id(unl) + "?key=", "/" + id(unl) + "?key=" + strings.Repeat("A", 22),
			"/" + id(unl) + "?key=" + busy.ShareKey, "/" + id(unl) + "/qualities", "/" + id(unl) + "/thumbnail?key=x",
			"/" + id(busy), "/" + id(busy) + "/qualities"} {
			// Not 409 for the one not ready: without its key, nothing tells it exists.
			if a := e.get(t, p, ""); a.status != 404 {
				t.Errorf("%s: %d %v, want 404", p, a.status, a.body)
			}
		}
		if a := e.get(t, "/"+id(busy)+keyOf(busy), ""); a.status != 409 {
			t.Errorf("with its key, the unlisted video not ready: %d, want 409", a.status)
		}
	})
	t.Run("UnlistedSigned", func(t *testing.T) {
		a := e.get(t, "/"+id(unl)+keyOf(unl), "")
		u, err := url.Parse(a.body["url"].(string))
		if err != nil || a.status != 200 {
			t.Fatal(a, err)
		}
		exp, err := time.Parse(time.RFC3339, a.body["expiresAt"].(string))
		if err != nil || time.Until(exp) < time.Hour-time.Minute || time.Until(exp) > time.Hour+edge.ExpiryWindow {
			t.Fatalf("expiresAt %v: %v", exp, err)
		}
		got, err := playback.Check(tokenKey, u.Path, time.Now())
		if err != nil || got.Path != "/videos/"+id(unl)+"/hls/master.m3u8" {
			t.Fatalf("Check(%s) = %+v, %v", u.Path, got, err)
		}
		// The playlists' relative URLs inherit the token.
		if _, err := playback.Check(tokenKey, strings.TrimSuffix(u.Path, "master.m3u8")+"720p/seg_00001.ts", time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := playback.Check(tokenKey, strings.Replace(u.Path, "/videos/"+id(unl)+"/", "/videos/"+id(pub)+"/", 1), time.Now()); err == nil {
			t.Fatal("a token for one video opened another")
		}
		if _, err := playback.Check(tokenKey, u.Path, exp); err == nil {
			t.Fatal("an expired token was accepted")
		}
		q := e.get(t, "/"+id(unl)+"/qualities"+keyOf(unl), "")
		qu, _ := url.Parse(q.body["qualities"].([]any)[1].(map[string]any)["url"].(string))
		if _, err := playback.Check(tokenKey, qu.Path, time.Now()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("PrivateOnlyForOwner", func(t *testing.T) {
		for _, tok := range []string{"", bob} {
			if a := e.get(t, "/"+id(priv), tok); a.status != 404 || a.body["error"].(map[string]any)["code"] != "not_found" {
				t.Fatalf("token %q: %+v", tok, a)
			}
		}
		a := e.get(t, "/"+id(priv), alice)
		u, _ := url.Parse(a.body["url"].(string))
		if a.status != 200 {
			t.Fatal(a)
		}
		if _, err := playback.Check(tokenKey, u.Path, time.Now()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		for _, c := range []struct {
			path   string
			status int
			code   string
		}{
			{"/" + id(busy), 409, "conflict"},
			{"/" + id(busy) + "/qualities", 409, "conflict"},
			{"/abc", 400, "invalid"},
			{"/0", 400, "invalid"},
			{"/-1/thumbnail", 400, "invalid"},
			{"/99999999", 404, "not_found"},
			{"/99999999", 404, "not_found"}, // now from the negative cache
			{"/1/2/3", 400, "invalid"},
		} {
			a := e.get(t, c.path, "")
			if a.status != c.status || a.body["error"].(map[string]any)["code"] != c.code {
				t.Fatalf("%s: %+v", c.path, a)
			}
		}
	})
}

func TestEvents(t *testing.T) {
	dsn, db, vs := catalogDB(t)
	ns := startNATS(t)
	js := ns.js()
	v := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	relay(t, db, js)
	e := startEdge(t, edgeCatalog(t, dsn), ns.url(), nil, nil)
	status := func(v *videoforge.Video, want int) func() error {
		return func() error {
			if a := e.get(t, "/"+id(v), ""); a.status != want {
				return fmt.Errorf("%d: %v", a.status, a.body)
			}
			return nil
		}
	}
	checkFor(t, 5*time.Second, status(v, 200))

	t.Run("InOrder", func(t *testing.T) {
		w := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
		relay(t, db, js)
		checkFor(t, 5*time.Second, status(w, 200))
		private := videoforge.Private
		if _, err := vs.UpdateVideo(context.Background(), w.ID, "alice", videoforge.VideoUpdate{Visibility: &private}); err != nil {
			t.Fatal(err)
		}
		relay(t, db, js)
		checkFor(t, 5*time.Second, status(w, 404))
	})
	t.Run("OutOfOrderAndDuplicated", func(t *testing.T) {
		// Narrowing events apply at once, so their order shows: version 3 (not ready)
		// must win over the older version 2 (private) that arrives after it.
		x := *v
		x.Status = videoforge.StatusProcessing
		publish(t, js, "ooo-3", videoforge.EventUpdated, 3, &x)
		y := *v
		y.Visibility = videoforge.Private
		publish(t, js, "ooo-2", videoforge.EventUpdated, 2, &y)       // older: ignored
		publish(t, js, "ooo-3-again", videoforge.EventUpdated, 3, &x) // the same event under another id
		publish(t, js, "ooo-3", videoforge.EventUpdated, 4, &y)       // duplicate message id: dropped by JetStream
		// A later marker event shows that everything before it was handled.
		m := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
		relay(t, db, js)
		checkFor(t, 5*time.Second, status(m, 200))
		if a := e.get(t, "/"+id(v), ""); a.status != 409 {
			t.Fatalf("want the not-ready answer of version 3, got %+v", a)
		}
		// PostgreSQL's row (ready, public) comes back with the reconcile, although the
		// version held is higher.
		if err := e.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
		checkFor(t, 5*time.Second, status(v, 200))
	})
	t.Run("DeleteIsFinal", func(t *testing.T) {
		d := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
		relay(t, db, js)
		checkFor(t, 5*time.Second, status(d, 200))
		if err := vs.DeleteVideo(context.Background(), d.ID, "alice"); err != nil {
			t.Fatal(err)
		}
		relay(t, db, js)
		checkFor(t, 5*time.Second, status(d, 404))
		publish(t, js, "late-update", videoforge.EventUpdated, 1, d) // an old event arriving late
		m := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
		relay(t, db, js)
		checkFor(t, 5*time.Second, status(m, 200))
		if a := e.get(t, "/"+id(d), ""); a.status != 404 {
			t.Fatalf("a late event resurrected a deleted video: %+v", a)
		}
	})
	t.Run("PublishedWhileDown", func(t *testing.T) {
		e.stop()
		unlisted := videoforge.Unlisted
		if _, err := vs.UpdateVideo(context.Background(), v.ID, "alice", videoforge.VideoUpdate{Visibility: &unlisted}); err != nil {
			t.Fatal(err)
		}
		relay(t, db, js)
		e = startEdge(t, edgeCatalog(t, dsn), ns.url(), nil, nil)
		title := "after restart"
		w := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
		if _, err := vs.UpdateVideo(context.Background(), w.ID, "alice", videoforge.VideoUpdate{Title: &title}); err != nil {
			t.Fatal(err)
		}
		relay(t, db, js)
		checkFor(t, 5*time.Second, status(w, 200))
		if a := e.get(t, "/"+id(v)+"?key="+v.ShareKey, ""); a.status != 200 || !strings.Contains(a.body["url"].(string), "/t/") {
			t.Fatalf("restarted edge missed the change made while it was down: %+v", a)
		}
	})
}

func TestNATSRestartUnderTraffic(t *testing.T) {
	dsn, db, vs := catalogDB(t)
	ns := startNATS(t)
	js := ns.js()
	v := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	w := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	relay(t, db, js)
	e := startEdge(t, edgeCatalog(t, dsn), ns.url(), nil, func(c *edge.Config) { c.Staleness = 200 * time.Millisecond })

	var bad atomic.Int64
	var n atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if a := e.get(t, "/"+id(v), ""); a.status != 200 {
					bad.Add(1)
				}
				n.Add(1)
			}
		})
	}
	ns.stop()
	// The change cannot be published; the reconciler brings it in.
	private := videoforge.Private
	if _, err := vs.UpdateVideo(context.Background(), w.ID, "alice", videoforge.VideoUpdate{Visibility: &private}); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 5*time.Second, func() error {
		if a := e.get(t, "/"+id(w), ""); a.status != 404 {
			return errNotYet
		}
		return nil
	})
	ns.start()
	relay(t, db, ns.js()) // the relay catches up once NATS is back
	x := create(t, vs, newVideo("alice", videoforge.Unlisted, videoforge.StatusReady))
	relay(t, db, ns.js())
	checkFor(t, 10*time.Second, func() error {
		if a := e.get(t, "/"+id(x)+keyOf(x), ""); a.status != 200 {
			return errNotYet
		}
		return nil
	})
	close(stop)
	wg.Wait()
	if bad.Load() != 0 || n.Load() == 0 {
		t.Fatalf("%d of %d answers under traffic were not 200", bad.Load(), n.Load())
	}
}

func TestPostgresDown(t *testing.T) {
	dsn, _, vs := catalogDB(t)
	v := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, u.Host)
	u.Host = px.addr()
	e := startEdge(t, edgeCatalog(t, u.String()), "", nil, nil)
	px.cut()
	for range 3 {
		if a := e.get(t, "/"+id(v), ""); a.status != 200 {
			t.Fatalf("hit while PostgreSQL is down: %+v", a)
		}
	}
	a := e.get(t, "/987654321", "")
	if a.status != 503 || a.header.Get("Retry-After") == "" || a.body["error"].(map[string]any)["code"] != "unavailable" {
		t.Fatalf("miss while PostgreSQL is down: %+v", a)
	}
}

func TestViewsFlushedInBatches(t *testing.T) {
	dsn, db, vs := catalogDB(t)
	v := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	w := create(t, vs, newVideo("alice", videoforge.Unlisted, videoforge.StatusReady))
	e := startEdge(t, edgeCatalog(t, dsn), "", nil, func(c *edge.Config) { c.FlushInterval = time.Hour })
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range 10 {
				e.get(t, "/"+id(v), "")
				e.get(t, "/"+id(w)+keyOf(w), "")
				e.get(t, "/"+id(w)+"/qualities"+keyOf(w), "") // not a view
			}
		})
	}
	wg.Wait()
	var before int64
	db.Pool().QueryRow(context.Background(), `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&before)
	if err := e.FlushViews(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*videoforge.Video{v, w} {
		var views, version int64
		if err := db.Pool().QueryRow(context.Background(), `SELECT views, version FROM videos WHERE id = $1`, x.ID).Scan(&views, &version); err != nil {
			t.Fatal(err)
		}
		if views != 100 || version != x.Version {
			t.Fatalf("video %d: views %d version %d, want 100 and %d", x.ID, views, version, x.Version)
		}
	}
}

// TestSignPublic: with SignPublic even a public video's URLs carry a folder token that
// the CDN's check accepts, and they name the same objects as the plain ones.
func TestSignPublic(t *testing.T) {
	dsn, _, vs := catalogDB(t)
	pub := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	e := startEdge(t, edgeCatalog(t, dsn), "", nil, func(c *edge.Config) { c.SignPublic = true })
	a := e.get(t, "/api/stream/"+id(pub), "")
	u, ok := a.body["url"].(string)
	if a.status != 200 || !ok || a.body["expiresAt"] == nil {
		t.Fatalf("stream: %d %v", a.status, a.body)
	}
	path, found := strings.CutPrefix(u, "https://cdn.example")
	if !found {
		t.Fatalf("url %s", u)
	}
	if p, err := playback.Check(tokenKey, path, time.Now()); err != nil || p.Path != "/videos/"+id(pub)+"/hls/master.m3u8" {
		t.Errorf("url %s: %+v %v", u, p, err)
	}
}

// TestAttemptFolder: a video committed by a job attempt plays from that attempt's
// folder, read from PostgreSQL at start and from the events that follow.
func TestAttemptFolder(t *testing.T) {
	dsn, db, vs := catalogDB(t)
	ctx := context.Background()
	ns := startNATS(t)
	js, v, start := uploadedVideo(t, db, vs)
	a := start()
	f := a.Folder()
	if _, err := js.CompleteJob(ctx, a, videoforge.JobResult{Duration: 1, Resolution: "1280x720", VideoCodec: "h264",
		ThumbnailURL: f + "thumbnail.jpg", S3Key: strings.TrimSuffix(f, "/"),
		Renditions: []videoforge.Rendition{{Name: "720p", Width: 1280, Height: 720, Bandwidth: 2_800_000, Playlist: f + "hls/720p/index.m3u8"}}}); err != nil {
		t.Fatal(err)
	}
	e := startEdge(t, edgeCatalog(t, dsn), ns.url(), nil, nil)
	base := "https://cdn.example/" + f
	check := func(id int64, base string) error {
		a := e.get(t, "/"+itoa(int(id)), "")
		q := e.get(t, "/"+itoa(int(id))+"/qualities", "")
		th := e.get(t, "/"+itoa(int(id))+"/thumbnail", "")
		if a.status != 200 || a.body["url"] != base+"hls/master.m3u8" || th.body["url"] != base+"thumbnail.jpg" ||
			q.status != 200 || q.body["qualities"].([]any)[0].(map[string]any)["url"] != base+"hls/720p/index.m3u8" {
			return fmt.Errorf("stream %v, qualities %v, thumbnail %v; want everything under %s", a.body, q.body, th.body, base)
		}
		return nil
	}
	if err := check(v.ID, base); err != nil {
		t.Fatal("from the snapshot: ", err)
	}
	// A later attempt's commit, as an event.
	x := *v
	next := layout.AttemptFolder(v.ID, 2)
	x.Status, x.S3Key = videoforge.StatusReady, strings.TrimSuffix(next, "/")
	x.Renditions = []videoforge.Rendition{{Name: "720p", Width: 1280, Height: 720, Bandwidth: 2_800_000, Playlist: next + "hls/720p/index.m3u8"}}
	publish(t, ns.js(), "attempt-2", videoforge.EventUpdated, 100, &x)
	checkFor(t, 5*time.Second, func() error { return check(v.ID, "https://cdn.example/"+next) })
}

// TestQualitiesGrow: a video published early (one rendition, its ladder to come) is
// streamed at once, and its /qualities answer grows with the commit of the whole
// ladder, carried by the catalog's events alone: the reconcile is too far off to do it.
func TestQualitiesGrow(t *testing.T) {
	dsn, db, vs := catalogDB(t)
	ctx := context.Background()
	ns := startNATS(t)
	js, v, start := uploadedVideo(t, db, vs)
	relay(t, db, ns.js())
	e := startEdge(t, edgeCatalog(t, dsn), ns.url(), nil, func(c *edge.Config) { c.Staleness = time.Hour })
	if a := e.get(t, "/"+itoa(int(v.ID)), ""); a.status == 200 {
		t.Fatalf("an uploaded video streams: %v", a.body)
	}
	a := start()
	f := a.Folder()
	rung := func(name string, w, h, bw int) videoforge.Rendition {
		return videoforge.Rendition{Name: name, Width: w, Height: h, Bandwidth: bw, Playlist: f + "hls/" + name + "/index.m3u8"}
	}
	res := videoforge.JobResult{Duration: 60, Resolution: "1920x1080", VideoCodec: "h264", S3Key: strings.TrimSuffix(f, "/"),
		Renditions: []videoforge.Rendition{rung("1080p", 1920, 1080, 10_000_000)}}
	if _, err := js.PublishRenditions(ctx, a, res); err != nil {
		t.Fatal(err)
	}
	relay(t, db, ns.js())
	qualities := func(n int) error {
		s := e.get(t, "/"+itoa(int(v.ID)), "")
		q := e.get(t, "/"+itoa(int(v.ID))+"/qualities", "")
		got, _ := q.body["qualities"].([]any)
		if s.status != 200 || q.status != 200 || len(got) != n {
			return fmt.Errorf("stream %d %v, qualities %d %v: want %d", s.status, s.body, q.status, q.body, n)
		}
		return nil
	}
	checkFor(t, 5*time.Second, func() error { return qualities(1) })
	res.Renditions = append(res.Renditions, rung("720p", 1280, 720, 2_800_000), rung("480p", 854, 480, 1_400_000))
	res.ThumbnailURL = f + "thumbnail.jpg"
	if _, err := js.CompleteJob(ctx, a, res); err != nil {
		t.Fatal(err)
	}
	relay(t, db, ns.js())
	checkFor(t, 5*time.Second, func() error { return qualities(3) })
}

// uploadedVideo creates alice's public video with its queued job, as an upload's
// complete leaves them; start begins the job's attempt.
func uploadedVideo(t *testing.T, db *postgres.DB, vs *postgres.VideoService) (*postgres.JobService, *videoforge.Video, func() *videoforge.Attempt) {
	t.Helper()
	ctx := context.Background()
	js := postgres.NewJobService(db)
	job := &videoforge.Job{UserID: "alice", Status: videoforge.JobQueued, SourceKey: "uploads/x/source"}
	if err := js.CreateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	v := newVideo("alice", videoforge.Public, videoforge.StatusUploaded)
	v.JobID = &job.ID
	create(t, vs, v)
	return js, v, func() *videoforge.Attempt {
		a, err := js.StartJob(ctx, job.ID, v.ID, time.Minute)
		if err != nil || a == nil {
			t.Fatal(a, err)
		}
		return a
	}
}
