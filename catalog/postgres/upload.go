package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/layout"
)

var _ videoforge.UploadService = (*JobService)(nil)

// CreateUpload inserts a pending job and its uploaded video in one transaction.
func (s *JobService) CreateUpload(ctx context.Context, v *videoforge.Video) (*videoforge.Job, error) {
	v.Status = videoforge.StatusUploaded
	v.S3Key = layout.UploadsFolder + "pending" // replaced by the job's source key below
	if err := validateVideo(v); err != nil {
		return nil, err
	}
	j := &videoforge.Job{UserID: v.UserID, Status: videoforge.JobPending}
	err := s.inTx(ctx, "create upload", func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO jobs (user_id, status) VALUES ($1, 'pending')
			RETURNING id, created_at, updated_at`, j.UserID).Scan(&j.ID, &j.CreatedAt, &j.UpdatedAt)
		if err != nil {
			return err
		}
		j.SourceKey = layout.UploadKey(j.ID)
		if _, err := tx.Exec(ctx, `UPDATE jobs SET source_key = $2 WHERE id = $1`, j.ID, j.SourceKey); err != nil {
			return err
		}
		v.JobID, v.S3Key = &j.ID, j.SourceKey
		err = tx.QueryRow(ctx, `INSERT INTO videos (user_id, job_id, title, description, s3_key, visibility, status)
			VALUES ($1, $2, $3, $4, $5, $6, 'uploaded') RETURNING id, version, created_at, updated_at, share_key, ladder_complete`,
			v.UserID, v.JobID, v.Title, v.Description, v.S3Key, v.Visibility).Scan(&v.ID, &v.Version, &v.CreatedAt, &v.UpdatedAt,
			&v.ShareKey, &v.LadderComplete)
		if err != nil {
			return err
		}
		return writeEvent(ctx, tx, videoforge.EventCreated, v)
	})
	if err != nil {
		return nil, err
	}
	return j, nil
}

const jobColumns = `id, user_id, status, progress, error, coalesce(source_key, ''), attempts, renditions_done,
	created_at, updated_at, (SELECT v.id FROM videos v WHERE v.job_id = jobs.id ORDER BY v.id LIMIT 1)`

func scanJob(row pgx.Row) (*videoforge.JobView, error) {
	var j videoforge.JobView
	err := row.Scan(&j.ID, &j.UserID, &j.Status, &j.Progress, &j.Error, &j.SourceKey, &j.Attempts, &j.RenditionsDone, &j.CreatedAt, &j.UpdatedAt, &j.VideoID)
	if err != nil {
		return nil, err
	}
	return &j, nil
}

func ownJob(j *videoforge.JobView, err error, jobID int64, userID string) (*videoforge.JobView, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, videoforge.Errorf(videoforge.ENOTFOUND, "job %d not found", jobID)
	} else if err != nil {
		return nil, err
	}
	if j.UserID != userID {
		return nil, videoforge.Errorf(videoforge.EFORBIDDEN, "job %d belongs to another user", jobID)
	}
	return j, nil
}

// CompleteUpload seals and queues a pending job once; see videoforge.UploadService.
func (s *JobService) CompleteUpload(ctx context.Context, jobID int64, userID string,
	seal func(ctx context.Context, j *videoforge.Job, videoID int64) (videoforge.Source, error)) (*videoforge.JobView, error) {
	var out *videoforge.JobView
	err := s.inTx(ctx, "complete upload "+strconv.FormatInt(jobID, 10), func(tx pgx.Tx) error {
		j, err := scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1 FOR UPDATE`, jobID))
		if j, err = ownJob(j, err, jobID, userID); err != nil {
			return err
		}
		out = j
		if j.Status != videoforge.JobPending {
			return nil
		}
		if j.VideoID == nil {
			return videoforge.Errorf(videoforge.ECONFLICT, "the video of job %d was deleted", jobID)
		}
		src, err := seal(ctx, &j.Job, *j.VideoID)
		if err != nil {
			return err
		}
		out, err = scanJob(tx.QueryRow(ctx, `UPDATE jobs SET status = 'queued', source_key = $2, source_etag = $3,
				source_version = nullif($4, ''), source_size = $5, sends = 0, sent_at = NULL, updated_at = now()
			WHERE id = $1 RETURNING `+jobColumns, jobID, src.Key, src.ETag, src.VersionID, src.Size))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MarkJobSent records that the job's message number sends is in the queue.
