package stack

import (
	"context"
	"log/slog"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/catalog/tus"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/storage"
)

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
func abandonUpload(srv *tus.Server, jobID int64, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Abandon(ctx, jobID); err != nil {
		log.Warn("remove an abandoned resumable upload", "job", jobID, "err", err)
	}
}

// uploadOpen tells the media server whether a job still takes its source: only while
// it is pending, so that nothing changes the bytes after complete accepted them.
func uploadOpen(jobs *postgres.JobService) func(ctx context.Context, jobID int64) error {
	return func(ctx context.Context, jobID int64) error {
		j, err := jobs.FindJobByID(ctx, jobID)
		if err != nil {
			return err
		}
		if j.Status != videoforge.JobPending {
			return videoforge.Errorf(videoforge.ECONFLICT, "job %d is %s: its upload was completed and it takes no more bytes", jobID, j.Status)
		}
		return nil
	}
}
