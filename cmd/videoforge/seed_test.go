package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/client"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/stack"
)

// TestSeed runs `videoforge dev` on an empty database, which offers to seed it, runs
// the offered command (with 2 videos of 2 users), and checks that both videos are
// ready, owned by their users, listed, found by search and play; then the offer is
// not made any more.
func TestSeed(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	t.Setenv("DATABASE_URL", dsn)
	t.Setenv("NATS_PORT", "0")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where seed keeps its clips, to see it cleaned
	data := t.TempDir()

	ctx, cancel := context.WithCancel(context.Background())
	var dev syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"dev", "-data", data, "-gallery-addr", "127.0.0.1:0", "-edge-addr", "127.0.0.1:0"}, &dev)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dev stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("dev did not stop within 30 s")
		}
	})
	eventually(t, time.Minute, "dev's banner and its offer to seed", func() bool {
		return strings.Contains(dev.String(), "The catalog is empty")
	})
	banner := dev.String()
	gallery := regexp.MustCompile(`gallery API +(\S+)/api/gallery`).FindStringSubmatch(banner)
	edge := regexp.MustCompile(`streaming +(\S+)/api/stream`).FindStringSubmatch(banner)
	offer := regexp.MustCompile(`(?m)^The catalog is empty: fill it with demo videos: videoforge (seed .*)$`).FindStringSubmatch(banner)
	if gallery == nil || edge == nil || offer == nil {
		t.Fatalf("dev's banner names no gallery, edge or seed command:\n%s", banner)
	}
	if !strings.Contains(offer[1], "seed -data "+data+" ") || !strings.HasSuffix(offer[1], " -videos 8 -playable") {
		t.Errorf("offered %q", offer[1])
	}
	if i, j := strings.Index(banner, "Stop with Ctrl-C."), strings.Index(banner, "The catalog is empty"); i < 0 || j < i {
		t.Errorf("the offer is not after the banner:\n%s", banner)
	}

	// The offered command, for fewer videos and users.
	args := strings.Fields(strings.Replace(offer[1], "-videos 8", "-videos 2 -users 2", 1))
	var out syncBuffer
	start := time.Now()
	if err := run(context.Background(), append(args, "-timeout", "5m"), &out); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	t.Logf("seed in %v:\n%s", time.Since(start).Round(time.Millisecond), out.String())
	if left, _ := filepath.Glob(filepath.Join(tmp, "videoforge-seed-*")); len(left) > 0 {
		t.Errorf("seed left its folder: %v", left)
	}
	if !strings.Contains(out.String(), "\n2 videos in ") {
		t.Errorf("no summary:\n%s", out.String())
	}

	var list struct {
		Videos     []videoforge.Video
		Pagination struct{ Total int }
	}
	if code, body := call(t, "GET", gallery[1]+"/api/gallery/videos", "", ""); code != 200 || json.Unmarshal([]byte(body), &list) != nil {
		t.Fatalf("list: %d %s", code, body)
	}
	if list.Pagination.Total != 2 || len(list.Videos) != 2 {
		t.Fatalf("%d videos listed (total %d), want 2", len(list.Videos), list.Pagination.Total)
	}
	var users []string
	for _, v := range list.Videos {
		users = append(users, v.UserID)
		if v.Status != videoforge.StatusReady || v.Visibility != videoforge.Public || v.Description == nil {
			t.Errorf("video %d: %s, %s, description %v", v.ID, v.Status, v.Visibility, v.Description)
		}
		if !strings.Contains(out.String(), v.Title) {
			t.Errorf("the summary does not name %q", v.Title)
		}
		// Search finds it by a word of its title.
		word := strings.Fields(v.Title)[1]
		var found struct{ Videos []videoforge.Video }
		if code, body := call(t, "GET", gallery[1]+"/api/gallery/videos?search="+word, "", ""); code != 200 || json.Unmarshal([]byte(body), &found) != nil ||
			!slices.ContainsFunc(found.Videos, func(f videoforge.Video) bool { return f.ID == v.ID }) {
			t.Errorf("search %q: %d %s", word, code, body)
		}
		// Its stream URL answers a master playlist of several rungs.
		var s struct{ URL string }
		res, body := get(t, edge[1]+"/api/stream/"+strconv.FormatInt(v.ID, 10), "")
		if res.StatusCode != 200 || json.Unmarshal(body, &s) != nil {
			t.Fatalf("stream URL of video %d: %d %s", v.ID, res.StatusCode, body)
		}
		res, body = get(t, s.URL, "")
		if res.StatusCode != 200 || !bytes.HasPrefix(body, []byte("#EXTM3U")) || bytes.Count(body, []byte("#EXT-X-STREAM-INF")) < 2 {
			t.Errorf("master playlist %s: %d\n%s", s.URL, res.StatusCode, body)
		}
	}
	slices.Sort(users)
	if !slices.Equal(users, []string{"user1", "user2"}) {
		t.Errorf("owned by %v, want user1 and user2", users)
	}

	// A catalog with videos is not offered the seed.
	var again bytes.Buffer
	offerSeed(context.Background(), stack.Addrs{Gallery: gallery[1], Edge: edge[1], Data: data}, &again)
	if again.Len() != 0 {
		t.Errorf("offered to seed a filled catalog: %q", again.String())
	}
}

