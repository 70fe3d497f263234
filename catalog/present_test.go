package catalog_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/playback"
)

// TestThumbnailURL: the gallery shows the transcoder's thumbnail key as a URL under the
// playback base, plain for a public video and signed for the others.
func TestThumbnailURL(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	e := newEnvWith(t, catalog.Config{Playback: &catalog.Playback{BaseURL: "https://cdn.example/", TokenKey: key}})
	thumb := func(v *videoforge.Video) {
		t.Helper()
		k := fmt.Sprintf("videos/%d/thumbnail.jpg", v.ID)
		if _, err := e.db.Pool().Exec(t.Context(), `UPDATE videos SET thumbnail_url = $2 WHERE id = $1`, v.ID, k); err != nil {
			t.Fatal(err)
		}
	}
	pub := e.video("alice", "pub", public, ready)
	unl := e.video("alice", "unl", unlisted, ready)
	other := e.video("alice", "elsewhere", public, ready)
	thumb(pub)
	thumb(unl)
	if _, err := e.db.Pool().Exec(t.Context(), `UPDATE videos SET thumbnail_url = 'https://img.example/x.jpg' WHERE id = $1`, other.ID); err != nil {
		t.Fatal(err)
	}
	get := func(id int64, query ...string) string {
		t.Helper()
		var v videoforge.Video
		e.do("GET", fmt.Sprint("/videos/", id)+strings.Join(query, ""), "", nil).decode(t, &v)
		if v.ThumbnailURL == nil {
			t.Fatalf("video %d has no thumbnail", id)
		}
		return *v.ThumbnailURL
	}
	if got, want := get(pub.ID), fmt.Sprintf("https://cdn.example/videos/%d/thumbnail.jpg", pub.ID); got != want {
		t.Errorf("public: %s, want %s", got, want)
	}
	u, err := url.Parse(get(unl.ID, "?key=", unl.ShareKey))
	if err != nil || u.Host != "cdn.example" {
		t.Fatalf("unlisted: %v %v", u, err)
	}
	if p, err := playback.Check(key, u.Path, time.Now()); err != nil || p.Path != fmt.Sprintf("/videos/%d/thumbnail.jpg", unl.ID) {
		t.Errorf("unlisted URL %s: %+v %v", u, p, err)
	}
	if got := get(other.ID); got != "https://img.example/x.jpg" {
		t.Errorf("a URL from elsewhere was rewritten: %s", got)
	}
	l := e.list("/videos?sort=title", "")
	if got := l.Videos[len(l.Videos)-1]["thumbnailUrl"]; got != fmt.Sprintf("https://cdn.example/videos/%d/thumbnail.jpg", pub.ID) {
		t.Errorf("listing shows %v", got)
	}
}

// TestThumbnailURLSignPublic: with SignPublic a public video's thumbnail is signed too.
func TestThumbnailURLSignPublic(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	e := newEnvWith(t, catalog.Config{Playback: &catalog.Playback{BaseURL: "https://cdn.example", TokenKey: key, SignPublic: true}})
	pub := e.video("alice", "pub", public, ready)
	if _, err := e.db.Pool().Exec(t.Context(), `UPDATE videos SET thumbnail_url = $2 WHERE id = $1`,
		pub.ID, fmt.Sprintf("videos/%d/thumbnail.jpg", pub.ID)); err != nil {
		t.Fatal(err)
	}
	var v videoforge.Video
	e.do("GET", fmt.Sprint("/videos/", pub.ID), "", nil).decode(t, &v)
	u, err := url.Parse(*v.ThumbnailURL)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := playback.Check(key, u.Path, time.Now()); err != nil || p.Path != fmt.Sprintf("/videos/%d/thumbnail.jpg", pub.ID) {
		t.Errorf("public thumbnail %s: %+v %v", u, p, err)
	}
}
