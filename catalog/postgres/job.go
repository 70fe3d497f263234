package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge"
)

// JobService implements videoforge.JobService on PostgreSQL. Each method locks the
// job's row first, so that two workers holding the same message take turns and the
// second sees what the first did; the row's attempts column is the fencing token.
type JobService struct {
	db *DB

	// testHook, when set, runs at the named points with the job's id; tests use it
	// to let a complete race the janitor.
	testHook func(point string, jobID int64)
}

var _ videoforge.JobService = (*JobService)(nil)

// NewJobService returns the job store over db.
func NewJobService(db *DB) *JobService {
	return &JobService{db: db}
}

// jobRow is what the job methods read of a locked job.
type jobRow struct {
	status   videoforge.JobStatus
	attempts int64
	failures int
	live     bool // an attempt's lease has not run out
	source   videoforge.Source
}

// lockJob locks the job's row and reads it.
func lockJob(ctx context.Context, tx pgx.Tx, jobID int64) (*jobRow, error) {
	var j jobRow
	err := tx.QueryRow(ctx, `SELECT status, attempts, failures, coalesce(lease_until > now(), false),
			coalesce(source_key, ''), coalesce(source_etag, ''), coalesce(source_version, ''), coalesce(source_size, 0)
		FROM jobs WHERE id = $1 FOR UPDATE`, jobID).Scan(&j.status, &j.attempts, &j.failures, &j.live,
		&j.source.Key, &j.source.ETag, &j.source.VersionID, &j.source.Size)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, videoforge.Errorf(videoforge.ENOTFOUND, "job %d not found", jobID)
	}
	return &j, err
}

