package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// TestSeedRefuses: seed without -playable says that only -playable is built, and bad
// counts are refused before anything is made.
func TestSeedRefuses(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"seed", "-videos", "5"}, "only -playable is built"},
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
	if err := run(context.Background(), []string{"seed"}, &bytes.Buffer{}); !errors.Is(err, errOnlyPlayable) {
		t.Errorf("seed without flags: %v", err)
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
	for _, want := range []string{"-videos int", "(default 8)", "-playable\n", "the only kind built so far"} {
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
