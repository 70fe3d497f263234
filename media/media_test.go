package media_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/media"
	"github.com/videoforge/videoforge/playback"
)

var key = []byte(strings.Repeat("k", 32))

type memUploader struct {
	mu   sync.Mutex
	objs map[string][]byte
}

func (m *memUploader) Put(_ context.Context, k string, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[k] = b
	return nil
}

// newServer serves a folder with video 1 (public), video 2 (private) and a file
// outside the video folders.
func newServer(t *testing.T) (*media.Server, *memUploader) {
	t.Helper()
	root := t.TempDir()
	for name, body := range map[string]string{
		"videos/1/hls/master.m3u8":      "#EXTM3U\n",
		"videos/1/hls/360p/seg_0000.ts": strings.Repeat("x", 1000),
		"videos/1/thumbnail.jpg":        "jpg",
		"videos/2/hls/master.m3u8":      "#EXTM3U\nprivate\n",
		"uploads/9/source":              "secret source",
		"videos/1/.hidden":              "no",
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A link out of the folder must not be followed.
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "videos/1/passwd")); err != nil {
		t.Fatal(err)
	}
	lookup := func(_ *fasthttp.RequestCtx, id int64) (media.Access, error) {
		switch id {
		case 1:
			return media.Access{Public: true}, nil
		case 2:
			return media.Access{}, nil
		case 3:
			return media.Access{TokenGen: 2}, nil // made private twice since its first tokens
		}
		return media.Access{}, videoforge.Errorf(videoforge.ENOTFOUND, "video not found")
	}
	up := &memUploader{objs: map[string][]byte{}}
	s, err := media.New(media.Config{Root: root, TokenKey: key, MaxUploadSize: 100}, lookup, up, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, up
}

func do(s *media.Server, method, uri string, body string, hdr ...string) *fasthttp.Response {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(uri)
	for i := 0; i+1 < len(hdr); i += 2 {
		ctx.Request.Header.Set(hdr[i], hdr[i+1])
	}
	if body != "" {
		ctx.Request.SetBodyString(body)
	}
	if !s.Handle(&ctx) {
		ctx.Response.SetStatusCode(0)
	}
	res := &fasthttp.Response{}
	ctx.Response.CopyTo(res)
	if st := ctx.Response.BodyStream(); st != nil {
		b, _ := io.ReadAll(st)
		res.SetBody(b)
		ctx.Response.CloseBodyStream()
	}
	return res
}

func TestServe(t *testing.T) {
	s, _ := newServer(t)
	signed := playback.Sign(key, 2, 0, time.Now().Add(time.Hour))
	expired := playback.Sign(key, 2, 0, time.Now().Add(-time.Minute))
	for _, tc := range []struct {
		name, uri string
		status    int
		ctype     string
		cache     string
	}{
		{"PublicPlaylist", "/videos/1/hls/master.m3u8", 200, "application/vnd.apple.mpegurl", "public, max-age=10"},
		{"PublicSegment", "/videos/1/hls/360p/seg_0000.ts", 200, "video/mp2t", "immutable"},
		{"PublicImage", "/videos/1/thumbnail.jpg", 200, "image/jpeg", "immutable"},
		{"PrivateUnsigned", "/videos/2/hls/master.m3u8", 404, "", ""}, // as for an unknown video
		{"PrivateSigned", signed + "hls/master.m3u8", 200, "application/vnd.apple.mpegurl", "private, max-age=10"},
		{"Expired", expired + "hls/master.m3u8", 403, "", ""},
		{"TokenForAnotherVideo", strings.Replace(signed, "/videos/2/", "/videos/1/", 1) + "hls/master.m3u8", 403, "", ""},
		{"UnknownVideo", "/videos/3/hls/master.m3u8", 404, "", ""},
		{"Missing", "/videos/1/hls/none.m3u8", 404, "", ""},
		{"Hidden", "/videos/1/.hidden", 404, "", ""},
		{"Folder", "/videos/1/hls", 404, "", ""},
		{"LinkOut", "/videos/1/passwd", 404, "", ""},
		{"DotDot", "/videos/1/../../uploads/9/source", 0, "", ""}, // normalised away by fasthttp: not ours
		{"EncodedDotDot", "/videos/1/%2e%2e/%2e%2e/uploads/9/source", 0, "", ""},
		{"LeadingZero", "/videos/01/hls/master.m3u8", 404, "", ""},
		{"NotMedia", "/api/stream/1", 0, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := do(s, "GET", tc.uri, "")
			got := res.StatusCode()
			if tc.status == 0 {
				// Paths that normalise out of /videos/ are either not the media
				// server's or refused; never the source's bytes.
				if strings.Contains(string(res.Body()), "secret source") {
					t.Fatalf("served the upload: %d", got)
				}
				return
			}
			if got != tc.status {
				t.Fatalf("status %d, want %d: %s", got, tc.status, res.Body())
			}
			if tc.ctype != "" && string(res.Header.ContentType()) != tc.ctype {
				t.Errorf("content type %q, want %q", res.Header.ContentType(), tc.ctype)
			}
			if cc := string(res.Header.Peek("Cache-Control")); !strings.Contains(cc, tc.cache) {
				t.Errorf("cache control %q, want %q", cc, tc.cache)
			}
			// A player on another origin reads refusals too, to tell the viewer why.
			if got := string(res.Header.Peek("Access-Control-Allow-Origin")); got != "*" {
				t.Errorf("Access-Control-Allow-Origin %q on a %d", got, tc.status)
			}
		})
	}
}

