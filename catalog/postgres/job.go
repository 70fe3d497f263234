package postgres

import (
	"context"
	"errors"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge"
)

// JobService implements videoforge.JobService on PostgreSQL. Each method locks the
// job's row first, so that two workers holding the same message (a visibility timeout
// that ran out mid-job) take turns, and the second sees what the first did.
type JobService struct {
	db *DB
}

var _ videoforge.JobService = (*JobService)(nil)

// NewJobService returns the job store over db.
func NewJobService(db *DB) *JobService {
	return &JobService{db: db}
}

// lockJob locks the job's row and returns its status.
func lockJob(ctx context.Context, tx pgx.Tx, jobID int64) (videoforge.JobStatus, error) {
	var status videoforge.JobStatus
	err := tx.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1 FOR UPDATE`, jobID).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", videoforge.Errorf(videoforge.ENOTFOUND, "job %d not found", jobID)
	}
	return status, err
}

// lockJobVideo locks the video of the job for the rest of the transaction; ENOTFOUND
// when it was deleted.
func lockJobVideo(ctx context.Context, tx pgx.Tx, jobID, videoID int64) error {
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM videos WHERE id = $1 AND job_id = $2 FOR UPDATE`, videoID, jobID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return videoforge.Errorf(videoforge.ENOTFOUND, "video %d of job %d not found", videoID, jobID)
	}
	return err
}

func (s *JobService) inTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	return translate(op, pgx.BeginFunc(ctx, s.db.pool, fn))
}

