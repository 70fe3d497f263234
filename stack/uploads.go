package stack

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/catalog/tus"
	"github.com/videoforge/videoforge/edge"
	"github.com/videoforge/videoforge/media"
	"github.com/videoforge/videoforge/playback"
	"github.com/videoforge/videoforge/transcoder"
	"github.com/videoforge/videoforge/transcoder/jsqueue"
	"github.com/videoforge/videoforge/transcoder/sqs"
)

// uploadSide is the gallery's upload side: the routes' configuration, the resumable
// uploads it mounts, and its janitor.
type uploadSide struct {
	routes *catalog.Uploads
	tus    *tus.Server
	every  time.Duration
	sweep  func(ctx context.Context) // beside the janitor; nil: none
}

// mount serves the resumable uploads at tus.Path under the gallery's prefix and
// without it, as every gallery route is answered. On nil it does nothing.
func (u *uploadSide) mount(srv *catalog.Server) {
	if u == nil || u.tus == nil {
		return
	}
	for _, prefix := range []string{catalog.Prefix, ""} {
		h, err := u.tus.Handler(prefix + tus.Path + "/")
		if err != nil {
			panic(err) // the paths are constants
		}
		for _, r := range tus.Routes {
			srv.Handle(r.Method+" "+prefix+tus.Path+r.Path, h)
		}
		// Creation at the base with a slash too, as tus clients are often told; API
		// Gateway routes the base without one.
		srv.Handle("POST "+prefix+tus.Path+"/{$}", h)
	}
}

// run is the janitor (and the sweeper of given-up multipart uploads) until ctx ends.
func (u *uploadSide) run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if u.sweep != nil {
			u.sweep(ctx)
		}
	}()
	u.routes.RunJanitor(ctx, u.every, nil)
	<-done
	return nil
}

// uploadRoutes configures the upload routes over the shared database and store, a job
// queue and, when not nil, the job events that get each job's queued event.
func (s *Stack) uploadRoutes(q transcoder.Sender, events transcoder.Events, limits catalog.UploadLimits,
	url func(ctx context.Context, jobID int64, key string, expires time.Time) (string, error)) *uploadSide {
	jobs := postgres.NewJobService(s.db)
	routes := &catalog.Uploads{
		Store: jobs, Jobs: jobs, Objects: s.store, Limits: limits, URL: url,
		Send: func(ctx context.Context, m videoforge.JobMessage) error {
			if err := transcoder.Enqueue(ctx, q, m); err != nil {
				return fmt.Errorf("enqueue job %d: %w", m.JobID, err)
			}
			if events != nil {
				// The queued event is derived; the job row says queued either way.
				_ = events.PublishJobEvent(ctx, videoforge.JobEvent{JobID: m.JobID, VideoID: m.VideoID,
					Type: videoforge.JobEventQueued, OccurredAt: time.Now().UTC()})
			}
			return nil
		},
	}
	return &uploadSide{routes: routes, every: min(time.Minute, limits.URLLifetime/4)}
}

// bucketUploads is the catalog's upload side in production: presigned PUTs into the
// bucket, resumable uploads kept in it (tusd's S3 store, locked across instances
// through PostgreSQL), jobs to SQS or the JetStream work queue. Without a bucket the
// routes answer 503 and it is nil.
func (s *Stack) bucketUploads(ctx context.Context) (*uploadSide, error) {
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
	if _, err := s.database(ctx, o.DB.Migrate); err != nil {
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
	up := s.uploadRoutes(q, events, limits, func(ctx context.Context, _ int64, key string, expires time.Time) (string, error) {
		return st.PresignPut(ctx, key, expires)
	})
	jobs := postgres.NewJobService(s.db)
	locker := postgres.NewUploadLocker(s.db, s.log)
	s.onClose(func() { locker.Close() })
	up.tus, err = tus.New(tus.Config{
		S3:      &tus.S3{Service: st.Client(), Bucket: st.Bucket(), Objects: st, PartSize: int64(o.Uploads.TusPartSize), TempDir: o.Uploads.TusTempDir},
		MaxSize: limits.MaxSize, Verify: s.verifier.Verify, Jobs: jobs, Locker: locker, Log: s.log,
	})
	if err != nil {
		return nil, err
	}
	up.sweep = func(ctx context.Context) {
		runMultipartSweeper(ctx, st, jobs, up.every, limits.URLLifetime, s.log)
	}
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
			return nil, nil, fmt.Errorf("uploads: NATS: %w", orCanceled(err, ctx))
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

// orCanceled is err, or ctx's error when err is nil.
func orCanceled(err error, ctx context.Context) error {
	if err != nil {
		return err
	}
	return ctx.Err()
}

// devUploads is dev's upload side: PUTs to the edge's media server, resumable uploads
// in a folder (one process takes every request), the JetStream work queue.
func (s *Stack) devUploads(ctx context.Context, limits catalog.UploadLimits, edgeBase string) (*uploadSide, error) {
	q, events, err := s.jobSender(ctx)
	if err != nil {
		return nil, err
	}
	key := s.opts.Playback.Key.key
	up := s.uploadRoutes(q, events, limits, func(_ context.Context, jobID int64, _ string, expires time.Time) (string, error) {
		return edgeBase + playback.UploadPath(key, jobID, expires), nil
	})
	up.tus, err = tus.New(tus.Config{Dir: filepath.Join(s.addrs.Data, "tus"), Objects: s.store, MaxSize: limits.MaxSize,
		Verify: s.verifier.Verify, Jobs: postgres.NewJobService(s.db), Log: s.log})
	if err != nil {
		return nil, err
	}
	up.routes.Abandoned = func(jobID int64) { abandonUpload(up.tus, jobID, s.log) }
	return up, nil
}

// devMedia adds the media server to dev's edge: it serves the objects of the embedded
// bucket with token checks and takes the upload PUTs.
func (s *Stack) devMedia(e *edge.Edge, limits catalog.UploadLimits) error {
	jobs := postgres.NewJobService(s.db)
	ms, err := media.New(media.Config{Root: s.objectRoot, TokenKey: s.opts.Playback.Key.key, MaxUploadSize: limits.MaxSize,
		UploadOpen: uploadOpen(jobs)}, e.MediaAccess, s.store, s.log)
	if err != nil {
		return err
	}
	s.onClose(func() { ms.Close() })
	e.SetMedia(ms.Handle, limits.MaxSize)
	e.SetMediaExpect(ms.Expect)
	return nil
}
