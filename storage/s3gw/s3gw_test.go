package s3gw_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/storage/s3gw"
)

// TestGateway: objects written through the gateway land as files in its folder and
// read back; a request signed with the wrong secret is refused.
func TestGateway(t *testing.T) {
	dir := t.TempDir()
	g, err := s3gw.Start(dir, "test-user", "test-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Stop(); err != nil {
			t.Error(err)
		}
	})
	ctx := context.Background()
	cfg := storage.Config{Bucket: "media", Region: s3gw.Region, Endpoint: g.Endpoint, AccessKey: "test-user", SecretKey: "test-secret-0123456789"}
	st, err := storage.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("media")}); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "videos/1/x.txt", strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "media", "videos", "1", "x.txt")); err != nil || string(b) != "hello" {
		t.Fatalf("the object's file: %q, %v", b, err)
	}
	out, err := st.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("media"), Key: aws.String("videos/1/x.txt")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(b) != "hello" {
		t.Fatalf("read back %q", b)
	}
	cfg.SecretKey = "another secret"
	bad, err := storage.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Put(ctx, "videos/1/y.txt", strings.NewReader("no")); err == nil {
		t.Fatal("a request signed with the wrong secret was accepted")
	}
}
