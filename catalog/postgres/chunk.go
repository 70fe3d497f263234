package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge"
)

// The chunk methods of JobService implement videoforge.ChunkService on the job_chunks
// table. Every one but ReleaseChunk and Chunks locks the job's row first, as the job
// methods do: the chunk operations of one job take turns (they are short next to
// encoding a chunk), no two claims can take the same chunk, and an attempt cannot be
// superseded half-way through one of them. Leases are the database's time, never
// the worker's clock.
//
// Choices the interface leaves open:
//   - A chunk that does not exist (an index past the last, or an attempt that never
//     split) has nothing to claim: ClaimChunk returns nil, nil.
//   - A deleted video is ENOTFOUND for SplitJob, RenewChunk and CompleteChunk, as for
//     UpdateJobProgress and CompleteJob; ClaimChunk returns nil, nil.
//   - A new split of a job deletes the chunks of its older attempts: they can no
//     longer be claimed or completed, so nobody needs them.
//   - CompleteChunk repeated for the claim that completed the chunk is nil even when
//     the job has moved on since (its attempt stitched and completed it), as long as
//     the chunk's row is there; once a new attempt split the job it is ECONFLICT.

var _ videoforge.ChunkService = (*JobService)(nil)

// chunkRow is what the chunk methods read of a locked chunk.
type chunkRow struct {
	videoID int64
	claims  int64
	done    bool
	live    bool // a claim's lease has not run out
}

// lockChunk locks the chunk's row and reads it; nil when there is no such chunk.
func lockChunk(ctx context.Context, tx pgx.Tx, jobID, token int64, index int) (*chunkRow, error) {
	var c chunkRow
	err := tx.QueryRow(ctx, `SELECT video_id, claims, done, coalesce(lease_until > now(), false)
		FROM job_chunks WHERE job_id = $1 AND token = $2 AND idx = $3 FOR UPDATE`, jobID, token, index).
		Scan(&c.videoID, &c.claims, &c.done, &c.live)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return &c, err
}

// jobVideoExists reports whether the job's video is still there. Under the job's row
// lock it stays there until the transaction ends, since DeleteVideo locks the job's
// row first; so it does not lock the video's row, which viewers update.
func jobVideoExists(ctx context.Context, tx pgx.Tx, jobID, videoID int64) (bool, error) {
	var ok bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM videos WHERE id = $1 AND job_id = $2)`, videoID, jobID).Scan(&ok)
	return ok, err
}

// lockChunkOfClaim locks the job and the claim's chunk for RenewChunk and
// CompleteChunk: ENOTFOUND when the video was deleted, ECONFLICT when the chunk does
// not exist. The chunk is nil when the job is not at the claim's attempt (an ECONFLICT
// error is returned with it) so that CompleteChunk can still recognise its repeat.
func lockChunkOfClaim(ctx context.Context, tx pgx.Tx, c *videoforge.ChunkClaim) (*chunkRow, error) {
	j, err := lockJob(ctx, tx, c.JobID)
	if err != nil {
		return nil, err
	}
	if ok, err := jobVideoExists(ctx, tx, c.JobID, c.VideoID); err != nil {
		return nil, err
	} else if !ok {
		return nil, videoforge.Errorf(videoforge.ENOTFOUND, "video %d of job %d not found", c.VideoID, c.JobID)
	}
	ch, err := lockChunk(ctx, tx, c.JobID, c.Token, c.Index)
	if err != nil {
		return nil, err
	} else if ch == nil {
		return nil, videoforge.Errorf(videoforge.ECONFLICT, "job %d, attempt %d has no chunk %d", c.JobID, c.Token, c.Index)
	}
	return ch, j.current(&videoforge.Attempt{JobID: c.JobID, VideoID: c.VideoID, Token: c.Token})
}

// SplitJob records the attempt's chunks; see videoforge.ChunkService.
func (s *JobService) SplitJob(ctx context.Context, a *videoforge.Attempt, tasks [][]byte) error {
	n := len(tasks)
	if n < 1 || n > math.MaxInt32 {
		return videoforge.Errorf(videoforge.EINVALID, "attempt %d of job %d splits in %d chunks", a.Token, a.JobID, n)
	}
	return s.inTx(ctx, "split job "+strconv.FormatInt(a.JobID, 10), func(tx pgx.Tx) error {
		j, err := lockJob(ctx, tx, a.JobID)
		if err != nil {
			return err
		}
		if ok, err := jobVideoExists(ctx, tx, a.JobID, a.VideoID); err != nil {
			return err
		} else if !ok {
			return videoforge.Errorf(videoforge.ENOTFOUND, "video %d of job %d not found", a.VideoID, a.JobID)
		}
		if err := j.current(a); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM job_chunks WHERE job_id = $1 AND token = $2`,
			a.JobID, a.Token).Scan(&have); err != nil {
			return err
		}
		switch {
		case have == n:
			return nil // a repeated call
		case have > 0:
			return videoforge.Errorf(videoforge.EINVALID, "attempt %d of job %d is split in %d chunks, not %d",
				a.Token, a.JobID, have, n)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM job_chunks WHERE job_id = $1 AND token <> $2`, a.JobID, a.Token); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO job_chunks (job_id, token, idx, video_id, task)
			SELECT $1, $2, i - 1, $3, t FROM unnest($4::bytea[]) WITH ORDINALITY AS u(t, i)`, a.JobID, a.Token, a.VideoID, tasks)
		return err
	})
}

