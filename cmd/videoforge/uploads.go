package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/transcoder"
	"github.com/videoforge/videoforge/transcoder/jsqueue"
	"github.com/videoforge/videoforge/transcoder/sqs"
	"github.com/videoforge/videoforge/uploads"
)

// catalogUploadFlags are the settings of the catalog's upload routes in production:
// the bucket uploads go to (presigned PUTs) and the job queue.
type catalogUploadFlags struct {
	bucket, region, endpoint, key, secret *string
	sqsURL, sqsEndpoint                   *string
	limits                                *uploadFlags
	tus                                   *tusFlags
}

func (f *flags) catalogUploads() *catalogUploadFlags {
	return &catalogUploadFlags{
		bucket:      f.string("s3-bucket", "S3_BUCKET_NAME", "", "bucket uploads go to (presigned PUTs); empty answers the upload routes 503"),
		region:      f.string("s3-region", "AWS_REGION", "", "AWS region of the bucket and the queue"),
		endpoint:    f.string("s3-endpoint", "S3_ENDPOINT", "", "S3-compatible server (path-style); empty means AWS"),
		key:         f.string("s3-access-key-id", "S3_ACCESS_KEY_ID", "", "access key for an S3-compatible server; in AWS use the instance role"),
		secret:      f.string("s3-secret-access-key", "S3_SECRET_ACCESS_KEY", "", "secret key for an S3-compatible server"),
		sqsURL:      f.string("sqs-queue-url", "SQS_QUEUE_URL", "", "SQS queue of job messages; empty: the JetStream work queue at NATS_URL"),
		sqsEndpoint: f.string("sqs-endpoint", "SQS_ENDPOINT", "", "SQS-compatible server; empty means AWS"),
		limits:      f.uploads(),
		tus:         f.tus(),
	}
}

// setup returns what builds the upload side over the gallery's database (presigned
// PUTs and resumable uploads in the bucket, the job queue), or nil when no bucket is
// set.
func (c *catalogUploadFlags) setup(ctx context.Context, natsURL string, streams bus.StreamOptions) (func(*postgres.DB) (*catalog.Uploads, func(), error), error) {
	limits, err := c.limits.limits()
	if err != nil {
		return nil, err
	}
	if *c.bucket == "" {
		slog.Warn("S3_BUCKET_NAME is not set: the upload routes answer 503")
		return nil, nil
	}
	if *c.sqsURL == "" && natsURL == "" {
		return nil, fmt.Errorf("S3_BUCKET_NAME is set but there is no job queue: set SQS_QUEUE_URL, or NATS_URL for the JetStream work queue")
	}
	st, err := storage.New(ctx, c.storageConfig())
	if err != nil {
		return nil, err
	}
	return func(db *postgres.DB) (*catalog.Uploads, func(), error) {
		q, events, stop, err := c.queue(ctx, natsURL, streams)
		if err != nil {
			return nil, nil, err
		}
		return startUploads(ctx, uploads.Config{Jobs: postgres.NewJobService(db), Objects: st, Queue: q, Events: events, Limits: limits,
			URL: func(ctx context.Context, _ int64, key string, expires time.Time) (string, error) {
				return st.PresignPut(ctx, key, expires)
			},
			Tus: c.tus.inBucket(db),
		}, stop)
	}, nil
}

// queue connects to the job queue (SQS, or the JetStream work queue) and, with NATS,
// to the job events; stop closes the connection.
func (c *catalogUploadFlags) queue(ctx context.Context, natsURL string, streams bus.StreamOptions) (q transcoder.Sender, events transcoder.Events, stop func(), err error) {
	stop = func() {}
	if natsURL != "" {
		conn, err := bus.Connect(ctx, natsURL, "videoforge-catalog-uploads", slog.Default())
		if err != nil {
			return nil, nil, nil, err
		}
		stop = conn.Close
		events = bus.JobEvents{JS: conn.JetStream()}
		if *c.sqsURL == "" {
			if err := bus.EnsureStreams(ctx, conn.JetStream(), streams); err != nil {
				stop()
				return nil, nil, nil, err
			}
			// Only the transcoder declares the queue's consumer, with its visibility.
			if q, err = jsqueue.NewProducer(ctx, conn.JetStream(), jsqueue.Config{Replicas: streams.Replicas}); err != nil {
				stop()
				return nil, nil, nil, err
			}
		}
	}
	if *c.sqsURL != "" {
		client, err := sqs.NewClient(ctx, sqs.ClientConfig{Region: *c.region, Endpoint: *c.sqsEndpoint})
		if err == nil {
			q, err = sqs.New(client, sqs.Config{URL: *c.sqsURL, Visibility: transcoder.DefaultConfig().Visibility})
		}
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
	}
	return q, events, stop, nil
}

// startUploads builds the upload side of cfg and runs it until the returned stop,
// which then calls release (what cfg's queue holds).
func startUploads(ctx context.Context, cfg uploads.Config, release func()) (*catalog.Uploads, func(), error) {
	u, err := uploads.New(cfg)
	if err != nil {
		if cfg.Tus.Locker != nil {
			cfg.Tus.Locker.Close()
		}
		release()
		return nil, nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); u.Run(rctx) }()
	return u.Gallery(), func() { cancel(); <-done; u.Close(); release() }, nil
}
