package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/catalog/tus"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/storage"
)

// tusFlags are the settings of resumable uploads kept in the bucket (catalog).
type tusFlags struct {
	partSize *int
	tempDir  *string
}

func (f *flags) tus() *tusFlags {
	return &tusFlags{
		partSize: f.int("tus-part-size", "TUS_PART_SIZE", 8<<20,
			"bytes of a resumable upload buffered on disk before they go to S3 as one part (at least 5 MiB, S3's smallest part)"),
		tempDir: f.string("tus-temp-dir", "TUS_TEMP_DIR", "", "folder for those buffers (the system's temporary folder when empty)"),
	}
}

func (t *tusFlags) validate() error {
	if *t.partSize < 5<<20 {
		return fmt.Errorf("TUS_PART_SIZE=%d: want at least 5242880 (5 MiB), S3's smallest part", *t.partSize)
	}
	return nil
}

// storageConfig is the bucket of the catalog's uploads.
func (c *catalogUploadFlags) storageConfig() storage.Config {
	return storage.Config{Bucket: *c.bucket, Region: *c.region, Endpoint: *c.endpoint, AccessKey: *c.key, SecretKey: *c.secret}
}

// mountTus serves srv at tus.Path under the gallery's prefix and without it, as every
// gallery route is answered.
func mountTus(srv *tus.Server) (func(*catalog.Server), error) {
	handlers := map[string]http.Handler{}
	for _, prefix := range []string{catalog.Prefix, ""} {
		h, err := srv.Handler(prefix + tus.Path + "/")
		if err != nil {
			return nil, err
		}
		handlers[prefix] = h
	}
	return func(s *catalog.Server) {
		for prefix, h := range handlers {
			for _, r := range tus.Routes {
				s.Handle(r.Method+" "+prefix+tus.Path+r.Path, h)
			}
			// Creation at the base with a slash too, as tus clients are often told;
			// API Gateway routes the base without one.
			s.Handle("POST "+prefix+tus.Path+"/{$}", h)
		}
	}, nil
}

// withBucketTus adds resumable uploads kept in the bucket (tusd's S3 store, with its
// multipart uploads, locked across instances through PostgreSQL) to the upload routes
// that inner configures, and a sweeper of the multipart uploads they give up. mount is
// set to what serves them once the gallery's database is open.
func withBucketTus(ctx context.Context, inner func(*postgres.DB) (*catalog.Uploads, func(), error), st *storage.Store,
	limits catalog.UploadLimits, tf *tusFlags, verify func(context.Context, string) (*auth.User, error),
	mount *func(*catalog.Server)) func(*postgres.DB) (*catalog.Uploads, func(), error) {
	return func(db *postgres.DB) (*catalog.Uploads, func(), error) {
		up, stop, err := inner(db)
		if err != nil {
			return nil, nil, err
		}
		jobs := postgres.NewJobService(db)
		locker := postgres.NewUploadLocker(db, slog.Default())
		srv, err := tus.New(tus.Config{
			S3:      &tus.S3{Service: st.Client(), Bucket: st.Bucket(), Objects: st, PartSize: int64(*tf.partSize), TempDir: *tf.tempDir},
			MaxSize: limits.MaxSize, Verify: verify, Jobs: jobs, Locker: locker, Log: slog.Default(),
		})
		if err == nil {
			*mount, err = mountTus(srv)
		}
		if err != nil {
			locker.Close()
			stop()
			return nil, nil, err
		}
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			runMultipartSweeper(sctx, st, jobs, min(time.Minute, limits.URLLifetime/4), limits.URLLifetime, slog.Default())
		}()
		return up, func() { cancel(); <-done; locker.Close(); stop() }, nil
	}
}

// runMultipartSweeper sweeps the bucket's given-up multipart uploads every interval
// until ctx ends.
func runMultipartSweeper(ctx context.Context, st *storage.Store, jobs *postgres.JobService, every, age time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := sweepMultipart(ctx, st, jobs, age)
		if err != nil && ctx.Err() == nil {
			log.Warn("multipart upload sweeper", "err", err)
		}
		if n > 0 {
			log.Info("aborted given-up multipart uploads", "uploads", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepMultipart aborts the multipart uploads under uploads/ begun more than age ago
// whose job takes no more bytes (given up by the janitor, completed, or gone), and
// removes the partial-upload objects beside them (source.info, source.part); the
// source itself stays. S3 would keep and bill their parts until its lifecycle rule
// aborts them a day later. It returns how many it aborted.
func sweepMultipart(ctx context.Context, st *storage.Store, jobs *postgres.JobService, age time.Duration) (int, error) {
	open, err := st.ListMultipartUploads(ctx, layout.UploadsFolder)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range open {
		if time.Since(u.Initiated) < age {
			continue
		}
		jobID, ok := layout.ParseUploadKey(u.Key)
		if ok {
			j, err := jobs.FindJobByID(ctx, jobID)
			switch {
			case videoforge.ErrorCode(err) == videoforge.ENOTFOUND:
			case err != nil:
				return n, err
			case j.Status == videoforge.JobPending:
				continue // the janitor gives it up first
			}
		}
		if err := st.AbortMultipartUpload(ctx, u.Key, u.UploadID); err != nil {
			return n, err
		}
		n++
		if ok {
			if err := st.DeletePrefix(ctx, u.Key+"."); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// abandonUpload removes what a resumable upload given up by the janitor left.
func abandonUpload(srv *tus.Server, jobID int64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Abandon(ctx, jobID); err != nil {
		slog.Warn("remove an abandoned resumable upload", "job", jobID, "err", err)
	}
}