func TestRange(t *testing.T) {
	s, _ := newServer(t)
	res := do(s, "GET", "/videos/1/hls/360p/seg_0000.ts", "", "Range", "bytes=10-19")
	if res.StatusCode() != 206 || len(res.Body()) != 10 || string(res.Header.Peek("Content-Range")) != "bytes 10-19/1000" {
		t.Errorf("range: %d %q %q", res.StatusCode(), res.Body(), res.Header.Peek("Content-Range"))
	}
	if res := do(s, "GET", "/videos/1/hls/360p/seg_0000.ts", "", "Range", "bytes=5000-"); res.StatusCode() != 416 {
		t.Errorf("unsatisfiable range: %d", res.StatusCode())
	}
	if res := do(s, "HEAD", "/videos/1/hls/360p/seg_0000.ts", ""); res.StatusCode() != 200 || res.Header.ContentLength() != 1000 {
		t.Errorf("HEAD: %d %d", res.StatusCode(), res.Header.ContentLength())
	}
	res = do(s, "OPTIONS", "/videos/1/hls/360p/seg_0000.ts", "", "Origin", "https://player.example", "Access-Control-Request-Headers", "range")
	if res.StatusCode() != 204 || !strings.Contains(string(res.Header.Peek("Access-Control-Allow-Headers")), "Range") {
		t.Errorf("preflight: %d %s", res.StatusCode(), res.Header.Peek("Access-Control-Allow-Headers"))
	}
}

func TestUpload(t *testing.T) {
	s, up := newServer(t)
	p := playback.UploadPath(key, 7, time.Now().Add(time.Hour))
	if res := do(s, "PUT", p, "video bytes"); res.StatusCode() != 200 || string(up.objs["uploads/7/source"]) != "video bytes" {
		t.Errorf("PUT: %d %s", res.StatusCode(), res.Body())
	}
	for name, uri := range map[string]string{
		"NoToken":      "/uploads/7/source",
		"AnotherJob":   strings.Replace(p, "/uploads/7/", "/uploads/8/", 1),
		"Expired":      playback.UploadPath(key, 7, time.Now().Add(-time.Second)),
		"AnotherKey":   playback.UploadPath([]byte(strings.Repeat("x", 32)), 7, time.Now().Add(time.Hour)),
		"PlaybackPath": playback.Sign(key, 7, 0, time.Now().Add(time.Hour)) + "source",
	} {
		res := do(s, "PUT", uri, "x")
		if res.StatusCode() != 403 && res.StatusCode() != 405 {
			t.Errorf("%s: %d %s", name, res.StatusCode(), res.Body())
		}
	}
	if res := do(s, "PUT", p, strings.Repeat("x", 101)); res.StatusCode() != 413 {
		t.Errorf("over the limit: %d %s", res.StatusCode(), res.Body())
	}
	if res := do(s, "GET", p, ""); res.StatusCode() != 405 {
		t.Errorf("GET of an upload: %d", res.StatusCode())
	}
}