// TestSeedRefuses: bad counts and flags are refused before anything is made, with or
// without -playable; synthetic videos need a database, from DATABASE_URL or a dev
// stack's data folder.
func TestSeedRefuses(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("DB_HOST", "")
	empty := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"seed", "-videos", "0"}, "-videos must be at least 1"},
		{[]string{"seed", "-videos=-3"}, "-videos must be at least 1"},
		{[]string{"seed", "-users", "0"}, "-users must be at least 1"},
		{[]string{"seed", "-videos", "many"}, "invalid value"},
		{[]string{"seed", "-videos"}, "needs an argument"},
		{[]string{"seed", "-colour", "red"}, "not defined: -colour"},
		{[]string{"seed", "stray"}, "stray"},
		{[]string{"seed", "-token", "x"}, "-token is for -playable"},
		{[]string{"seed", "-data", empty}, "no dev stack recorded one in " + filepath.Join(empty, "keys", "transcoder.env")},
		{[]string{"seed", "-playable", "-videos", "0"}, "-videos"},
		{[]string{"seed", "-playable", "-users=0"}, "-users"},
		{[]string{"seed", "-playable", "-parallel", "0"}, "-parallel"},
		{[]string{"seed", "-playable", "-token", "x", "-users", "2"}, "not both"},
		{[]string{"seed", "-playable", "-videos", "many"}, "invalid value"},
		{[]string{"seed", "-playable", "stray"}, "stray"},
		{[]string{"seed", "-playable", "-data", t.TempDir()}, "videoforge dev"}, // no key to mint tokens with
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args[1:], " "), func(t *testing.T) {
			err := run(context.Background(), c.args, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error saying %q", err, c.want)
			}
		})
	}
	// A recorded database that does not answer is named in the error.
	keys := filepath.Join(empty, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	env := "DATABASE_URL=postgres://nobody:secret@127.0.0.1:1/videoforge?sslmode=disable&connect_timeout=2\nDB_SCHEMA=videoforge\n"
	if err := os.WriteFile(filepath.Join(keys, "transcoder.env"), []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"seed", "-data", empty, "-videos", "3"}, &out)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(keys, "transcoder.env")) || strings.Contains(err.Error()+out.String(), "secret") {
		t.Errorf("seed into a database that does not answer: %v\n%s", err, out.String())
	}
}

