package catalog_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/schema"
)

const (
	public   = videoforge.Public
	unlisted = videoforge.Unlisted
	private  = videoforge.Private
	ready    = videoforge.StatusReady
)

func TestHealth(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/api/gallery/health", "/health"} {
		r := e.do("GET", p, "", nil)
		if r.status != 200 || string(r.body) != `{"status":"ok","service":"gallery-service","runtime":"go"}`+"\n" {
			t.Errorf("GET %s: %d %s", p, r.status, r.body)
		}
	}
	if r := e.do("GET", "/ready", "", nil); r.status != 200 {
		t.Errorf("ready: %d %s", r.status, r.body)
	}
}

func TestListVisibility(t *testing.T) {
	e := newEnv(t)
	e.video("alice", "alice public", public, ready)
	e.video("alice", "alice unlisted", unlisted, ready)
	e.video("alice", "alice private", private, ready)
	e.video("alice", "alice processing", public, videoforge.StatusProcessing)
	e.video("bob", "bob public", public, ready)
	e.video("bob", "bob private", private, ready)

	t.Run("Anonymous", func(t *testing.T) {
		for _, p := range []string{"/api/gallery/videos", "/videos"} {
			l := e.list(p+"?sort=title", "")
			if got, want := titles(l), []string{"alice public", "bob public"}; !slices.Equal(got, want) {
				t.Errorf("%s: %v, want %v", p, got, want)
			}
			if l.Pagination.Total != 2 || l.Pagination.Page != 1 || l.Pagination.Limit != 10 || l.Pagination.TotalPages != 1 {
				t.Errorf("pagination %+v", l.Pagination)
			}
		}
	})
	t.Run("Owner", func(t *testing.T) {
		l := e.list("/videos?sort=title", e.token("alice"))
		want := []string{"alice private", "alice processing", "alice public", "alice unlisted", "bob public"}
		if got := titles(l); !slices.Equal(got, want) || l.Pagination.Total != 5 {
			t.Errorf("got %v total %d, want %v", got, l.Pagination.Total, want)
		}
	})
	t.Run("OwnerFilteredToSelf", func(t *testing.T) {
		l := e.list("/videos?userId=alice&sort=title", e.token("alice"))
		if got := titles(l); len(got) != 4 || l.Pagination.Total != 4 {
			t.Errorf("got %v", got)
		}
	})
	t.Run("OtherUserFilter", func(t *testing.T) {
		l := e.list("/videos?userId=alice", e.token("bob"))
		if got := titles(l); !slices.Equal(got, []string{"alice public"}) {
			t.Errorf("got %v", got)
		}
	})
	t.Run("StatusFilter", func(t *testing.T) {
		if l := e.list("/videos?status=processing", ""); len(l.Videos) != 0 || l.Pagination.Total != 0 {
			t.Errorf("anonymous sees processing videos: %v", titles(l))
		}
		l := e.list("/videos?status=processing", e.token("alice"))
		if got := titles(l); !slices.Equal(got, []string{"alice processing"}) {
			t.Errorf("got %v", got)
		}
	})
}

