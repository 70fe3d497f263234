package uploads

import (
	"context"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/telemetry"
)

// runJanitor, every round until ctx ends, gives up the uploads not completed within
// their lifetime (their jobs and videos fail and their bytes are removed) and sweeps
// the queued jobs that have no message: never sent (a crash or a queue outage right
// after complete), lost, or left by an attempt that died with no message to bring the
// job back.
func (u *Uploads) runJanitor(ctx context.Context) {
	t := time.NewTicker(u.cfg.Every)
	defer t.Stop()
	for {
		u.expire(ctx)
		u.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (u *Uploads) expire(ctx context.Context) {
	lifetime := u.cfg.Limits.URLLifetime
	ids, err := u.cfg.Jobs.ExpireUploads(ctx, time.Now().Add(-lifetime), "the upload was not completed within "+lifetime.String())
	if err != nil && ctx.Err() == nil {
		u.log.Warn("upload janitor", "err", err)
	}
	for _, id := range ids {
		if err := u.cfg.Objects.DeletePrefix(ctx, layout.UploadFolder(id)); err != nil {
			u.log.Warn("upload janitor: remove upload", telemetry.JobIDKey, id, "err", err)
		}
		if u.cfg.Tus.Dir != "" {
			u.abandonTus(id)
		}
	}
	if len(ids) > 0 {
		u.log.Info("gave up uploads never completed", "jobs", ids)
	}
}

func (u *Uploads) sweep(ctx context.Context) {
	msgs, err := u.cfg.Jobs.UnsentJobs(ctx, u.cfg.SendGrace, u.cfg.Resend, 1000)
	if err != nil {
		if ctx.Err() == nil {
			u.log.Warn("job sweeper", "err", err)
		}
		return
	}
	for _, m := range msgs {
		if !u.send(ctx, m) {
			return // the queue is down: the next round tries again
		}
		u.log.Info("sent a job's message again", telemetry.JobIDKey, m.JobID, "send", m.Send)
	}
}

// abandonTus removes the partial files of a resumable upload in the folder that the
// janitor gave up.
func (u *Uploads) abandonTus(jobID int64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := u.tus.Abandon(ctx, jobID); err != nil {
		u.log.Warn("remove an abandoned resumable upload", telemetry.JobIDKey, jobID, "err", err)
	}
}

// runMultipartSweeper sweeps the bucket's given-up multipart uploads every round
// until ctx ends.
func (u *Uploads) runMultipartSweeper(ctx context.Context) {
	t := time.NewTicker(u.cfg.Every)
	defer t.Stop()
	for {
		n, err := u.sweepMultipart(ctx, u.cfg.Limits.URLLifetime)
		if err != nil && ctx.Err() == nil {
			u.log.Warn("multipart upload sweeper", "err", err)
		}
		if n > 0 {
			u.log.Info("aborted given-up multipart uploads", "uploads", n)
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
func (u *Uploads) sweepMultipart(ctx context.Context, age time.Duration) (int, error) {
	st := u.cfg.Objects
	open, err := st.ListMultipartUploads(ctx, layout.UploadsFolder)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range open {
		if time.Since(m.Initiated) < age {
			continue
		}
		jobID, ok := layout.ParseUploadKey(m.Key)
		if ok {
			j, err := u.cfg.Jobs.FindJobByID(ctx, jobID)
			switch {
			case videoforge.ErrorCode(err) == videoforge.ENOTFOUND:
			case err != nil:
				return n, err
			case j.Status == videoforge.JobPending:
				continue // the janitor gives it up first
			}
		}
		if err := st.AbortMultipartUpload(ctx, m.Key, m.UploadID); err != nil {
			return n, err
		}
		n++
		if ok {
			if err := st.DeletePrefix(ctx, m.Key+"."); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}
