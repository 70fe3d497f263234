package transcoder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/videoforge/videoforge"
)

// DeadLetterRecheck is how long an unreadable dead letter stays invisible between looks.
const DeadLetterRecheck = time.Hour

// WatchDeadLetters makes Run also watch the dead-letter queue dq. A message lands there
// without its job being marked failed when the worker that had it on its last attempt
// was killed (SIGKILL, lost machine); the watcher marks such a job failed with the
// reason, publishes its failed event and removes the message, whose content the job row
// and the log keep. Messages that name no job stay in the queue for an operator.
// Call it before Run.
func (t *Transcoder) WatchDeadLetters(dq Queue) { t.dead = dq }

func (t *Transcoder) watchDeadLetters(ctx context.Context) {
	for ctx.Err() == nil {
		d, err := t.dead.Receive(ctx)
		if err != nil {
			if ctx.Err() == nil {
				t.log.Warn("dead-letter receive failed", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		if d != nil {
			t.deadLetter(ctx, d)
		}
	}
}

func (t *Transcoder) deadLetter(ctx context.Context, d Delivery) {
	var cm chunkMessage
	msg := &cm.JobMessage
	if err := json.Unmarshal(d.Body(), &cm); err != nil || msg.JobID <= 0 || msg.VideoID <= 0 {
		t.log.Error("unreadable message in the dead-letter queue; leaving it there", "body", truncate(string(d.Body()), 200))
		t.release(d, DeadLetterRecheck)
		return
	}
	log := t.log.With("job", msg.JobID, "video", msg.VideoID)
	if cm.Chunk != nil {
		// The attempt that split the job encodes what no other worker finished; its
		// own failures count against the job.
		log.Warn("a chunk's message reached the dead-letter queue; its attempt encodes the chunk itself", "chunk", cm.Chunk.Index)
		t.ack(log, d)
		return
	}
	reason := fmt.Sprintf("gave up after %d receives of its message: the worker stopped during each attempt", t.cfg.MaxReceives)
	err := t.jobs.FailJob(ctx, msg.JobID, msg.VideoID, nil, reason)
	switch {
	case err == nil:
	case errors.Is(err, videoforge.ErrJobHeld):
		// The lease of the attempt that had the message last has not run out yet, or
		// a live attempt holds the job (this was a duplicate): look again once the
		// lease would have run out.
		log.Info("a dead-lettered job's attempt holds a lease; looking again later", "err", err)
		t.release(d, t.cfg.Visibility)
		return
	case videoforge.ErrorCode(err) == videoforge.ECONFLICT:
		log.Info("a dead-lettered job is completed; dropping the dead letter", "err", err)
		t.ack(log, d)
		return
	case videoforge.ErrorCode(err) == videoforge.ENOTFOUND:
		log.Info("a dead-lettered job no longer exists; dropping the dead letter")
		t.ack(log, d)
		return
	default:
		log.Warn("could not mark a dead-lettered job failed; retrying later", "err", err)
		t.release(d, t.cfg.RetryDelay)
		return
	}
	log.Error("job's message reached the dead-letter queue; job marked failed", "body", string(d.Body()))
	t.m.outcome(outcomeFailed)
	t.publish(*msg, videoforge.JobEventFailed, 0, d.Attempt(), reason)
	t.ack(log, d)
}
