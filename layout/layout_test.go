package layout_test

import (
	"testing"

	"github.com/videoforge/videoforge/layout"
)

func TestKeys(t *testing.T) {
	for _, tc := range []struct{ name, got, want string }{
		{"UploadFolder", layout.UploadFolder(7), "uploads/7/"},
		{"UploadKey", layout.UploadKey(7), "uploads/7/source"},
		{"VideoPrefix", layout.VideoPrefix(42), "videos/42/"},
		{"AttemptFolder", layout.AttemptFolder(42, 3), "videos/42/a3/"},
		{"VariantPlaylist", layout.VariantPlaylist("720p"), "hls/720p/index.m3u8"},
		{"MasterPlaylist", layout.MasterPlaylist, "hls/master.m3u8"},
		{"VideosPath", layout.VideosPath, "/videos/"},
		{"UploadsPath", layout.UploadsPath, "/uploads/"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestParseUploadKey(t *testing.T) {
	for _, tc := range []struct {
		key string
		id  int64
		ok  bool
	}{
		{"uploads/7/source", 7, true},
		{"uploads/07/source", 0, false},
		{"uploads/+7/source", 0, false},
		{"uploads/7/source.info", 0, false},
		{"uploads/7/", 0, false},
		{"uploads//source", 0, false},
		{"videos/7/source", 0, false},
		{"uploads/7/x/source", 0, false},
	} {
		id, ok := layout.ParseUploadKey(tc.key)
		if id != tc.id || ok != tc.ok {
			t.Errorf("ParseUploadKey(%q) = %d, %v, want %d, %v", tc.key, id, ok, tc.id, tc.ok)
		}
	}
}

func TestSplitVideoKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		id   int64
		rest string
		ok   bool
	}{
		{"videos/42/hls/master.m3u8", 42, "hls/master.m3u8", true},
		{"videos/42/a3/thumbnail.jpg", 42, "a3/thumbnail.jpg", true},
		{"videos/0/x", 0, "x", true},
		{"videos/042/x", 0, "", false},
		{"videos/+42/x", 0, "", false},
		{"videos/-42/x", 0, "", false},
		{"videos/42/", 0, "", false},
		{"videos/42", 0, "", false},
		{"videos//x", 0, "", false},
		{"videos/99999999999999999999/x", 0, "", false},
		{"/videos/42/x", 0, "", false},
		{"uploads/42/source", 0, "", false},
	} {
		id, rest, ok := layout.SplitVideoKey(tc.key)
		if id != tc.id || rest != tc.rest || ok != tc.ok {
			t.Errorf("SplitVideoKey(%q) = %d, %q, %v, want %d, %q, %v", tc.key, id, rest, ok, tc.id, tc.rest, tc.ok)
		}
	}
}

// FuzzSplitVideoKey checks that every key SplitVideoKey accepts is the key its parts
// name, so that two spellings never reach the same video.
func FuzzSplitVideoKey(f *testing.F) {
	for _, k := range []string{"videos/42/hls/master.m3u8", "videos/0/x", "videos/042/x", "videos/9223372036854775808/x"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		id, rest, ok := layout.SplitVideoKey(key)
		if ok && (id < 0 || layout.VideoPrefix(id)+rest != key) {
			t.Fatalf("SplitVideoKey(%q) = %d, %q", key, id, rest)
		}
	})
}