func TestSplitSeedArgs(t *testing.T) {
	fs := seedFlags(&seedOptions{})
	cases := []struct{ args, own, rest []string }{
		{[]string{"-data", "d", "-videos", "3", "-playable", "-gallery=http://g"}, []string{"-videos", "3", "-playable"}, []string{"-data", "d", "-gallery=http://g"}},
		{[]string{"--users=2", "-timeout", "1m", "-parallel", "4"}, []string{"--users=2", "-parallel", "4"}, []string{"-timeout", "1m"}},
		{[]string{"-playable=false", "-h"}, []string{"-playable=false"}, []string{"-h"}},
		{[]string{"-videos"}, []string{"-videos"}, nil}, // the flag package says the value is missing
		{[]string{"-users", "2", "--", "-videos", "3"}, []string{"-users", "2"}, []string{"--", "-videos", "3"}},
	}
	for _, c := range cases {
		own, rest := splitSeedArgs(fs, c.args)
		if !slices.Equal(own, c.own) || !slices.Equal(rest, c.rest) {
			t.Errorf("split %q: %q and %q, want %q and %q", c.args, own, rest, c.own, c.rest)
		}
	}
	help := seedHelp(fs)
	for _, want := range []string{"-videos int", "(default 8)", "-playable\n", "which do not play (no media objects)", "keys/transcoder.env", "DATABASE_URL"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
}

// TestClipFor: the demo clips differ in title, picture and sound; every source makes a
// 1280x720 picture.
func TestClipFor(t *testing.T) {
	titles := map[string]bool{}
	for i := range 500 {
		c := clipFor(i, true)
		if titles[c.title] {
			t.Fatalf("clip %d repeats the title %q", i, c.title)
		}
		titles[c.title] = true
		if c.text != c.title || c.seconds < 6 || c.seconds > 8 || !strings.Contains(c.description, strings.ToLower(strings.Fields(c.title)[1])) {
			t.Errorf("clip %d: %+v", i, c)
		}
		if !strings.Contains(c.source, "1280x720") && !strings.Contains(c.source, "scale=1280:720") {
			t.Errorf("clip %d's picture is not 1280x720: %s", i, c.source)
		}
	}
	sources := map[string]bool{}
	for i := range len(clipSources) {
		sources[strings.SplitN(clipFor(i, false).source, "=", 2)[0]] = true
		if clipFor(i, false).text != "" {
			t.Errorf("clip %d has text without drawtext", i)
		}
	}
	if len(sources) != len(clipSources) {
		t.Errorf("the first clips share sources: %v", sources)
	}
	got := clipArgs(clipFor(1, true), "/tmp/c.mp4")
	want := []string{"-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", "smptebars=size=1280x720:rate=25,drawtext=text='Quiet Meadow after rain':fontsize=72:fontcolor=white:box=1:boxcolor=black@0.55:boxborderw=24:x=(w-text_w)/2:y=h-180",
		"-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000",
		"-t", "7", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "128k", "-shortest", "-movflags", "+faststart", "/tmp/c.mp4"}
	if !slices.Equal(got, want) {
		t.Errorf("clipArgs:\n%q\nwant\n%q", got, want)
	}
}

// TestUploadRetrying: a PUT whose connection breaks is sent again, whole; a refusal is
// not.
func TestUploadRetrying(t *testing.T) {
	var puts, complete atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := puts.Add(1)
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == "/refuse":
			http.Error(w, `{"error":{"code":"forbidden","message":"bad signature"}}`, http.StatusForbidden)
		case n == 1: // the connection breaks before an answer
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		default:
			if string(body) == "the clip" {
				complete.Add(1)
			}
		}
	}))
	defer srv.Close()
	cl := client.New(srv.URL, "token", client.Options{})
	clip := strings.NewReader("the clip")
	if err := uploadRetrying(context.Background(), cl, &videoforge.Upload{JobID: 1, UploadURL: srv.URL + "/ok"}, clip, clip.Size()); err != nil {
		t.Fatalf("after a broken connection: %v", err)
	}
	if puts.Load() != 2 || complete.Load() != 1 {
		t.Errorf("%d PUTs, %d whole, want 2 and 1", puts.Load(), complete.Load())
	}
	puts.Store(0)
	err := uploadRetrying(context.Background(), cl, &videoforge.Upload{JobID: 1, UploadURL: srv.URL + "/refuse"}, clip, clip.Size())
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != 403 || puts.Load() != 1 {
		t.Errorf("refused: %v after %d PUTs, want the 403 after one", err, puts.Load())
	}
}

