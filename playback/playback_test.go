package playback_test

import (
	"bytes"
	"encoding/base64"
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
	prefix := playback.Sign(key, 42, 0, exp)
	if !strings.HasPrefix(prefix, "/t/1800000600/") || !strings.HasSuffix(prefix, "/videos/42/") {
		t.Fatalf("prefix %q", prefix)
	}
	t.Run("OK", func(t *testing.T) {
		for _, obj := range []string{"hls/master.m3u8", "hls/720p/index.m3u8", "hls/720p/seg_001.ts", "thumbnail.jpg"} {
			got, err := playback.Check(key, prefix+obj, now)
			if err != nil || got != (playback.Grant{Path: "/videos/42/" + obj, VideoID: 42}) {
				t.Fatalf("Check(%q) = %+v, %v", obj, got, err)
			}
		}
	})
	gen3 := playback.Sign(key, 42, 3, exp)
	t.Run("Generation", func(t *testing.T) {
		if !strings.HasPrefix(gen3, "/t/1800000600.3/") {
			t.Fatalf("prefix %q", gen3)
		}
		got, err := playback.Check(key, gen3+"hls/master.m3u8", now)
		if err != nil || got != (playback.Grant{Path: "/videos/42/hls/master.m3u8", VideoID: 42, Gen: 3}) {
			t.Fatalf("Check = %+v, %v", got, err)
		}
		// A leading zero in the expiry is the same stamp, as before generations.
		got, err = playback.Check(key, strings.Replace(gen3, "/t/", "/t/0", 1)+"x", now)
		if err != nil || got.Gen != 3 {
			t.Fatalf("Check with a leading zero = %+v, %v", got, err)
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
		{"ErrForgedGen", strings.Replace(gen3, ".3/", ".4/", 1) + "x", now, key, playback.ErrSignature},
		{"ErrGenDropped", strings.Replace(gen3, ".3/", "/", 1) + "x", now, key, playback.ErrSignature},
		{"ErrGenAdded", strings.Replace(prefix, "/1800000600/", "/1800000600.1/", 1) + "x", now, key, playback.ErrSignature},
		{"ErrGenZero", strings.Replace(gen3, ".3/", ".0/", 1) + "x", now, key, playback.ErrMalformed},
		{"ErrGenLeadingZero", strings.Replace(gen3, ".3/", ".03/", 1) + "x", now, key, playback.ErrMalformed},
		{"ErrGenEmpty", strings.Replace(gen3, ".3/", "./", 1) + "x", now, key, playback.ErrMalformed},
		{"ErrGenSign", strings.Replace(gen3, ".3/", ".-3/", 1) + "x", now, key, playback.ErrMalformed},
		{"ErrTwoGens", strings.Replace(gen3, ".3/", ".3.3/", 1) + "x", now, key, playback.ErrMalformed},
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
	f.Add(playback.Sign(key, 42, 0, now.Add(time.Minute)) + "hls/master.m3u8")
	f.Add(playback.Sign(key, 42, 7, now.Add(time.Minute)) + "hls/master.m3u8")
	f.Add("/t/1/x/videos/1/a")
	f.Add("/t/99999999999999999999/" + strings.Repeat("A", 43) + "/videos/1/a/../b")
	f.Fuzz(func(t *testing.T, path string) {
		g, err := playback.Check(key, path, now)
		if err != nil {
			return
		}
		got := g.Path
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

func TestParseKey(t *testing.T) {
	bin := []byte{0, 1, 2, 0xff, '\n', '\r', 0x80, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, '\n'}
	for _, c := range []struct {
		in   string
		want []byte
		ok   bool
	}{
		{string(key), key, true},
		{"base64:" + base64.StdEncoding.EncodeToString(bin), bin, true},
		{"base64:" + base64.StdEncoding.EncodeToString(bin) + "\n", bin, true},
		{"base64:" + base64.StdEncoding.EncodeToString(bin[:20]), nil, false}, // too short once decoded
		{"base64:not base64 at all, though long enough", nil, false},
		{"short", nil, false},
	} {
		got, err := playback.ParseKey(c.in)
		if (err == nil) != c.ok || c.ok && !bytes.Equal(got, c.want) {
			t.Errorf("ParseKey(%q) = %x, %v", c.in, got, err)
		}
	}
}

// TestExpiry: expiries are rounded up to the window, so that URLs signed within one
// window are the same, and never fall short of the life asked for.
func TestExpiry(t *testing.T) {
	base := time.Unix(1_699_999_900, 0) // 100 s past a window boundary
	for _, ttl := range []time.Duration{time.Second, time.Hour, time.Hour + 199*time.Second} {
		got := playback.Expiry(base, ttl)
		if got.Before(base.Add(ttl)) || got.Sub(base.Add(ttl)) >= playback.ExpiryWindow || got.Unix()%300 != 0 {
			t.Errorf("ttl %v: expiry %v, from %v", ttl, got, base)
		}
		if later := playback.Expiry(base.Add(10*time.Second), ttl); !later.Equal(got) && ttl != time.Hour+199*time.Second {
			t.Errorf("ttl %v: 10 s later the expiry moved from %v to %v", ttl, got, later)
		}
	}
}
