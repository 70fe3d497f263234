package videoforge

import (
	"context"
	"time"
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
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// JobMessage is the body of a job queue message: which job, for which video, from which
// source object (uploads/<jobId>/source).
type JobMessage struct {
	JobID     int64  `json:"jobId"`
	VideoID   int64  `json:"videoId"`
	SourceKey string `json:"sourceKey"`
}

// JobResult is what a finished job commits to the catalog.
type JobResult struct {
	Duration     float64 // seconds
	Resolution   string  // the source's, e.g. "1920x1080"
	VideoCodec   string  // the source's, e.g. "h264"
	AudioCodec   string  // the source's; "" without audio
	FileSize     int64   // bytes of the source
	ThumbnailURL string  // object key of the thumbnail
	S3Key        string  // the video's folder, videos/<id>
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

// JobService is the catalog's side of transcoding jobs. Every method may be called
// again for the same job (a queue message handled twice) and then changes nothing more.
type JobService interface {
	// StartJob marks the job processing and counts the attempt. It returns false,
	// with no change, when there is nothing left to do: the job is completed or
	// failed, or its video was deleted.
	StartJob(ctx context.Context, jobID, videoID int64) (bool, error)
	// UpdateJobProgress records how far the job is, in percent. It is ENOTFOUND when
	// the video was deleted meanwhile, so that the worker stops.
	UpdateJobProgress(ctx context.Context, jobID, videoID int64, progress float64) error
	// CompleteJob commits the results in one transaction: the video becomes ready
	// with its metadata and renditions, its version grows, its catalog event is
	// written, and the job is completed. A job already completed is left as it is.
	CompleteJob(ctx context.Context, jobID, videoID int64, r JobResult) (*Video, error)
	// FailJob marks the job and its video failed with the reason, unless the job is
	// already completed.
	FailJob(ctx context.Context, jobID, videoID int64, reason string) error
}