// StartJob marks the job processing, counts the attempt and marks the video
// processing (with its catalog event when that changes its status).
func (s *JobService) StartJob(ctx context.Context, jobID, videoID int64) (bool, error) {
	started := false
	err := s.inTx(ctx, "start job "+strconv.FormatInt(jobID, 10), func(tx pgx.Tx) error {
		status, err := lockJob(ctx, tx, jobID)
		if err != nil {
			return err
		}
		if status == videoforge.JobCompleted || status == videoforge.JobFailed {
			return nil
		}
		if err := lockJobVideo(ctx, tx, jobID, videoID); videoforge.ErrorCode(err) == videoforge.ENOTFOUND {
			return nil
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE jobs SET status = 'processing', attempts = attempts + 1, progress = 0,
			updated_at = now() WHERE id = $1`, jobID); err != nil {
			return err
		}
		v, err := scanVideo(tx.QueryRow(ctx, `UPDATE videos SET status = 'processing', version = version + 1,
			updated_at = now() WHERE id = $1 AND status <> 'processing' RETURNING `+videoColumns, videoID))
		if err == nil {
			if err := loadRenditions(ctx, tx, v); err != nil {
				return err
			}
			if err := writeEvent(ctx, tx, videoforge.EventUpdated, v); err != nil {
				return err
			}
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		started = true
		return nil
	})
	return started, err
}

// UpdateJobProgress records the job's progress while it is processing.
func (s *JobService) UpdateJobProgress(ctx context.Context, jobID, videoID int64, progress float64) error {
	progress = min(max(progress, 0), 100)
	tag, err := s.db.pool.Exec(ctx, `UPDATE jobs SET progress = $2, updated_at = now()
		WHERE id = $1 AND status = 'processing' AND EXISTS (SELECT 1 FROM videos WHERE id = $3 AND job_id = $1)`,
		jobID, progress, videoID)
	if err != nil {
		return translate("update job progress", err)
	}
	if tag.RowsAffected() == 0 {
		return videoforge.Errorf(videoforge.ENOTFOUND, "job %d is not processing, or its video %d is gone", jobID, videoID)
	}
	return nil
}

// CompleteJob commits a job's results: the video ready with its metadata and ladder,
// its version one more, its updated event in the outbox, the job completed. When the
// job is already completed nothing changes and the video is returned as it is.
func (s *JobService) CompleteJob(ctx context.Context, jobID, videoID int64, r videoforge.JobResult) (*videoforge.Video, error) {
	var v *videoforge.Video
	err := s.inTx(ctx, "complete job "+strconv.FormatInt(jobID, 10), func(tx pgx.Tx) error {
		status, err := lockJob(ctx, tx, jobID)
		if err != nil {
			return err
		}
		if err := lockJobVideo(ctx, tx, jobID, videoID); err != nil {
			return err
		}
		if status == videoforge.JobCompleted {
			v, err = scanVideo(tx.QueryRow(ctx, `SELECT `+videoColumns+` FROM videos WHERE id = $1`, videoID))
			if err != nil {
				return err
			}
			return loadRenditions(ctx, tx, v)
		}
		var audio *string
		if r.AudioCodec != "" {
			audio = &r.AudioCodec
		}
		v, err = scanVideo(tx.QueryRow(ctx, `UPDATE videos SET status = 'ready', duration = $2, resolution = $3,
				video_codec = $4, audio_codec = $5, file_size = $6, thumbnail_url = $7,
				s3_key = coalesce(nullif($8, ''), s3_key), version = version + 1, updated_at = now()
			WHERE id = $1 RETURNING `+videoColumns,
			videoID, r.Duration, r.Resolution, r.VideoCodec, audio, r.FileSize, r.ThumbnailURL, r.S3Key))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM renditions WHERE video_id = $1`, videoID); err != nil {
			return err
		}
		if err := insertRenditions(ctx, tx, videoID, r.Renditions); err != nil {
			return err
		}
		if err := loadRenditions(ctx, tx, v); err != nil {
			return err
		}
		if err := writeEvent(ctx, tx, videoforge.EventUpdated, v); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE jobs SET status = 'completed', progress = 100, error = NULL, updated_at = now()
			WHERE id = $1`, jobID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// FailJob marks the job failed with the reason and its video failed (with its event),
// unless the job is already completed or failed.
func (s *JobService) FailJob(ctx context.Context, jobID, videoID int64, reason string) error {
	return s.inTx(ctx, "fail job "+strconv.FormatInt(jobID, 10), func(tx pgx.Tx) error {
		status, err := lockJob(ctx, tx, jobID)
		if err != nil {
			return err
		}
		if status == videoforge.JobCompleted || status == videoforge.JobFailed {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE jobs SET status = 'failed', error = $2, updated_at = now() WHERE id = $1`,
			jobID, reason); err != nil {
			return err
		}
		v, err := scanVideo(tx.QueryRow(ctx, `UPDATE videos SET status = 'failed', version = version + 1,
			updated_at = now() WHERE id = $1 AND job_id = $2 RETURNING `+videoColumns, videoID, jobID))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // the video was deleted; the job keeps the reason
		} else if err != nil {
			return err
		}
		if err := loadRenditions(ctx, tx, v); err != nil {
			return err
		}
		return writeEvent(ctx, tx, videoforge.EventUpdated, v)
	})
}

// CreateJob inserts a job and sets its ID and times.
func (s *JobService) CreateJob(ctx context.Context, j *videoforge.Job) error {
	if j.Status == "" {
		j.Status = videoforge.JobPending
	}
	err := s.db.pool.QueryRow(ctx, `INSERT INTO jobs (user_id, status, source_key) VALUES ($1, $2, $3)
		RETURNING id, created_at, updated_at`, j.UserID, j.Status, j.SourceKey).Scan(&j.ID, &j.CreatedAt, &j.UpdatedAt)
	return translate("create job", err)
}

// FindJobByID returns a job.
func (s *JobService) FindJobByID(ctx context.Context, id int64) (*videoforge.Job, error) {
	var j videoforge.Job
	var src *string
	err := s.db.pool.QueryRow(ctx, `SELECT id, user_id, status, progress, error, source_key, attempts, created_at, updated_at
		FROM jobs WHERE id = $1`, id).Scan(&j.ID, &j.UserID, &j.Status, &j.Progress, &j.Error, &src, &j.Attempts, &j.CreatedAt, &j.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, videoforge.Errorf(videoforge.ENOTFOUND, "job %d not found", id)
	} else if err != nil {
		return nil, translate("find job", err)
	}
	if src != nil {
		j.SourceKey = *src
	}
	return &j, nil
}