// TestSeedSynthetic seeds 20 000 synthetic videos of 7 users into a running dev stack,
// whose database seed finds in the data folder (DATABASE_URL unset), and checks that
// the gallery lists them with the right total, overall and per user (video_counts
// agrees with the rows), search finds a common and a rare word of the list, the relay
// published every event, and the edge holds them all from the events (or its
// reconcile) before any look-up and answers a seeded id's stream URL: 200, as for any
// ready public video, with a master playlist URL under the video's folder that the
// media server answers 404, since synthetic videos have no media.
func TestSeedSynthetic(t *testing.T) {
	const n, users = 20_000, 7
	dsn := pgtest.NewDatabase(t)
	t.Setenv("DATABASE_URL", dsn)
	t.Setenv("NATS_PORT", "0")
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var dev syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"dev", "-data", data, "-gallery-addr", "127.0.0.1:0", "-edge-addr", "127.0.0.1:0"}, &dev)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dev stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("dev did not stop within 30 s")
		}
	})
	eventually(t, time.Minute, "dev's banner", func() bool { return strings.Contains(dev.String(), "The catalog is empty") })
	gallery := regexp.MustCompile(`gallery API +(\S+)/api/gallery`).FindStringSubmatch(dev.String())
	edge := regexp.MustCompile(`streaming +(\S+)/api/stream`).FindStringSubmatch(dev.String())
	if gallery == nil || edge == nil {
		t.Fatalf("dev's banner names no gallery or edge:\n%s", dev.String())
	}

	// seed finds the database where dev recorded it.
	t.Setenv("DATABASE_URL", "")
	var out syncBuffer
	start := time.Now()
	if err := run(context.Background(), []string{"seed", "-data", data, "-gallery", gallery[1], "-videos", strconv.Itoa(n), "-users", strconv.Itoa(users)}, &out); err != nil {
		t.Fatalf("seed: %v\n%s", err, out.String())
	}
	t.Logf("seed in %v:\n%s", time.Since(start).Round(time.Millisecond), out.String())
	for _, want := range []string{"from " + filepath.Join(data, "keys", "transcoder.env"), fmt.Sprintf("\n%d videos in ", n),
		"published every event", "They do not play", "search=" + seedWords[0]} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("seed's output lacks %q", want)
		}
	}

	// What the generator made, to compare with.
	g := newSynthetic(n, users, time.Now())
	perWord := map[string]int{}
	for i := range n {
		v := g.video(i)
		seen := map[string]bool{}
		for _, w := range strings.Fields(strings.ToLower(v.Title + " " + strings.TrimSuffix(*v.Description, "."))) {
			if !seen[w] {
				seen[w] = true
				perWord[w]++
			}
		}
	}

	type listing struct {
		Videos     []videoforge.Video
		Pagination struct{ Total int }
	}
	list := func(query string) listing {
		t.Helper()
		var l listing
		if code, body := call(t, "GET", gallery[1]+"/api/gallery/videos?"+query, "", ""); code != 200 || json.Unmarshal([]byte(body), &l) != nil {
			t.Fatalf("GET /videos?%s: %d %s", query, code, body)
		}
		return l
	}
	all := list("limit=100")
	if all.Pagination.Total != n || len(all.Videos) != 100 {
		t.Fatalf("%d listed of %d, want 100 of %d", len(all.Videos), all.Pagination.Total, n)
	}
	for _, v := range all.Videos {
		if v.Status != videoforge.StatusReady || v.Visibility != videoforge.Public || v.Description == nil || v.Duration == nil || !strings.HasPrefix(v.UserID, "user") {
			t.Errorf("video %d: %+v", v.ID, v)
		}
	}
	for u := 1; u <= users; u++ {
		want := n / users
		if u <= n%users {
			want++
		}
		if got := list("limit=1&userId=user" + strconv.Itoa(u)).Pagination.Total; got != want {
			t.Errorf("user%d: %d videos listed, want %d", u, got, want)
		}
	}

	// Search: the most common word, and a rare one whose stem no other word of the
	// list shares, which is found in exactly the videos that have it.
	common := list("limit=10&search=" + seedWords[0])
	if perWord[seedWords[0]] < n/4 || len(common.Videos) != 10 || common.Pagination.Total < 10 {
		t.Errorf("search %q (in %d videos): %d of %d", seedWords[0], perWord[seedWords[0]], len(common.Videos), common.Pagination.Total)
	}
	rare := ""
	for _, w := range slices.Backward(seedWords) {
		if len(w) < 5 || perWord[w] == 0 || perWord[w] > 100 || slices.ContainsFunc(seedVocabulary, func(o string) bool { return o != w && strings.HasPrefix(o, w[:5]) }) {
			continue
		}
		rare = w
		break
	}
	if rare == "" {
		t.Fatal("no rare word to search")
	}
	found := list("limit=100&search=" + rare)
	if found.Pagination.Total != perWord[rare] || len(found.Videos) != perWord[rare] {
		t.Errorf("search %q: %d of %d, want the %d videos that have it", rare, len(found.Videos), found.Pagination.Total, perWord[rare])
	}
	for _, v := range found.Videos {
		if !strings.Contains(strings.ToLower(v.Title+" "+*v.Description), rare) {
			t.Errorf("search %q found video %d: %q %q", rare, v.ID, v.Title, *v.Description)
		}
	}

	// The database: counters against rows, and every event published.
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var wrong, events, published int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM (
		SELECT user_id, visibility, status, count(*) AS n FROM videoforge.videos GROUP BY 1, 2, 3
		UNION ALL SELECT '', visibility, status, count(*) FROM videoforge.videos GROUP BY 2, 3) want
		FULL JOIN (SELECT user_id, visibility, status, sum(n) AS n FROM videoforge.video_counts GROUP BY 1, 2, 3 HAVING sum(n) <> 0) have
		USING (user_id, visibility, status) WHERE want.n IS DISTINCT FROM have.n`).Scan(&wrong); err != nil || wrong != 0 {
		t.Errorf("video_counts: %d counters disagree with the rows (%v)", wrong, err)
	}
	if err := conn.QueryRow(context.Background(), `SELECT count(*), count(published_at) FROM videoforge.outbox
		WHERE subject LIKE 'videoforge.catalog.video.%.created'`).Scan(&events, &published); err != nil || events != n || published != n {
		t.Errorf("outbox: %d created events, %d published (%v), want %d and %d", events, published, err, n, n)
	}
	metric := func(base, name string) float64 {
		t.Helper()
		res, body := get(t, base+"/metrics", "")
		m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
		if res.StatusCode != 200 || m == nil {
			t.Fatalf("%s/metrics: %d, no %s", base, res.StatusCode, name)
		}
		f, _ := strconv.ParseFloat(string(m[1]), 64)
		return f
	}
	if p := metric(gallery[1], "videoforge_relay_published_total"); p < n {
		t.Errorf("the relay published %v events, want at least %d", p, n)
	}

	// The edge holds every video before anybody looked one up, then answers one.
	heldBy := time.Now()
	eventually(t, 2*time.Minute, "the edge holding every seeded video", func() bool {
		return metric(edge[1], "videoforge_edge_cache_videos") >= n
	})
	t.Logf("the edge held them %v after seed returned (confirms %v, dropped %v, misses %v)", time.Since(heldBy).Round(time.Millisecond),
		metric(edge[1], "videoforge_edge_event_confirms_total"), metric(edge[1], "videoforge_edge_event_confirms_dropped_total"),
		metric(edge[1], "videoforge_edge_cache_misses_total"))
	if m := metric(edge[1], "videoforge_edge_cache_misses_total"); m != 0 {
		t.Errorf("%v misses before any look-up", m)
	}
	id := all.Videos[len(all.Videos)/2].ID
	var s struct{ VideoID, URL, Format string }
	res, body := get(t, edge[1]+"/api/stream/"+strconv.FormatInt(id, 10), "")
	if res.StatusCode != 200 || json.Unmarshal(body, &s) != nil || s.VideoID != strconv.FormatInt(id, 10) || s.Format != "hls" ||
		!strings.HasSuffix(s.URL, fmt.Sprintf("/videos/%d/hls/master.m3u8", id)) {
		t.Fatalf("stream URL of seeded video %d: %d %s", id, res.StatusCode, body)
	}
	if m := metric(edge[1], "videoforge_edge_cache_hits_total"); m < 1 {
		t.Errorf("the stream URL was not answered from the cache (%v hits)", m)
	}
	var q struct{ Qualities []any }
	if res, body := get(t, edge[1]+"/api/stream/"+strconv.FormatInt(id, 10)+"/qualities", ""); res.StatusCode != 200 || json.Unmarshal(body, &q) != nil || len(q.Qualities) != 0 {
		t.Errorf("qualities of seeded video %d: %d %s, want none", id, res.StatusCode, body)
	}
	if res, _ := get(t, s.URL, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("master playlist of synthetic video %d: %d, want 404 (no media)", id, res.StatusCode)
	}
}

// TestSyntheticVideos: the generator is deterministic; every video is public and
// ready, owned in turn by user1..userN, created in order over the last two years; its
// words follow the vocabulary's order (the first in most videos, the names of the
// tail mostly in a few or none), and views spread over orders of magnitude.
func TestSyntheticVideos(t *testing.T) {
	if dup := len(seedVocabulary) - len(slices.Compact(slices.Sorted(slices.Values(seedVocabulary)))); dup != 0 || len(seedWords) < 500 {
		t.Errorf("%d words, %d repeated", len(seedVocabulary), dup)
	}
	const n = 10_000
	now := time.Now()
	a, b := newSynthetic(n, 4, now), newSynthetic(n, 4, now)
	count := map[string]int{}
	var prev time.Time
	maxViews, minViews := int64(0), int64(math.MaxInt64)
	for i := range n {
		v, w := a.video(i), b.video(i)
		if v.Title != w.Title || *v.Description != *w.Description || v.Views != w.Views {
			t.Fatalf("video %d differs between runs: %q and %q", i, v.Title, w.Title)
		}
		if v.UserID != fmt.Sprintf("user%d", i%4+1) || v.Visibility != videoforge.Public || v.Status != videoforge.StatusReady ||
			v.CreatedAt.After(now) || v.CreatedAt.Before(now.Add(-syntheticSpan-time.Hour)) || v.CreatedAt.Before(prev.Add(-time.Hour)) ||
			*v.Duration < 15 || *v.FileSize <= 0 || v.S3Key != "" || v.ThumbnailURL != nil {
			t.Fatalf("video %d: %+v", i, v)
		}
		prev = v.CreatedAt
		maxViews, minViews = max(maxViews, v.Views), min(minViews, v.Views)
		words := strings.Fields(strings.ToLower(v.Title + " " + strings.TrimSuffix(*v.Description, ".")))
		if len(words) < 11 || len(words) > 26 {
			t.Errorf("video %d has %d words", i, len(words))
		}
		for _, w := range words {
			count[w]++
		}
	}
	if c := count[seedWords[0]]; c < n/2 {
		t.Errorf("the first word %q is drawn %d times in %d videos", seedWords[0], c, n)
	}
	names := seedVocabulary[len(seedWords):]
	rare, drawn := 0, 0
	for _, w := range names {
		if count[w] < 5 {
			rare++
		}
		if count[w] > 0 {
			drawn++
		}
	}
	if rare < len(names)*85/100 || drawn < len(names)/2 || count[seedWords[len(seedWords)-1]] == 0 {
		t.Errorf("of %d names, %d drawn fewer than 5 times and %d drawn at all; the last word drawn %d times", len(names), rare, drawn, count[seedWords[len(seedWords)-1]])
	}
	if minViews > 10 || maxViews < 10_000 {
		t.Errorf("views from %d to %d", minViews, maxViews)
	}
}
