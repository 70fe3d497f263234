package playback_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge/playback"
)

func TestUploadToken(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	now := time.Unix(1_800_000_000, 0)
	p := playback.UploadPath(key, 7, now.Add(time.Hour))
	path, query, _ := strings.Cut(p, "?")
	if path != "/uploads/7/source" {
		t.Fatalf("path %q", path)
	}
	q, _ := url.ParseQuery(query)
	if err := playback.CheckUpload(key, 7, q, now); err != nil {
		t.Errorf("OK: %v", err)
	}
	if err := playback.CheckUpload(key, 8, q, now); !errors.Is(err, playback.ErrSignature) {
		t.Errorf("another job: %v", err)
	}
	if err := playback.CheckUpload([]byte(strings.Repeat("x", 32)), 7, q, now); !errors.Is(err, playback.ErrSignature) {
		t.Errorf("another key: %v", err)
	}
	if err := playback.CheckUpload(key, 7, q, now.Add(2*time.Hour)); !errors.Is(err, playback.ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	if err := playback.CheckUpload(key, 7, url.Values{}, now); !errors.Is(err, playback.ErrMalformed) {
		t.Errorf("no token: %v", err)
	}
	q.Set("expires", "1900000000")
	if err := playback.CheckUpload(key, 7, q, now); !errors.Is(err, playback.ErrSignature) {
		t.Errorf("extended expiry: %v", err)
	}
}