// ClaimChunk claims a chunk of the attempt; see videoforge.ChunkService.
func (s *JobService) ClaimChunk(ctx context.Context, jobID, token int64, index int, lease time.Duration) (*videoforge.ChunkClaim, error) {
	if index > math.MaxInt32 {
		return nil, nil // no such chunk
	}
	var c *videoforge.ChunkClaim
	err := s.inTx(ctx, "claim chunk of job "+strconv.FormatInt(jobID, 10), func(tx pgx.Tx) error {
		c = nil // a retried transaction starts over
		j, err := lockJob(ctx, tx, jobID)
		if videoforge.ErrorCode(err) == videoforge.ENOTFOUND {
			return nil
		} else if err != nil {
			return err
		}
		if j.status != videoforge.JobProcessing || j.attempts != token {
			return nil
		}
		var videoID int64
		if index >= 0 {
			ch, err := lockChunk(ctx, tx, jobID, token, index)
			if err != nil || ch == nil || ch.done {
				return err
			}
			if ch.live {
				return fmt.Errorf("job %d, attempt %d, chunk %d, claim %d: %w", jobID, token, index, ch.claims,
					videoforge.ErrChunkHeld)
			}
			videoID = ch.videoID
		} else {
			// The job's row lock keeps other claims out, so FOR UPDATE needs no SKIP LOCKED.
			err := tx.QueryRow(ctx, `SELECT idx, video_id FROM job_chunks
				WHERE job_id = $1 AND token = $2 AND NOT done AND (lease_until IS NULL OR lease_until <= now())
				ORDER BY idx LIMIT 1 FOR UPDATE`, jobID, token).Scan(&index, &videoID)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			} else if err != nil {
				return err
			}
		}
		// DeleteVideo fails the job, so the status check above already answers for a
		// deleted video; this is in case a video goes without its job being failed.
		if ok, err := jobVideoExists(ctx, tx, jobID, videoID); err != nil || !ok {
			return err
		}
		var claim int64
		var task []byte
		if err := tx.QueryRow(ctx, `UPDATE job_chunks SET claims = claims + 1, lease_until = now() + make_interval(secs => $4)
			WHERE job_id = $1 AND token = $2 AND idx = $3 RETURNING claims, task`,
			jobID, token, index, seconds(lease)).Scan(&claim, &task); err != nil {
			return err
		}
		c = &videoforge.ChunkClaim{JobID: jobID, VideoID: videoID, Token: token, Index: index, Claim: claim, Task: task, Source: j.source}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// RenewChunk extends the claim's lease; see videoforge.ChunkService.
func (s *JobService) RenewChunk(ctx context.Context, c *videoforge.ChunkClaim, lease time.Duration) error {
	return s.inTx(ctx, "renew chunk of job "+strconv.FormatInt(c.JobID, 10), func(tx pgx.Tx) error {
		ch, err := lockChunkOfClaim(ctx, tx, c)
		if err != nil {
			return err
		}
		if ch.done || ch.claims != c.Claim {
			return lostChunk(c, ch)
		}
		_, err = tx.Exec(ctx, `UPDATE job_chunks SET lease_until = now() + make_interval(secs => $4)
			WHERE job_id = $1 AND token = $2 AND idx = $3`, c.JobID, c.Token, c.Index, seconds(lease))
		return err
	})
}

// CompleteChunk marks the claim's chunk done; see videoforge.ChunkService.
func (s *JobService) CompleteChunk(ctx context.Context, c *videoforge.ChunkClaim) error {
	return s.inTx(ctx, "complete chunk of job "+strconv.FormatInt(c.JobID, 10), func(tx pgx.Tx) error {
		ch, err := lockChunkOfClaim(ctx, tx, c)
		if ch != nil && ch.done && ch.claims == c.Claim {
			return nil // a repeated call
		} else if err != nil {
			return err
		}
		if ch.done || ch.claims != c.Claim {
			return lostChunk(c, ch)
		}
		_, err = tx.Exec(ctx, `UPDATE job_chunks SET done = true, lease_until = NULL
			WHERE job_id = $1 AND token = $2 AND idx = $3`, c.JobID, c.Token, c.Index)
		return err
	})
}

// lostChunk is the ECONFLICT of a claim that is no longer the chunk's.
func lostChunk(c *videoforge.ChunkClaim, ch *chunkRow) error {
	state := "held"
	if ch.done {
		state = "done"
	}
	return videoforge.Errorf(videoforge.ECONFLICT, "claim %d of chunk %d of job %d, attempt %d, lost it: the chunk is %s by claim %d",
		c.Claim, c.Index, c.JobID, c.Token, state, ch.claims)
}

// ReleaseChunk ends the claim's lease; see videoforge.ChunkService. It needs no job
// lock: its one statement changes nothing once another claim took the chunk or it
// is done, as PostgreSQL checks the row again after waiting for its lock.
func (s *JobService) ReleaseChunk(ctx context.Context, c *videoforge.ChunkClaim) error {
	_, err := s.db.pool.Exec(ctx, `UPDATE job_chunks SET lease_until = NULL
		WHERE job_id = $1 AND token = $2 AND idx = $3 AND claims = $4 AND NOT done`, c.JobID, c.Token, c.Index, c.Claim)
	return translate("release chunk", err)
}

// Chunks returns the attempt's chunks; see videoforge.ChunkService.
func (s *JobService) Chunks(ctx context.Context, jobID, token int64) ([]videoforge.Chunk, error) {
	rows, err := s.db.pool.Query(ctx, `SELECT idx, done, claims, NOT done AND coalesce(lease_until > now(), false)
		FROM job_chunks WHERE job_id = $1 AND token = $2 ORDER BY idx`, jobID, token)
	if err != nil {
		return nil, translate("list chunks", err)
	}
	chunks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (videoforge.Chunk, error) {
		var c videoforge.Chunk
		err := r.Scan(&c.Index, &c.Done, &c.Claim, &c.Held)
		return c, err
	})
	if err != nil {
		return nil, translate("list chunks", err)
	}
	return chunks, nil
}
