// Package s3test runs a real S3-compatible server for tests: versitygw's embeddable
// gateway over a posix folder, which checks request signatures as S3 does.
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
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"

	"github.com/videoforge/videoforge/storage"
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
	be, err := posix.New(root, meta.XattrMeta{}, posix.PosixOpts{})
	if err != nil {
		return "", fmt.Errorf("s3test: posix backend over %s: %w", root, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := &embedgw.Config{
		RootUserAccess: AccessKey, RootUserSecret: SecretKey, Region: "us-east-1",
		Ports: []string{addr}, MaxConnections: 250, MaxRequests: 250, MultipartMaxParts: 10000, Quiet: true,
	}
	errc := make(chan error, 1)
	go func() { errc <- embedgw.RunVersityGW(context.Background(), be, cfg) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return "http://" + addr, nil
		}
		select {
		case err := <-errc:
			return "", fmt.Errorf("s3test: gateway stopped: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("s3test: gateway not listening on %s", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
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
	cfg := storage.Config{Bucket: "test-" + hex.EncodeToString(b), Region: "us-east-1", Endpoint: ep, AccessKey: AccessKey, SecretKey: SecretKey}
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
