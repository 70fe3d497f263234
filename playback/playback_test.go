package playback_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge/playback"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func TestSignCheck(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(10 * time.Minute)
	prefix := playback.Sign(key, 42, exp)
	if !strings.HasPrefix(prefix, "/t/1800000600/") || !strings.HasSuffix(prefix, "/videos/42/") {
		t.Fatalf("prefix %q", prefix)
	}
	t.Run("OK", func(t *testing.T) {
		for _, obj := range []string{"hls/master.m3u8", "hls/720p/index.m3u8", "hls/720p/seg_001.ts", "thumbnail.jpg"} {
			got, err := playback.Check(key, prefix+obj, now)
			if err != nil || got != "/videos/42/"+obj {
				t.Fatalf("Check(%q) = %q, %v", obj, got, err)
			}
		}
	})
	tests := []struct {
		name string
		path string
		at   time.Time
		key  []byte
		want error
	}{
		{"ErrExpired", prefix + "hls/master.m3u8", exp, key, playback.ErrExpired},
		{"ErrExpiredLater", prefix + "hls/master.m3u8", exp.Add(time.Hour), key, playback.ErrExpired},
		{"ErrOtherVideo", strings.Replace(prefix, "/videos/42/", "/videos/43/", 1) + "hls/master.m3u8", now, key, playback.ErrSignature},
		{"ErrOtherKey", prefix + "hls/master.m3u8", now, []byte("another key, just as long as the first"), playback.ErrSignature},
		{"ErrForgedExpiry", strings.Replace(prefix, "/1800000600/", "/1900000600/", 1) + "hls/master.m3u8", now, key, playback.ErrSignature},
		{"ErrForgedSignature", "/t/1800000600/" + strings.Repeat("A", 43) + "/videos/42/hls/master.m3u8", now, key, playback.ErrSignature},
		{"ErrTraversal", prefix + "hls/../../43/hls/master.m3u8", now, key, playback.ErrMalformed},
		{"ErrEmptySegment", prefix + "hls//master.m3u8", now, key, playback.ErrMalformed},
		{"ErrNoObject", prefix, now, key, playback.ErrMalformed},
		{"ErrNoToken", "/videos/42/hls/master.m3u8", now, key, playback.ErrMalformed},
		{"ErrLeadingZero", strings.Replace(prefix, "/videos/42/", "/videos/042/", 1) + "x", now, key, playback.ErrMalformed},
		{"ErrShortSignature", "/t/1800000600/abc/videos/42/x", now, key, playback.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := playback.Check(tt.key, tt.path, tt.at)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check(%q) = %v, want %v", tt.path, err, tt.want)
			}
		})
	}
}

func TestPublicPath(t *testing.T) {
	if got := playback.PublicPath(7); got != "/videos/7/hls/master.m3u8" {
		t.Fatal(got)
	}
}

func TestValidateKey(t *testing.T) {
	if playback.ValidateKey([]byte("short")) == nil || playback.ValidateKey(key) != nil {
		t.Fatal("ValidateKey does not bound the length")
	}
}

func FuzzCheck(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add(playback.Sign(key, 42, now.Add(time.Minute)) + "hls/master.m3u8")
	f.Add("/t/1/x/videos/1/a")
	f.Add("/t/99999999999999999999/" + strings.Repeat("A", 43) + "/videos/1/a/../b")
	f.Fuzz(func(t *testing.T, path string) {
		got, err := playback.Check(key, path, now)
		if err != nil {
			return
		}
		// Whatever passes must be a path the key signed, inside one video's folder.
		if !strings.HasPrefix(got, "/videos/") || strings.Contains(got, "..") || strings.Contains(got, "//") {
			t.Fatalf("Check(%q) accepted %q", path, got)
		}
		i := strings.Index(path, "/videos/")
		if path[i:] != got {
			t.Fatalf("Check(%q) = %q, not the path's own folder", path, got)
		}
	})
}
