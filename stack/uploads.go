package stack

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/edge"
	"github.com/videoforge/videoforge/media"
	"github.com/videoforge/videoforge/playback"
	"github.com/videoforge/videoforge/transcoder"
	"github.com/videoforge/videoforge/transcoder/jsqueue"
	"github.com/videoforge/videoforge/transcoder/sqs"
	"github.com/videoforge/videoforge/uploads"
)

// bucketUploads is the catalog's upload side in production: presigned PUTs into the
// bucket, resumable uploads kept in it (tusd's S3 store, locked across instances
// through PostgreSQL), jobs to SQS or the JetStream work queue. Without a bucket the
// routes answer 503 and it is nil.
func (s *Stack) bucketUploads(ctx context.Context) (*uploads.Uploads, error) {
	o := &s.opts
	limits, err := o.uploadLimits()
	if err != nil {
		return nil, err
	}
	if o.S3.Bucket == "" {
		s.log.Warn("S3_BUCKET_NAME is not set: the upload routes answer 503")
		return nil, nil
	}
	if o.SQS.QueueURL == "" && o.NATS.URL == "" {
		return nil, fmt.Errorf("S3_BUCKET_NAME is set but there is no job queue: set SQS_QUEUE_URL, or NATS_URL for the JetStream work queue")
	}
	db, err := s.database(ctx, o.DB.Migrate)
	if err != nil {
		return nil, err
	}
	st, err := s.objects(ctx)
	if err != nil {
		return nil, err
	}
	q, events, err := s.jobSender(ctx)
	if err != nil {
		return nil, err
	}
	return s.addUploads(uploads.Config{Jobs: postgres.NewJobService(db), Objects: st, Queue: q, Events: events, Limits: limits,
		URL: func(ctx context.Context, _ int64, key string, expires time.Time) (string, error) {
			return st.PresignPut(ctx, key, expires)
		},
		Tus: uploads.Tus{InBucket: true, PartSize: int64(o.Uploads.TusPartSize), TempDir: o.Uploads.TusTempDir,
			Locker: postgres.NewUploadLocker(db, s.log)},
	})
}

// devUploads is dev's upload side: PUTs to the edge's media server, resumable uploads
// in a folder (one process takes every request), the JetStream work queue.
func (s *Stack) devUploads(ctx context.Context, limits uploads.Limits, edgeBase string) (*uploads.Uploads, error) {
	q, events, err := s.jobSender(ctx)
	if err != nil {
		return nil, err
	}
	key := s.opts.Playback.Key.key
	return s.addUploads(uploads.Config{Jobs: postgres.NewJobService(s.db), Objects: s.store, Queue: q, Events: events, Limits: limits,
		URL: func(_ context.Context, jobID int64, _ string, expires time.Time) (string, error) {
			return edgeBase + playback.UploadPath(key, jobID, expires), nil
		},
		Tus: uploads.Tus{Dir: filepath.Join(s.addrs.Data, "tus")},
	})
}

// addUploads builds the upload side; its janitor is a role that addGallery adds after
// the gallery, so that it stops after it.
func (s *Stack) addUploads(cfg uploads.Config) (*uploads.Uploads, error) {
	cfg.Log = s.log
	up, err := uploads.New(cfg)
	if err != nil {
		if cfg.Tus.Locker != nil {
			cfg.Tus.Locker.Close()
		}
		return nil, err
	}
	s.onClose(func() { up.Close() })
	return up, nil
}

// jobSender returns where completed uploads' jobs go: SQS when its URL is set, else
// the JetStream work queue (a producer only: the transcoder declares the consumer,
// with its visibility); and the job events when NATS is set.
func (s *Stack) jobSender(ctx context.Context) (transcoder.Sender, transcoder.Events, error) {
	var q transcoder.Sender
	var events transcoder.Events
	if s.natsURLs[bus.RoleUploads] != "" {
		conn, err := s.conn(ctx, bus.RoleUploads)
		if conn == nil {
			if err == nil {
				err = ctx.Err()
			}
			return nil, nil, fmt.Errorf("uploads: NATS: %w", err)
		}
		events = bus.JobEvents{JS: conn.JetStream()}
		if s.opts.SQS.QueueURL == "" {
			if q, err = jsqueue.NewProducer(ctx, conn.JetStream(), jsqueue.Config{Replicas: s.streams.Replicas}); err != nil {
				return nil, nil, err
			}
			return q, events, nil
		}
	}
	c, err := sqs.NewClient(ctx, sqs.ClientConfig{Region: s.opts.AWSRegion, Endpoint: s.opts.SQS.Endpoint})
	if err == nil {
		q, err = sqs.New(c, sqs.Config{URL: s.opts.SQS.QueueURL, Visibility: transcoder.DefaultConfig().Visibility})
	}
	return q, events, err
}

// devMedia adds the media server to dev's edge: it serves the objects of the embedded
// bucket with token checks and takes the upload PUTs.
func (s *Stack) devMedia(e *edge.Edge, limits uploads.Limits) error {
	ms, err := media.New(media.Config{Root: s.objectRoot, TokenKey: s.opts.Playback.Key.key, MaxUploadSize: limits.MaxSize,
		UploadOpen: uploads.SourceOpen(postgres.NewJobService(s.db))}, e.MediaAccess, s.store, s.log)
	if err != nil {
		return err
	}
	s.onClose(func() { ms.Close() })
	e.SetMedia(ms.Handle, limits.MaxSize)
	e.SetMediaExpect(ms.Expect)
	return nil
}