func TestListPaginationAndSort(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 25; i++ {
		v := e.video("u", fmt.Sprintf("video %02d", i), public, ready)
		// Distinct creation times and view counts in a known order.
		_, err := e.db.Pool().Exec(context.Background(), `UPDATE videos SET created_at = now() - make_interval(secs => $2), views = $3 WHERE id = $1`,
			v.ID, 100-i, (i*7)%25)
		if err != nil {
			t.Fatal(err)
		}
	}
	l := e.list("/videos?page=3&limit=10", "")
	if len(l.Videos) != 5 || l.Pagination != (struct{ Total, Page, Limit, TotalPages int }{25, 3, 10, 3}) {
		t.Errorf("page 3: %d videos, %+v", len(l.Videos), l.Pagination)
	}
	if got := titles(l)[0]; got != "video 04" {
		t.Errorf("newest-first page 3 starts with %s", got)
	}
	l = e.list("/videos?page=99&limit=10", "")
	if len(l.Videos) != 0 || l.Pagination.Total != 25 || l.Pagination.Page != 99 {
		t.Errorf("past the end: %+v %v", l.Pagination, titles(l))
	}
	if got := titles(e.list("/videos?limit=3&sort=createdAt", "")); !slices.Equal(got, []string{"video 00", "video 01", "video 02"}) {
		t.Errorf("createdAt: %v", got)
	}
	if got := titles(e.list("/videos?limit=3&sort=-createdAt", "")); !slices.Equal(got, []string{"video 24", "video 23", "video 22"}) {
		t.Errorf("-createdAt: %v", got)
	}
	if got := titles(e.list("/videos?limit=2&sort=title", "")); !slices.Equal(got, []string{"video 00", "video 01"}) {
		t.Errorf("title: %v", got)
	}
	l = e.list("/videos?limit=25&sort=views", "")
	for i := 1; i < len(l.Videos); i++ {
		if l.Videos[i-1]["views"].(float64) < l.Videos[i]["views"].(float64) {
			t.Fatalf("views not descending: %v", l.Videos)
		}
	}
	if l := e.list("/videos?limit=100", ""); len(l.Videos) != 25 {
		t.Errorf("limit=100: %d", len(l.Videos))
	}

	for _, q := range []string{"limit=0", "limit=101", "limit=abc", "limit=-1", "limit=1.5", "page=0", "page=abc", "page=-3",
		"page=99999999999999999999", "sort=random", "sort=views%3BDROP", "status=deleted", "search=" + strings.Repeat("a", 501), "search=%FF"} {
		r := e.do("GET", "/videos?"+q, "", nil)
		if r.status != 400 || r.errCode(t) != videoforge.EINVALID {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
}

func TestSearch(t *testing.T) {
	e := newEnv(t)
	e.video("u", "Surfing big waves", public, ready, "A day at the beach")
	e.video("u", "Cooking pasta", public, ready, "Waves of flavour: surfing the kitchen")
	e.video("u", "Mountain biking", public, ready, "big mountain descent")
	e.video("u", "Café au lait 日本語", public, ready, "unicode ☕")
	e.video("u", "Private surfing", private, ready)

	cases := []struct {
		q    string
		want []string
	}{
		{"surfing", []string{"Surfing big waves", "Cooking pasta"}}, // title match ranks first
		{"surf", []string{"Surfing big waves", "Cooking pasta"}},    // stemmed
		{`"big waves"`, []string{"Surfing big waves"}},
		{`"waves big"`, []string{}},
		{"big -mountain", []string{"Surfing big waves"}},
		{"café", []string{"Café au lait 日本語"}},
		{"日本語", []string{"Café au lait 日本語"}},
		{"nothing-matches-this", []string{}},
	}
	for _, c := range cases {
		got := titles(e.list("/videos?search="+url.QueryEscape(c.q), ""))
		if !slices.Equal(got, c.want) {
			t.Errorf("search %q: %v, want %v", c.q, got, c.want)
		}
	}
	// Hostile input is searched for, never interpreted, and never fails.
	for _, q := range []string{`'`, `"`, `""`, `"unbalanced`, `%`, `_`, `%_%`, `\`, `\\'`, `'; DROP TABLE videos; --`,
		`a & b | !c`, `:*`, `(((`, `<->`, `-`, `--`, `or`, `🎬`, "\t\n", `$1`, `\x00`, `surfing OR cooking`} {
		r := e.do("GET", "/videos?search="+url.QueryEscape(q), "", nil)
		if r.status != 200 {
			t.Errorf("search %q: %d %s", q, r.status, r.body)
		}
	}
	if n := e.list("/videos", "").Pagination.Total; n != 4 {
		t.Errorf("after hostile searches there are %d listed videos, want 4", n)
	}
	if got := titles(e.list("/videos?search=surfing", e.token("u"))); len(got) != 3 {
		t.Errorf("owner search sees %v", got)
	}
}

func TestGetVideo(t *testing.T) {
	e := newEnv(t)
	pub := e.video("alice", "pub", public, ready)
	unl := e.video("alice", "unl", unlisted, ready)
	priv := e.video("alice", "priv", private, ready)

	r := e.do("GET", fmt.Sprintf("/api/gallery/videos/%d", pub.ID), "", nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var got map[string]any
	r.decode(t, &got)
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"audioCodec", "createdAt", "description", "duration", "fileSize", "id", "jobId", "ladderComplete",
		"resolution", "status", "thumbnailUrl", "title", "updatedAt", "userId", "videoCodec", "views", "visibility"}
	if !slices.Equal(keys, want) {
		t.Errorf("video fields %v, want %v", keys, want)
	}
	if _, err := time.Parse(time.RFC3339, got["createdAt"].(string)); err != nil {
		t.Errorf("createdAt: %v", err)
	}
	if got["id"].(float64) != float64(pub.ID) || got["userId"] != "alice" || got["description"] != nil {
		t.Errorf("video %v", got)
	}

	cases := []struct {
		name, path, token string
		status            int
	}{
		// An unlisted video is read by its share key; its id alone finds nothing.
		{"UnlistedAnonymous", fmt.Sprint("/videos/", unl.ID), "", 404},
		{"UnlistedOther", fmt.Sprint("/videos/", unl.ID), e.token("bob"), 404},
		{"UnlistedWrongKey", fmt.Sprint("/videos/", unl.ID, "?key=", strings.Repeat("A", len(unl.ShareKey))), "", 404},
		{"UnlistedOtherVideosKey", fmt.Sprint("/videos/", unl.ID, "?key=", pub.ShareKey), "", 404},
		{"UnlistedKey", fmt.Sprint("/videos/", unl.ID, "?key=", unl.ShareKey), "", 200},
		{"UnlistedOwner", fmt.Sprint("/videos/", unl.ID), e.token("alice"), 200},
		{"PrivateAnonymous", fmt.Sprint("/videos/", priv.ID), "", 404},
		{"PrivateOther", fmt.Sprint("/videos/", priv.ID), e.token("bob"), 404},
		{"PrivateOwner", fmt.Sprint("/videos/", priv.ID), e.token("alice"), 200},
		{"Unknown", "/videos/999999", "", 404},
		{"Zero", "/videos/0", "", 404},
		{"Huge", "/videos/99999999999999999999999", "", 404},
		{"NonNumeric", "/videos/abc", "", 400},
		{"Negative", "/videos/-1", "", 400},
		{"Injection", "/videos/1%20OR%201=1", "", 400},
		{"BadToken", fmt.Sprint("/videos/", pub.ID), "garbage", 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("GET", c.path, c.token, nil)
			if r.status != c.status {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if c.status != 200 {
				r.errCode(t)
				return
			}
			// The share key is its owner's to hand out: shown to them only.
			var v videoforge.Video
			r.decode(t, &v)
			if owner := c.name == "UnlistedOwner"; (v.ShareKey != "") != owner {
				t.Errorf("share key %q shown (owner asking: %v)", v.ShareKey, owner)
			}
		})
	}
}

// TestGetVideoPlayableEarly: a video whose first renditions are published is ready,
// its ladder not complete, in the gallery's answers, and complete once its job is.
func TestGetVideoPlayableEarly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	js := postgres.NewJobService(e.db)
	j := &videoforge.Job{UserID: "alice", Status: videoforge.JobQueued, SourceKey: "uploads/1/source"}
	if err := js.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	v := &videoforge.Video{UserID: "alice", JobID: &j.ID, Title: "early", Visibility: public,
		Status: videoforge.StatusUploaded, S3Key: "uploads/1/source"}
	if err := e.videos.CreateVideo(ctx, v); err != nil {
		t.Fatal(err)
	}
	a, err := js.StartJob(ctx, j.ID, v.ID, time.Minute)
	if err != nil || a == nil {
		t.Fatalf("StartJob: %v %v", a, err)
	}
	f := a.Folder()
	res := videoforge.JobResult{Duration: 3.5, Resolution: "1920x1080", VideoCodec: "h264", FileSize: 12345,
		S3Key: strings.TrimSuffix(f, "/"), Renditions: []videoforge.Rendition{
			{Name: "720p", Width: 1280, Height: 720, Bandwidth: 3000000, Playlist: f + "hls/720p/index.m3u8"},
			{Name: "360p", Width: 640, Height: 360, Bandwidth: 900000, Playlist: f + "hls/360p/index.m3u8"}}}
	first := res
	first.Renditions = res.Renditions[:1]
	if _, err := js.PublishRenditions(ctx, a, first); err != nil {
		t.Fatal(err)
	}
	get := func() map[string]any {
		t.Helper()
		r := e.do("GET", fmt.Sprintf("/api/gallery/videos/%d", v.ID), "", nil)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		var got map[string]any
		r.decode(t, &got)
		return got
	}
	if got := get(); got["status"] != "ready" || got["ladderComplete"] != false {
		t.Errorf("a video playing its first rendition: %v", got)
	}
	// Anonymous listings show it: it plays.
	var l struct{ Videos []map[string]any }
	if r := e.do("GET", "/api/gallery/videos", "", nil); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	} else {
		r.decode(t, &l)
	}
	if len(l.Videos) != 1 || l.Videos[0]["ladderComplete"] != false {
		t.Errorf("listing %v", l.Videos)
	}
	if _, err := js.CompleteJob(ctx, a, res); err != nil {
		t.Fatal(err)
	}
	if got := get(); got["status"] != "ready" || got["ladderComplete"] != true {
		t.Errorf("a video whose job completed: %v", got)
	}
}

func TestUpdateVideo(t *testing.T) {
	e := newEnv(t)
	v := e.video("alice", "before", public, ready)
	priv := e.video("alice", "secret", private, ready)
	path := fmt.Sprint("/api/gallery/videos/", v.ID)
	alice := e.token("alice")

	r := e.do("PUT", path, alice, map[string]any{"title": "  after  ", "description": "new words", "visibility": "unlisted"})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var got videoforge.Video
	r.decode(t, &got)
	if got.Title != "after" || *got.Description != "new words" || got.Visibility != unlisted || !got.UpdatedAt.After(v.UpdatedAt) {
		t.Errorf("updated video %+v", got)
	}
	// Fields not given stay as they are.
	r = e.do("PUT", path, alice, `{"visibility":"public"}`)
	r.decode(t, &got)
	if got.Title != "after" || *got.Description != "new words" || got.Visibility != public {
		t.Errorf("partial update %+v", got)
	}

	bad := []struct {
		name, body string
		status     int
	}{
		{"UnknownField", `{"title":"x","userId":"bob"}`, 400},
		{"WrongType", `{"title":42}`, 400},
		{"WrongTypeVisibility", `{"visibility":true}`, 400},
		{"EmptyTitle", `{"title":"   "}`, 400},
		{"LongTitle", `{"title":"` + strings.Repeat("é", 256) + `"}`, 400},
		{"NulInTitle", `{"title":"a\u0000b"}`, 400},
		{"BadVisibility", `{"visibility":"friends"}`, 400},
		{"Nothing", `{}`, 400},
		{"Empty", ``, 400},
		{"NotJSON", `title=x`, 400},
		{"Array", `[{"title":"x"}]`, 400},
		{"Trailing", `{"title":"x"} {"title":"y"}`, 400},
		{"TrailingGarbage", `{"title":"x"}xyz`, 400},
		{"TooLarge", `{"description":"` + strings.Repeat("a", 1<<20) + `"}`, 413},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("PUT", path, alice, c.body)
			if r.status != c.status {
				t.Fatalf("%d %s", r.status, r.body)
			}
			r.errCode(t)
		})
	}
	if r := e.do("GET", path, "", nil); !strings.Contains(string(r.body), `"title":"after"`) {
		t.Errorf("a refused update changed the video: %s", r.body)
	}

	other, _ := writeKey(t)
	tokens := []struct{ name, token string }{
		{"None", ""},
		{"Garbage", "not.a.token"},
		{"Expired", e.forge(nil, func(b *jwt.Builder) {
			b.Expiration(time.Now().Add(-time.Hour)).IssuedAt(time.Now().Add(-2 * time.Hour)).NotBefore(time.Now().Add(-2 * time.Hour))
		})},
		{"NotYetValid", e.forge(nil, func(b *jwt.Builder) { b.NotBefore(time.Now().Add(time.Hour)) })},
		{"WrongIssuer", e.forge(nil, func(b *jwt.Builder) { b.Issuer("https://evil.example") })},
		{"WrongClient", e.forge(nil, func(b *jwt.Builder) { b.Claim("client_id", "someone-else") })},
		{"WrongAudience", e.forge(nil, func(b *jwt.Builder) { b.Claim("token_use", "id").Audience([]string{"someone-else"}) })},
		{"WrongKey", e.forge(other, nil)},
		{"AlgNone", algNone(t)},
	}
	for _, c := range tokens {
		t.Run("Token"+c.name, func(t *testing.T) {
			r := e.do("PUT", path, c.token, `{"title":"hacked"}`)
			if r.status != 401 || r.errCode(t) != videoforge.EUNAUTHORIZED {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	// A token forged right is accepted: the forgeries above fail for their one defect.
	if r := e.do("PUT", path, e.forge(nil, nil), `{"title":"forged right"}`); r.status != 200 {
		t.Errorf("well-formed token refused: %d %s", r.status, r.body)
	}

	t.Run("OtherUser", func(t *testing.T) {
		r := e.do("PUT", path, e.token("bob"), `{"title":"mine now"}`)
		if r.status != 403 || r.errCode(t) != videoforge.EFORBIDDEN {
			t.Fatalf("%d %s", r.status, r.body)
		}
		r = e.do("PUT", fmt.Sprint("/videos/", priv.ID), e.token("bob"), `{"title":"mine now"}`)
		if r.status != 404 {
			t.Fatalf("other's private video: %d %s", r.status, r.body)
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		if r := e.do("PUT", "/videos/424242", alice, `{"title":"x"}`); r.status != 404 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if r := e.do("PUT", "/videos/x", alice, `{"title":"x"}`); r.status != 400 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

// algNone builds an unsigned token claiming to be alice.
func algNone(t *testing.T) string {
	t.Helper()
	enc := func(s string) string { return strings.TrimRight(b64(s), "=") }
	return enc(`{"alg":"none","typ":"JWT"}`) + "." +
		enc(fmt.Sprintf(`{"iss":%q,"sub":"alice","token_use":"access","client_id":%q,"exp":%d}`,
			auth.DevIssuer, auth.DevClientID, time.Now().Add(time.Hour).Unix())) + "."
}

func TestDeleteVideo(t *testing.T) {
	e := newEnv(t)
	v := e.video("alice", "doomed", public, ready)
	path := fmt.Sprint("/api/gallery/videos/", v.ID)
	if r := e.do("DELETE", path, "", nil); r.status != 401 {
		t.Errorf("no token: %d", r.status)
	}
	if r := e.do("DELETE", path, e.token("bob"), nil); r.status != 403 {
		t.Errorf("other user: %d", r.status)
	}
	if r := e.do("DELETE", path, e.token("alice"), nil); r.status != 204 || len(r.body) != 0 {
		t.Errorf("owner: %d %s", r.status, r.body)
	}
	if r := e.do("GET", path, "", nil); r.status != 404 {
		t.Errorf("after delete: %d", r.status)
	}
	if r := e.do("DELETE", path, e.token("alice"), nil); r.status != 404 {
		t.Errorf("second delete: %d", r.status)
	}
}

func TestRoutingErrors(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/api/gallery/videos/1", "", nil)
	if r.status != 405 || r.errCode(t) != videoforge.EINVALID || !strings.Contains(r.header.Get("Allow"), "PUT") {
		t.Errorf("405: %d %v %s", r.status, r.header, r.body)
	}
	for _, p := range []string{"/api/gallery/nope", "/nope", "/api/gallery/videos/1/extra"} {
		if r := e.do("GET", p, "", nil); r.status != 404 || r.errCode(t) != videoforge.ENOTFOUND {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
	}
}

func TestCORS(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest("OPTIONS", e.url+"/api/gallery/videos/1", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "PUT")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", res.StatusCode, res.Header)
	}
	// A resumable upload from a page: tus's PATCH, its headers asked and read.
	req, _ = http.NewRequest("OPTIONS", e.url+"/api/gallery/tus/7/source", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "PATCH")
	req.Header.Set("Access-Control-Request-Headers", "authorization,tus-resumable,upload-offset,content-type")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, want := range []string{"Tus-Resumable", "Upload-Offset", "Upload-Length", "Upload-Metadata", "Authorization"} {
		if !strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), want) {
			t.Errorf("tus preflight does not allow %s: %v", want, res.Header)
		}
	}
	if m := res.Header.Get("Access-Control-Allow-Methods"); res.StatusCode != 204 || !strings.Contains(m, "PATCH") || !strings.Contains(m, "HEAD") {
		t.Errorf("tus preflight: %d, methods %q", res.StatusCode, m)
	}
	if x := res.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(x, "Upload-Offset") || !strings.Contains(x, "Location") {
		t.Errorf("tus headers not readable by the page: %q", x)
	}
	req, _ = http.NewRequest("GET", e.url+"/videos", nil)
	req.Header.Set("Origin", "https://evil.example")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("disallowed origin got CORS header %q", res.Header.Get("Access-Control-Allow-Origin"))
	}
}

// TestDatabaseDown: with no database behind it the gallery answers 503 with
// Retry-After, never a 500.
func TestDatabaseDown(t *testing.T) {
	ln := httptest.NewServer(http.NotFoundHandler())
	dead := ln.Listener.Addr().String()
	ln.Close() // nothing listens there any more
	db, err := postgres.Open(context.Background(), postgres.Config{
		URL: "postgres://postgres@" + dead + "/x?sslmode=disable&connect_timeout=2", Schema: schema.DefaultSchema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv := catalog.NewServer(catalog.Config{}, postgres.NewVideoService(db), nil, db.Ping, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts := httptest.NewServer(srv)
	defer ts.Close()
	for _, p := range []string{"/videos", "/videos/1", "/ready"} {
		res, err := http.Get(ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
			t.Errorf("%s: %d %v", p, res.StatusCode, res.Header)
		}
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.do("GET", "/videos", "", nil)
	e.do("GET", "/videos/abc", "", nil)
	r := e.do("GET", "/metrics", "", nil)
	for _, want := range []string{
		`videoforge_gallery_requests_total{code="200",method="GET",route="GET /videos"} 1`,
		`videoforge_gallery_requests_total{code="400",method="GET",route="GET /videos/{id}"} 1`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestRoutesAreServed(t *testing.T) {
	// Every documented route answers something other than the catch-all 404.
	e := newEnv(t)
	for _, rt := range catalog.Routes {
		path := strings.ReplaceAll(rt.Path, "{id}", "1")
		r := e.do(rt.Method, catalog.Prefix+path, "", nil)
		if r.status == 404 && strings.Contains(string(r.body), "no route") {
			t.Errorf("%s %s is not routed", rt.Method, rt.Path)
		}
	}
}
