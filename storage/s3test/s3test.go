// Package s3test runs a real S3-compatible server for tests (s3gw over a temporary
// folder) and hands out empty buckets in it.
//
// The gateway changes the process's working folder to its root and runs once per
// process, so Start is called from TestMain before anything reads relative paths, or
// lazily from tests that use absolute paths only.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/storage/s3gw"
)

// Credentials of the gateway's root user.
const (
	AccessKey = "videoforge-test"
	SecretKey = "videoforge-test-secret"
)

var (
	once     sync.Once
	endpoint string
	startErr error
)

// Endpoint starts the gateway the first time it is called and returns its URL.
func Endpoint() (string, error) {
	once.Do(func() { endpoint, startErr = start() })
	return endpoint, startErr
}

func start() (string, error) {
	root, err := os.MkdirTemp("", "s3test-")
	if err != nil {
		return "", err
	}
	g, err := s3gw.Start(root, AccessKey, SecretKey)
	if err != nil {
		return "", fmt.Errorf("s3test: %w", err)
	}
	return g.Endpoint, nil // it lives as long as the test process
}

// Config returns a storage configuration for a new, empty bucket of the test server.
func Config(t testing.TB) storage.Config {
	t.Helper()
	ep, err := Endpoint()
	if err != nil {
		t.Fatalf("S3 test server: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	cfg := storage.Config{Bucket: "test-" + hex.EncodeToString(b), Region: s3gw.Region, Endpoint: ep, AccessKey: AccessKey, SecretKey: SecretKey}
	st, err := storage.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", cfg.Bucket, err)
	}
	return cfg
}

// Env returns cfg as the environment variables of videoforge transcoder, for tests
// that run it as another process.
func Env(cfg storage.Config) []string {
	return []string{"S3_BUCKET_NAME=" + cfg.Bucket, "AWS_REGION=" + cfg.Region, "S3_ENDPOINT=" + cfg.Endpoint,
		"S3_ACCESS_KEY_ID=" + cfg.AccessKey, "S3_SECRET_ACCESS_KEY=" + cfg.SecretKey}
}