// current checks that a is the attempt holding the job.
func (j *jobRow) current(a *videoforge.Attempt) error {
	if j.status != videoforge.JobProcessing || j.attempts != a.Token {
		return videoforge.Errorf(videoforge.ECONFLICT, "attempt %d of job %d no longer holds it (the job is %s, at attempt %d)",
			a.Token, a.JobID, j.status, j.attempts)
	}
	return nil
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

func seconds(d time.Duration) float64 { return d.Seconds() }

// StartJob takes the job for a new attempt; see videoforge.JobService.
func (s *JobService) StartJob(ctx context.Context, jobID, videoID int64, lease time.Duration) (*videoforge.Attempt, error) {
	var a *videoforge.Attempt
	err := s.inTx(ctx, "start job "+strconv.FormatInt(jobID, 10), func(tx pgx.Tx) error {
		a = nil // a retried transaction starts over
		j, err := lockJob(ctx, tx, jobID)
		if videoforge.ErrorCode(err) == videoforge.ENOTFOUND {
			return nil // a message naming no job: nothing to do
		} else if err != nil {
			return err
		}
		switch {
		case j.status == videoforge.JobProcessing && j.live:
			return fmt.Errorf("job %d, attempt %d: %w", jobID, j.attempts, videoforge.ErrJobHeld)
		case j.status != videoforge.JobQueued && j.status != videoforge.JobProcessing:
			return nil // pending (never completed: no message should exist), completed or failed
		}
		if err := lockJobVideo(ctx, tx, jobID, videoID); videoforge.ErrorCode(err) == videoforge.ENOTFOUND {
			_, err := tx.Exec(ctx, `UPDATE jobs SET status = 'failed', error = 'the video was deleted', lease_until = NULL,
				updated_at = now() WHERE id = $1`, jobID)
			return err
		} else if err != nil {
			return err
		}
		var token int64
		if err := tx.QueryRow(ctx, `UPDATE jobs SET status = 'processing', attempts = attempts + 1, progress = 0,
			lease_until = now() + make_interval(secs => $2), updated_at = now() WHERE id = $1 RETURNING attempts`,
			jobID, seconds(lease)).Scan(&token); err != nil {
			return err
		}
		// A video that plays (ready with the renditions an earlier attempt published)
		// stays ready while this attempt works.
		v, err := scanVideo(tx.QueryRow(ctx, `UPDATE videos SET status = 'processing', version = version + 1,
			updated_at = now() WHERE id = $1 AND status NOT IN ('processing', 'ready') RETURNING `+videoColumns, videoID))
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
		a = &videoforge.Attempt{JobID: jobID, VideoID: videoID, Token: token, Failures: j.failures, Source: j.source}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// UpdateJobProgress records the attempt's progress and renews its lease.
func (s *JobService) UpdateJobProgress(ctx context.Context, a *videoforge.Attempt, progress float64, lease time.Duration) error {
	if progress >= 0 {
		progress = min(progress, 100)
	}
	tag, err := s.db.pool.Exec(ctx, `UPDATE jobs SET progress = CASE WHEN $3 < 0 THEN progress ELSE $3 END,
			lease_until = now() + make_interval(secs => $4), updated_at = now()
		WHERE id = $1 AND attempts = $2 AND status = 'processing'
			AND EXISTS (SELECT 1 FROM videos WHERE id = $5 AND job_id = $1)`,
		a.JobID, a.Token, progress, seconds(lease), a.VideoID)
	if err != nil {
		return translate("update job progress", err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	var videoExists bool
	if err := s.db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM videos WHERE id = $1 AND job_id = $2)`,
		a.VideoID, a.JobID).Scan(&videoExists); err != nil {
		return translate("update job progress", err)
	}
	if !videoExists {
		return videoforge.Errorf(videoforge.ENOTFOUND, "video %d of job %d is gone", a.VideoID, a.JobID)
	}
	return videoforge.Errorf(videoforge.ECONFLICT, "attempt %d of job %d no longer holds it", a.Token, a.JobID)
}

// CompleteJob commits an attempt's results: the video ready with its metadata and
// its whole ladder in the attempt's folder, its version one more, its updated event in
// the outbox, the job completed. Only the current attempt may commit; a repeated call
// of the attempt that committed returns the video as it is.
func (s *JobService) CompleteJob(ctx context.Context, a *videoforge.Attempt, r videoforge.JobResult) (*videoforge.Video, error) {
	return s.commit(ctx, "complete job", a, r, true)
}

// PublishRenditions commits the renditions the attempt has finished so far: the video
// ready with them (playable) and its ladder not complete, its version one more, its
// updated event in the outbox; the job stays processing, counting them. A repeated
// call with what is committed already changes nothing and returns the video as it is.
// Without a rendition there is nothing to play: EINVALID.
func (s *JobService) PublishRenditions(ctx context.Context, a *videoforge.Attempt, r videoforge.JobResult) (*videoforge.Video, error) {
	if len(r.Renditions) == 0 {
		return nil, videoforge.Errorf(videoforge.EINVALID, "attempt %d of job %d publishes no rendition", a.Token, a.JobID)
	}
	return s.commit(ctx, "publish renditions of job", a, r, false)
}

// commit is CompleteJob (complete) and PublishRenditions: it locks the job and its
// video, checks that a holds the job, makes the video ready with r's metadata, folder
// and renditions (replacing the ones it had) and its ladder complete or not, writes
// its updated event, and completes the job or records how many renditions are done.
func (s *JobService) commit(ctx context.Context, op string, a *videoforge.Attempt, r videoforge.JobResult, complete bool) (*videoforge.Video, error) {
	var v *videoforge.Video
	err := s.inTx(ctx, op+" "+strconv.FormatInt(a.JobID, 10), func(tx pgx.Tx) error {
		j, err := lockJob(ctx, tx, a.JobID)
		if err != nil {
			return err
		}
		if err := lockJobVideo(ctx, tx, a.JobID, a.VideoID); err != nil {
			return err
		}
		if complete && j.status == videoforge.JobCompleted && j.attempts == a.Token {
			v, err = readVideo(ctx, tx, a.VideoID)
			return err
		}
		if err := j.current(a); err != nil {
			return err
		}
		if !complete {
			if v, err = readVideo(ctx, tx, a.VideoID); err != nil {
				return err
			}
			if published(v, r) {
				return nil
			}
		}
		var audio *string
		if r.AudioCodec != "" {
			audio = &r.AudioCodec
		}
		v, err = scanVideo(tx.QueryRow(ctx, `UPDATE videos SET status = 'ready', duration = $2, resolution = $3,
				video_codec = $4, audio_codec = $5, file_size = $6, thumbnail_url = coalesce(nullif($7, ''), thumbnail_url),
				s3_key = coalesce(nullif($8, ''), s3_key), ladder_complete = $9, version = version + 1, updated_at = now()
			WHERE id = $1 RETURNING `+videoColumns,
			a.VideoID, r.Duration, r.Resolution, r.VideoCodec, audio, r.FileSize, r.ThumbnailURL, r.S3Key, complete))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM renditions WHERE video_id = $1`, a.VideoID); err != nil {
			return err
		}
		if err := insertRenditions(ctx, tx, a.VideoID, r.Renditions); err != nil {
			return err
		}
		if err := loadRenditions(ctx, tx, v); err != nil {
			return err
		}
		if err := writeEvent(ctx, tx, videoforge.EventUpdated, v); err != nil {
			return err
		}
		if complete {
			_, err = tx.Exec(ctx, `UPDATE jobs SET status = 'completed', progress = 100, error = NULL, lease_until = NULL,
				renditions_done = $2, updated_at = now() WHERE id = $1`, a.JobID, len(r.Renditions))
		} else {
			_, err = tx.Exec(ctx, `UPDATE jobs SET renditions_done = $2, updated_at = now() WHERE id = $1`,
				a.JobID, len(r.Renditions))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// readVideo reads the video's row and renditions.
func readVideo(ctx context.Context, tx pgx.Tx, id int64) (*videoforge.Video, error) {
	v, err := scanVideo(tx.QueryRow(ctx, `SELECT `+videoColumns+` FROM videos WHERE id = $1`, id))
	if err != nil {
		return nil, err
	}
	return v, loadRenditions(ctx, tx, v)
}

// published reports whether v is ready with r's renditions, folder and metadata
// already, its ladder not complete: what an early publish of r would make it.
func published(v *videoforge.Video, r videoforge.JobResult) bool {
	same := func(p *string, s string) bool { return p != nil && *p == s }
	switch {
	case v.Status != videoforge.StatusReady || v.LadderComplete:
		return false
	case r.S3Key != "" && v.S3Key != r.S3Key, r.ThumbnailURL != "" && !same(v.ThumbnailURL, r.ThumbnailURL):
		return false
	case v.Duration == nil || *v.Duration != r.Duration || !same(v.Resolution, r.Resolution) ||
		!same(v.VideoCodec, r.VideoCodec) || v.FileSize == nil || *v.FileSize != r.FileSize:
		return false
	case (v.AudioCodec == nil) != (r.AudioCodec == "") || r.AudioCodec != "" && *v.AudioCodec != r.AudioCodec:
		return false
	}
	want := slices.Clone(r.Renditions)
	slices.SortFunc(want, func(x, y videoforge.Rendition) int {
		return cmp.Or(cmp.Compare(y.Height, x.Height), cmp.Compare(x.Name, y.Name))
	})
	return slices.Equal(v.Renditions, want)
}

// RetryJob counts a failure of the work and queues the job again, or fails it.
func (s *JobService) RetryJob(ctx context.Context, a *videoforge.Attempt, reason string, maxFailures int) (bool, error) {
	failed := false
	err := s.inTx(ctx, "retry job "+strconv.FormatInt(a.JobID, 10), func(tx pgx.Tx) error {
		failed = false
		j, err := lockJob(ctx, tx, a.JobID)
		if err != nil {
			return err
		}
		if err := j.current(a); err != nil {
			return err
		}
		if j.failures+1 >= maxFailures {
			failed = true
			_, err := tx.Exec(ctx, `UPDATE jobs SET failures = failures + 1 WHERE id = $1`, a.JobID)
			if err != nil {
				return err
			}
			return failLocked(ctx, tx, a.JobID, a.VideoID, reason)
		}
		_, err = tx.Exec(ctx, `UPDATE jobs SET status = 'queued', failures = failures + 1, lease_until = NULL,
			updated_at = now() WHERE id = $1`, a.JobID)
		return err
	})
	return failed, err
}

// ReleaseJob queues the attempt's job again without counting a failure.
func (s *JobService) ReleaseJob(ctx context.Context, a *videoforge.Attempt) error {
	_, err := s.db.pool.Exec(ctx, `UPDATE jobs SET status = 'queued', lease_until = NULL, updated_at = now()
		WHERE id = $1 AND attempts = $2 AND status = 'processing'`, a.JobID, a.Token)
	return translate("release job", err)
}

// FailJob marks the job failed with the reason and its video failed (with its event;
// a video that plays stays ready, see failLocked):
// the attempt's job when a is set, otherwise any job not failed already. A completed
// job, or one held by a live attempt (when a is nil), is ECONFLICT.
func (s *JobService) FailJob(ctx context.Context, jobID, videoID int64, a *videoforge.Attempt, reason string) error {
	return s.inTx(ctx, "fail job "+strconv.FormatInt(jobID, 10), func(tx pgx.Tx) error {
		j, err := lockJob(ctx, tx, jobID)
		if err != nil {
			return err
		}
		if a != nil {
			if j.status == videoforge.JobFailed && j.attempts == a.Token {
				return nil // a repeated call
			}
			if err := j.current(a); err != nil {
				return err
			}
		} else {
			switch {
			case j.status == videoforge.JobFailed:
				return nil
			case j.status == videoforge.JobCompleted:
				return videoforge.Errorf(videoforge.ECONFLICT, "job %d is completed", jobID)
			case j.status == videoforge.JobProcessing && j.live:
				return fmt.Errorf("job %d, attempt %d: %w", jobID, j.attempts, videoforge.ErrJobHeld)
			}
		}
		return failLocked(ctx, tx, jobID, videoID, reason)
	})
}

// failLocked marks the locked job failed and its video failed, with its event; a
// deleted video leaves the reason on the job alone, and a video that plays (ready with
// the renditions an attempt published) stays ready with them, its ladder not complete,
// unchanged and without an event.
func failLocked(ctx context.Context, tx pgx.Tx, jobID, videoID int64, reason string) error {
	if _, err := tx.Exec(ctx, `UPDATE jobs SET status = 'failed', error = $2, lease_until = NULL, updated_at = now()
		WHERE id = $1`, jobID, reason); err != nil {
		return err
	}
	v, err := scanVideo(tx.QueryRow(ctx, `UPDATE videos SET status = 'failed', version = version + 1,
		updated_at = now() WHERE id = $1 AND job_id = $2 AND status <> 'ready' RETURNING `+videoColumns, videoID, jobID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	if err := loadRenditions(ctx, tx, v); err != nil {
		return err
	}
	return writeEvent(ctx, tx, videoforge.EventUpdated, v)
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
	err := s.db.pool.QueryRow(ctx, `SELECT id, user_id, status, progress, error, source_key, attempts, renditions_done,
			created_at, updated_at
		FROM jobs WHERE id = $1`, id).Scan(&j.ID, &j.UserID, &j.Status, &j.Progress, &j.Error, &src, &j.Attempts,
		&j.RenditionsDone, &j.CreatedAt, &j.UpdatedAt)
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