func (s *JobService) MarkJobSent(ctx context.Context, jobID int64, sends int) error {
	_, err := s.db.pool.Exec(ctx, `UPDATE jobs SET sends = greatest(sends, $2), sent_at = now() WHERE id = $1`, jobID, sends)
	return translate("mark job sent", err)
}

// UnsentJobs returns the jobs that need their message (again); see
// videoforge.UploadService. It only reads: the caller marks each one sent once its
// message is in the queue, and two sweepers asking at once get the same send
// numbers, which the queue's de-duplication (or the job's fencing) makes harmless.
func (s *JobService) UnsentJobs(ctx context.Context, grace, resend time.Duration, limit int) ([]videoforge.JobMessage, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT j.id, v.id, coalesce(j.source_key, ''), j.sends + 1
		FROM jobs j JOIN videos v ON v.job_id = j.id
		WHERE j.status IN ('queued', 'processing') AND j.updated_at < now() - make_interval(secs => $1)
			AND CASE
				WHEN j.status = 'processing' AND j.lease_until >= now() - make_interval(secs => $2) THEN false
				WHEN j.sent_at IS NULL THEN true
				ELSE j.sent_at < now() - make_interval(secs => $2 * power(2, least(greatest(j.sends - 1, 0), 10)))
			END
		ORDER BY j.id LIMIT $3`, seconds(grace), seconds(resend), limit)
	if err != nil {
		return nil, translate("find unsent jobs", err)
	}
	msgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (videoforge.JobMessage, error) {
		var m videoforge.JobMessage
		return m, r.Scan(&m.JobID, &m.VideoID, &m.SourceKey, &m.Send)
	})
	if err != nil {
		return nil, translate("find unsent jobs", err)
	}
	return msgs, nil
}

// FindJob returns the job to its owner.
func (s *JobService) FindJob(ctx context.Context, jobID int64, userID string) (*videoforge.JobView, error) {
	j, err := scanJob(s.db.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, jobID))
	if j, err = ownJob(j, err, jobID, userID); err != nil {
		return nil, translate("find job", err)
	}
	return j, nil
}

// ExpireUploads fails the jobs still pending that were created before cutoff, each in
// its own transaction under its row lock: a complete that locked the row first has
// queued it, and the janitor leaves it alone.
func (s *JobService) ExpireUploads(ctx context.Context, cutoff time.Time, reason string) ([]int64, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT j.id, coalesce(v.id, 0) FROM jobs j LEFT JOIN videos v ON v.job_id = j.id
		WHERE j.status = 'pending' AND j.created_at < $1 ORDER BY j.id LIMIT 1000`, cutoff)
	if err != nil {
		return nil, translate("find expired uploads", err)
	}
	type pair struct{ job, video int64 }
	pairs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pair, error) {
		var p pair
		return p, r.Scan(&p.job, &p.video)
	})
	if err != nil {
		return nil, translate("find expired uploads", err)
	}
	var ids []int64
	for _, p := range pairs {
		if s.testHook != nil {
			s.testHook("expire", p.job)
		}
		expired := false
		err := s.inTx(ctx, "expire upload "+strconv.FormatInt(p.job, 10), func(tx pgx.Tx) error {
			j, err := lockJob(ctx, tx, p.job)
			if err != nil || j.status != videoforge.JobPending {
				return err
			}
			expired = true
			return failLocked(ctx, tx, p.job, p.video, reason)
		})
		if err != nil {
			return ids, err
		}
		if expired {
			ids = append(ids, p.job)
		}
	}
	return ids, nil
}
