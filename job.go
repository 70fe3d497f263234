package videoforge

import (
	"context"
	"time"

	"github.com/videoforge/videoforge/layout"
)

// JobStatus is where a transcoding job is in its life.
type JobStatus string

// Job statuses, as in the jobs table.
const (
	JobPending    JobStatus = "pending"    // created; the upload is not complete
	JobQueued     JobStatus = "queued"     // its message is in the job queue
	JobProcessing JobStatus = "processing" // a worker has it
	JobCompleted  JobStatus = "completed"  // results committed; the video is ready
	JobFailed     JobStatus = "failed"     // given up; Error says why
)

// Job is a transcoding job: one upload turned into one video's ladder.
type Job struct {
	ID        int64     `json:"id"`
	UserID    string    `json:"userId"`
	Status    JobStatus `json:"status"`
	Progress  float64   `json:"progress"` // percent
	Error     *string   `json:"error"`    // why it failed
	SourceKey string    `json:"-"`
	Attempts  int       `json:"attempts"`
	// RenditionsDone counts the renditions of the video's ladder committed so far:
	// its video plays as soon as there is one, and the others join as they land.
	RenditionsDone int       `json:"renditionsDone"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

// JobMessage is the body of a job queue message: which job, for which video, from which
// source object (uploads/<jobId>/source). The worker takes the sealed source from the
// job row, not from the message. Send numbers the job's messages (1 for the one sent
// at complete, more for the sweeper's re-sends), so that each has its own queue id.
type JobMessage struct {
	JobID     int64  `json:"jobId"`
	VideoID   int64  `json:"videoId"`
	SourceKey string `json:"sourceKey"`
	Send      int    `json:"send,omitempty"`
	HandBack  int64  `json:"handBack,omitempty"` // the attempt that handed the job back at shutdown
}

// JobResult is what a job commits to the catalog: everything when it completes, or the
// renditions finished so far when it publishes them early (PublishRenditions).
type JobResult struct {
	Duration     float64 // seconds
	Resolution   string  // the source's, e.g. "1920x1080"
	VideoCodec   string  // the source's, e.g. "h264"
	AudioCodec   string  // the source's; "" without audio
	FileSize     int64   // bytes of the source
	ThumbnailURL string  // object key of the thumbnail; "" in an early publish keeps the stored one
	S3Key        string  // the attempt's folder, videos/<id>/a<token>, without the slash
	Renditions   []Rendition
}

// JobEvent is the body of a message on videoforge.jobs.<jobId>.<kind>.
type JobEvent struct {
	JobID      int64     `json:"jobId"`
	VideoID    int64     `json:"videoId"`
	Type       string    `json:"type"`              // one of the JobEvent* kinds
	Progress   float64   `json:"progress"`          // percent, 0–100
	Attempt    int       `json:"attempt,omitempty"` // which receive of the message this is
	Error      string    `json:"error,omitempty"`   // why it failed
	OccurredAt time.Time `json:"occurredAt"`
}

// Source is an upload's object as it was sealed when its complete was accepted: the
// transcoder reads exactly this object, and a changed one (a PUT after complete) is
// refused rather than transcoded.
type Source struct {
	Key       string // uploads/<jobId>/source
	Size      int64  // bytes
	ETag      string // the object's entity tag when sealed
	VersionID string // the object's version in a versioned bucket; "" otherwise
}

// Attempt is one worker's hold on a job. Token fences it: the job's progress,
// completion and failure are accepted only with the current token, so that a worker
// that lost the job (paused past its lease, a duplicate delivery) can change nothing.
type Attempt struct {
	JobID    int64
	VideoID  int64
	Token    int64  // grows by one per attempt; the job's attempts
	Failures int    // failures of the work itself before this attempt
	Source   Source // what to transcode
}

// Folder returns the attempt's own folder of results, videos/<id>/a<token>/: an attempt
// writes nothing anywhere else, so that no attempt overwrites or deletes what
// another one committed.
func (a *Attempt) Folder() string { return layout.AttemptFolder(a.VideoID, a.Token) }

// ErrJobHeld is the ECONFLICT of StartJob and FailJob for a job that a live attempt
// holds: its lease has not run out.
var ErrJobHeld = &Error{Code: ECONFLICT, Message: "a live attempt holds the job"}

// JobService is the catalog's side of transcoding jobs, fenced by attempt tokens.
// Every method may be called again with the same arguments (a retry after an outage)
// and then changes nothing more. Errors whose code is ECONFLICT say that the attempt
// was superseded or the job finished; ENOTFOUND, that the video was deleted; the
// others (EUNAVAILABLE, internal) are outages worth retrying.
type JobService interface {
	// StartJob takes a queued job (or one whose last attempt's lease ran out) for a
	// new attempt held for lease, marks it and its video processing and returns the
	// attempt; a video that plays already (ready with the renditions an earlier
	// attempt published) stays ready while the new attempt works. It returns nil and no error when there is nothing to do: the job is
	// completed, failed, not queued yet, or its video was deleted (the job is then
	// marked failed). While another attempt's lease is alive it is ECONFLICT.
	StartJob(ctx context.Context, jobID, videoID int64, lease time.Duration) (*Attempt, error)
	// UpdateJobProgress records how far the attempt is, in percent, and renews its
	// lease for lease more; a negative progress only renews the lease.
	UpdateJobProgress(ctx context.Context, a *Attempt, progress float64, lease time.Duration) error
	// CompleteJob commits the attempt's results in one transaction: the video becomes
	// ready with its metadata and renditions (the attempt's folder), its version
	// grows, its catalog event is written, its ladder is complete (LadderComplete),
	// and the job is completed with RenditionsDone = len(r.Renditions). Called again
	// for an attempt whose commit landed, it returns the video as it is.
	CompleteJob(ctx context.Context, a *Attempt, r JobResult) (*Video, error)
	// PublishRenditions commits the renditions an attempt has finished so far, before its job
	// completes: the video becomes ready (playable) with them, its folder (S3Key) and
	// metadata from r, LadderComplete false; its version grows and its updated event is written;
	// the job stays processing with RenditionsDone = len(r.Renditions). Fenced by the attempt's
	// token like CompleteJob (a superseded attempt gets ECONFLICT, a deleted video ENOTFOUND).
	// Calling it again with more renditions replaces the set; with the set it has
	// already, it changes nothing. Without a rendition it is EINVALID.
	PublishRenditions(ctx context.Context, a *Attempt, r JobResult) (*Video, error)
	// RetryJob records a failure of the work itself: the job is queued again for
	// another attempt, or, with maxFailures reached, failed with the reason (and its
	// video, as FailJob does). It reports whether the job failed for good.
	RetryJob(ctx context.Context, a *Attempt, reason string, maxFailures int) (failed bool, err error)
	// ReleaseJob hands the attempt's job back without counting a failure (a worker
	// shutting down): queued again, its lease ended.
	ReleaseJob(ctx context.Context, a *Attempt) error
	// FailJob marks the job and its video failed with the reason: the attempt's job
	// when a is not nil, otherwise the job jobID. A video that plays (ready with the
	// renditions an attempt published) stays ready with them, its ladder not
	// complete; only the job fails. It is ECONFLICT for a completed
	// job, a superseded attempt, or (a nil) a job a live attempt holds; a job failed
	// already is left as it is.
	FailJob(ctx context.Context, jobID, videoID int64, a *Attempt, reason string) error
}
