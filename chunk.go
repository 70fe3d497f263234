package videoforge

import (
	"context"
	"time"
)

// A long source is encoded in chunks spread over the fleet: the attempt holding the
// job splits it (SplitJob), sends a queue message per chunk, and any worker claims a
// chunk, encodes it and completes it; the attempt stitches the chunks once all are
// done and completes the job as usual. Chunks belong to one attempt of a job: a newer
// attempt splits anew, and the chunks of a superseded one can no longer be claimed or
// completed.

// ChunkClaim is one worker's hold on a chunk. Claim fences it, as an attempt's token
// fences a job: renewing and completing are accepted only with the chunk's current
// claim, so that a worker that lost the chunk (paused past its lease, a duplicate
// delivery) changes nothing, and its output is never the chunk's.
type ChunkClaim struct {
	JobID   int64
	VideoID int64
	Token   int64 // the attempt whose chunk it is
	Index   int   // 0 for the first chunk
	Claim   int64 // grows by one per claim of the chunk, from 1
	// Task is what the attempt recorded of the chunk when it split the job (what to
	// encode), and Source the job's sealed source: a chunk's queue message only names
	// the chunk, so that a message cannot make a worker read or encode anything else.
	Task   []byte
	Source Source
}

// Chunk is the state of one chunk of an attempt.
type Chunk struct {
	Index int
	Done  bool
	// Claim is the claim whose output is the chunk's when Done; otherwise the latest
	// claim, 0 when it was never claimed.
	Claim int64
	Held  bool // not done, and a claim's lease has not run out
}

// ErrChunkHeld is the ECONFLICT of ClaimChunk for a chunk that a live claim holds.
var ErrChunkHeld = &Error{Code: ECONFLICT, Message: "a live claim holds the chunk"}

// ChunkService is the catalog's side of chunked jobs. Like JobService, every method
// may be called again with the same arguments and then changes nothing more; the
// errors are ECONFLICT for a superseded claim or attempt or a finished job,
// ENOTFOUND for a deleted video, and otherwise outages worth retrying.
type ChunkService interface {
	// SplitJob records that the attempt encodes its ladder in len(tasks) chunks,
	// numbered from 0, none claimed, chunk i described by tasks[i] (handed to whoever
	// claims it). Called again with as many tasks, it changes nothing; with another
	// number it is EINVALID. There must be at least one task.
	SplitJob(ctx context.Context, a *Attempt, tasks [][]byte) error
	// ClaimChunk claims the chunk index of attempt token of job jobID for lease: a
	// chunk not done and not held by a live claim. With index < 0 it claims the
	// lowest such chunk of the attempt. It returns nil and no error when there is
	// nothing to claim: the chunk is done (index < 0: every chunk is done or held),
	// the attempt is no longer the job's current one, the job is not processing, or
	// its video was deleted. For index >= 0 and a chunk a live claim holds, it is
	// ErrChunkHeld.
	ClaimChunk(ctx context.Context, jobID, token int64, index int, lease time.Duration) (*ChunkClaim, error)
	// RenewChunk extends the claim's lease by lease from now. ECONFLICT when the claim
	// is not the chunk's current one, the chunk is done, or the attempt is superseded.
	RenewChunk(ctx context.Context, c *ChunkClaim, lease time.Duration) error
	// CompleteChunk marks the chunk done with the claim's output, even when its
	// lease ran out, as long as no other claim took the chunk since. Called again for
	// a claim that completed it, it returns nil. ECONFLICT when another claim holds
	// or completed the chunk, or the attempt is superseded.
	CompleteChunk(ctx context.Context, c *ChunkClaim) error
	// ReleaseChunk ends the claim's lease, so that the chunk can be claimed again at
	// once (its encode failed or its worker stops). Nothing happens when the claim
	// is not the chunk's current one or the chunk is done.
	ReleaseChunk(ctx context.Context, c *ChunkClaim) error
	// Chunks returns the chunks of attempt token of job jobID, by index; none when it
	// was not split.
	Chunks(ctx context.Context, jobID, token int64) ([]Chunk, error)
}
