package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/storage/s3test"
)

func TestMain(m *testing.M) {
	// The gateway moves the working folder; start it before any test runs.
	if _, err := s3test.Endpoint(); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

func newStore(t *testing.T) *storage.Store {
	t.Helper()
	st, err := storage.New(context.Background(), s3test.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestHeaders(t *testing.T) {
	for _, tc := range []struct{ key, ctype, cache string }{
		{"videos/1/hls/master.m3u8", "application/vnd.apple.mpegurl", storage.CachePlaylist},
		{"videos/1/hls/720p/index.m3u8", "application/vnd.apple.mpegurl", storage.CachePlaylist},
		{"videos/1/hls/720p/seg_0001.ts", "video/mp2t", storage.CacheImmutable},
		{"videos/1/hls/720p/seg_0001.m4s", "video/iso.segment", storage.CacheImmutable},
		{"videos/1/thumbnail.jpg", "image/jpeg", storage.CacheImmutable},
		{"videos/1/storyboard.jpg", "image/jpeg", storage.CacheImmutable},
		{"videos/1/storyboard.vtt", "text/vtt; charset=utf-8", storage.CachePlaylist},
		{"uploads/7/source", "application/octet-stream", storage.CacheDefault},
	} {
		if got := storage.ContentType(tc.key); got != tc.ctype {
			t.Errorf("ContentType(%s) = %q, want %q", tc.key, got, tc.ctype)
		}
		if got := storage.CacheControl(tc.key); got != tc.cache {
			t.Errorf("CacheControl(%s) = %q, want %q", tc.key, got, tc.cache)
		}
	}
}

func TestPutDir(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"hls/master.m3u8": "#EXTM3U\n", "hls/240p/index.m3u8": "#EXTM3U\n", "hls/240p/seg_0000.ts": "ts",
		"thumbnail.jpg": "jpg", "storyboard.vtt": "WEBVTT\n",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutDir(ctx, dir, "videos/9/", "hls/master.m3u8"); err != nil {
		t.Fatal(err)
	}
	keys, err := st.List(ctx, "videos/9/")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 5 {
		t.Fatalf("keys %v", keys)
	}
	for _, key := range keys {
		o, err := st.Head(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if o.ContentType != storage.ContentType(key) || o.CacheControl != storage.CacheControl(key) {
			t.Errorf("%s: Content-Type %q, Cache-Control %q", key, o.ContentType, o.CacheControl)
		}
	}
	if err := st.DeletePrefix(ctx, "videos/9/"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Head(ctx, "videos/9/hls/master.m3u8"); videoforge.ErrorCode(err) != videoforge.ENOTFOUND {
		t.Fatalf("after delete: %v", err)
	}
}

func TestMultipart(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	body := make([]byte, 2*storage.PartSize+12345)
	_, _ = rand.Read(body)
	key := "uploads/1/source"
	if err := st.Put(ctx, key, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	out, err := st.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(st.Bucket()), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	if etag := aws.ToString(out.ETag); !strings.HasSuffix(strings.Trim(etag, `"`), "-3") {
		t.Errorf("ETag %s: want a three-part multipart upload", etag)
	}
	name := filepath.Join(t.TempDir(), "source")
	n, err := st.Download(ctx, key, name)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(body)) || !bytes.Equal(got, body) {
		t.Fatalf("downloaded %d bytes, different from the %d uploaded", n, len(body))
	}
	rc, err := st.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); !bytes.Equal(b, body) {
		t.Fatal("Get returned other bytes")
	}
}

func TestErrors(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	if _, err := st.Download(ctx, "missing", filepath.Join(t.TempDir(), "x")); videoforge.ErrorCode(err) != videoforge.ENOTFOUND {
		t.Errorf("download of a missing object: %v", err)
	}
	t.Run("BadSignature", func(t *testing.T) {
		cfg := s3test.Config(t)
		cfg.SecretKey = "wrong"
		bad, err := storage.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := bad.Put(ctx, "x.jpg", strings.NewReader("x")); err == nil {
			t.Fatal("the server accepted a request signed with the wrong secret")
		}
	})
}

// TestDownloadSource: the sealed object downloads; one replaced after sealing (a PUT
// after complete), even with the same size, is refused rather than read.
func TestDownloadSource(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	key := "uploads/5/source"
	body := bytes.Repeat([]byte("a"), 9<<20) // more than one ranged part
	if err := st.Put(ctx, key, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	src, err := st.Seal(ctx, key)
	if err != nil || src.ETag == "" || src.Size != int64(len(body)) {
		t.Fatalf("seal: %+v %v", src, err)
	}
	name := filepath.Join(t.TempDir(), "source")
	if n, err := st.DownloadSource(ctx, src, name); err != nil || n != int64(len(body)) {
		t.Fatalf("download: %d %v", n, err)
	}
	if err := st.Put(ctx, key, bytes.NewReader(bytes.Repeat([]byte("b"), len(body)))); err != nil {
		t.Fatal(err)
	}
	_, err = st.DownloadSource(ctx, src, name)
	if videoforge.ErrorCode(err) != videoforge.EINVALID || !strings.Contains(err.Error(), "changed after it was completed") {
		t.Fatalf("download of a replaced source: %v", err)
	}
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Fatalf("a refused download left its file: %v", err)
	}
	if err := st.DeletePrefix(ctx, "uploads/5/"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DownloadSource(ctx, src, name); videoforge.ErrorCode(err) != videoforge.EINVALID {
		t.Fatalf("download of a removed source: %v", err)
	}
}
