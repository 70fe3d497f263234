package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/storage/s3gw"
	"github.com/videoforge/videoforge/transcoder"
	"github.com/videoforge/videoforge/transcoder/jsqueue"
	"github.com/videoforge/videoforge/uploads"
)

// devBucket is the bucket of the dev stack's objects: the folder <data>/objects/videoforge.
const devBucket = "videoforge"

// uploadFlags are the limits of uploads.
type uploadFlags struct {
	maxSize *string
	types   *string
	ttl     *time.Duration
}

func (f *flags) uploads() *uploadFlags {
	def := uploads.DefaultLimits()
	return &uploadFlags{
		maxSize: f.string("upload-max-size", "UPLOAD_MAX_SIZE", strconv.FormatInt(def.MaxSize, 10), "largest upload accepted, in bytes"),
		types:   f.string("upload-types", "UPLOAD_TYPES", "video/*,application/octet-stream", "accepted media types of uploads as sniffed from their first bytes (patterns)"),
		ttl:     f.duration("upload-url-ttl", "UPLOAD_URL_TTL", def.URLLifetime, "life of an upload URL; uploads not completed by then are given up and removed"),
	}
}

func (u *uploadFlags) limits() (uploads.Limits, error) {
	l := uploads.Limits{Types: splitList(*u.types), URLLifetime: *u.ttl}
	var err error
	if l.MaxSize, err = strconv.ParseInt(*u.maxSize, 10, 64); err != nil || l.MaxSize <= 0 {
		return l, fmt.Errorf("UPLOAD_MAX_SIZE=%q: want a positive number of bytes", *u.maxSize)
	}
	if len(l.Types) == 0 {
		return l, errors.New("UPLOAD_TYPES is empty")
	}
	if l.URLLifetime < time.Minute {
		return l, fmt.Errorf("UPLOAD_URL_TTL=%v: want at least 1m", l.URLLifetime)
	}
	return l, nil
}

// startDevStorage serves <data>/objects over the S3 API (s3gw), so that the dev stack
// takes the same S3 code path as AWS, and creates the bucket. The gateway runs once
// per process, and makes the object folder the process's working folder: data must be
// absolute.
func startDevStorage(ctx context.Context, data string) (cfg storage.Config, root string, stop func(), err error) {
	dir := filepath.Join(data, "objects")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return cfg, "", nil, fmt.Errorf("object folder: %w", err)
	}
	secret, err := loadOrCreateSecret(filepath.Join(keyDir(data), "s3-secret.key"))
	if err != nil {
		return cfg, "", nil, err
	}
	cfg = storage.Config{Bucket: devBucket, Region: s3gw.Region, AccessKey: "videoforge-dev", SecretKey: hex.EncodeToString(secret)}
	g, err := s3gw.Start(dir, cfg.AccessKey, cfg.SecretKey)
	if err != nil {
		return cfg, "", nil, fmt.Errorf("embedded S3: %w", err)
	}
	cfg.Endpoint = g.Endpoint
	stop = func() {
		if err := g.Stop(); err != nil {
			slog.Warn("embedded S3 stopped", "err", err)
		}
	}
	st, err := storage.New(ctx, cfg)
	if err != nil {
		stop()
		return cfg, "", nil, err
	}
	if _, err := st.Client().HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(devBucket)}); err != nil {
		if _, err := st.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(devBucket)}); err != nil {
			stop()
			return cfg, "", nil, fmt.Errorf("embedded S3: create bucket: %w", err)
		}
	}
	slog.Info("embedded S3 started", "endpoint", cfg.Endpoint, "folder", dir)
	return cfg, filepath.Join(dir, devBucket), stop, nil
}

// devQueue connects to the dev stack's JetStream work queue and job events; stop
// closes the connection.
func devQueue(ctx context.Context, natsURL string) (transcoder.Sender, transcoder.Events, func(), error) {
	conn, err := bus.Connect(ctx, natsURL, "videoforge-dev-uploads", slog.Default())
	if err != nil {
		return nil, nil, nil, err
	}
	if err := bus.EnsureStreams(ctx, conn.JetStream(), bus.StreamOptions{}); err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	// A producer only: the dev transcoder declares the consumer with its visibility.
	q, err := jsqueue.NewProducer(ctx, conn.JetStream(), jsqueue.Config{})
	if err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	return q, bus.JobEvents{JS: conn.JetStream()}, conn.Close, nil
}
