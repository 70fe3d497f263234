package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge"
)

var _ videoforge.UploadService = (*JobService)(nil)

// CreateUpload inserts a pending job and its uploaded video in one transaction.
func (s *JobService) CreateUpload(ctx context.Context, v *videoforge.Video) (*videoforge.Job, error) {
	v.Status = videoforge.StatusUploaded
	v.S3Key = "uploads/pending" // replaced by the job's source key below
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
		j.SourceKey = videoforge.UploadKey(j.ID)
		if _, err := tx.Exec(ctx, `UPDATE jobs SET source_key = $2 WHERE id = $1`, j.ID, j.SourceKey); err != nil {
			return err
		}
		v.JobID, v.S3Key = &j.ID, j.SourceKey
		err = tx.QueryRow(ctx, `INSERT INTO videos (user_id, job_id, title, description, s3_key, visibility, status)
			VALUES ($1, $2, $3, $4, $5, $6, 'uploaded') RETURNING id, version, created_at, updated_at`,
			v.UserID, v.JobID, v.Title, v.Description, v.S3Key, v.Visibility).Scan(&v.ID, &v.Version, &v.CreatedAt, &v.UpdatedAt)
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

const jobColumns = `id, user_id, status, progress, error, coalesce(source_key, ''), attempts, created_at, updated_at,
	(SELECT v.id FROM videos v WHERE v.job_id = jobs.id ORDER BY v.id LIMIT 1)`

func scanJob(row pgx.Row) (*videoforge.JobView, error) {
	var j videoforge.JobView
	err := row.Scan(&j.ID, &j.UserID, &j.Status, &j.Progress, &j.Error, &j.SourceKey, &j.Attempts, &j.CreatedAt, &j.UpdatedAt, &j.VideoID)
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

// CompleteUpload queues a pending job once; see videoforge.UploadService.
func (s *JobService) CompleteUpload(ctx context.Context, jobID int64, userID string,
	queue func(ctx context.Context, j *videoforge.Job, videoID int64) error) (*videoforge.JobView, error) {
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
		if err := queue(ctx, &j.Job, *j.VideoID); err != nil {
			return err
		}
		out, err = scanJob(tx.QueryRow(ctx, `UPDATE jobs SET status = 'queued', updated_at = now() WHERE id = $1
			RETURNING `+jobColumns, jobID))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FindJob returns the job to its owner.
func (s *JobService) FindJob(ctx context.Context, jobID int64, userID string) (*videoforge.JobView, error) {
	j, err := scanJob(s.db.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, jobID))
	if j, err = ownJob(j, err, jobID, userID); err != nil {
		return nil, translate("find job", err)
	}
	return j, nil
}

// ExpireUploads fails the pending jobs created before cutoff, one by one, so that each
// takes the same path as any failed job (its video failed, with its event).
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
		if err := s.FailJob(ctx, p.job, p.video, reason); err != nil {
			return ids, err
		}
		ids = append(ids, p.job)
	}
	return ids, nil
}
