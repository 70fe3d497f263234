package videoforge

import (
	"context"
	"time"
)

// Upload is a started upload: the job and the video it created, and where the client
// sends the bytes before it calls the upload's complete route.
type Upload struct {
	JobID     int64     `json:"jobId"`
	VideoID   int64     `json:"videoId"`
	UploadURL string    `json:"uploadUrl"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// JobView is a job as its owner sees it, with the video it makes.
type JobView struct {
	Job
	VideoID *int64 `json:"videoId"` // nil once the video is deleted
}

// UploadService is the catalog's side of uploads: a job and its video created
// together, the upload completed (queued) exactly once, and uploads never completed
// given up after their lifetime.
type UploadService interface {
	// CreateUpload inserts a pending job and v (status uploaded, owned by v.UserID) in
	// one transaction, with the video's created event, and sets v's ID and JobID.
	CreateUpload(ctx context.Context, v *Video) (*Job, error)
	// CompleteUpload locks the job, checks that userID owns it (EFORBIDDEN otherwise)
	// and, while it is pending, calls seal, records the Source it returns and marks
	// the job queued, with no message sent yet; seal's error aborts. A job that is no
	// longer pending is returned unchanged, so that a repeated complete is harmless.
	// The caller then sends the job's message and calls MarkJobSent.
	CompleteUpload(ctx context.Context, jobID int64, userID string, seal func(ctx context.Context, j *Job, videoID int64) (Source, error)) (*JobView, error)
	// MarkJobSent records that the job's message number sends went to the queue.
	MarkJobSent(ctx context.Context, jobID int64, sends int) error
	// UnsentJobs returns up to limit jobs that need their message (again): queued
	// and never sent for longer than grace, sent longer ago than resend times two to
	// the number of earlier sends without a worker taking them, or held by an attempt
	// whose lease ended more than resend ago. Each is returned once per period: the
	// call counts the send it asks for.
	UnsentJobs(ctx context.Context, grace, resend time.Duration, limit int) ([]JobMessage, error)
	// FindJob returns the job if userID owns it (EFORBIDDEN otherwise).
	FindJob(ctx context.Context, jobID int64, userID string) (*JobView, error)
	// ExpireUploads marks failed the jobs still pending that were created before
	// cutoff, with their videos, each under its row lock so that a complete in flight
	// wins or loses as a whole, and returns their ids so that their objects can be
	// removed.
	ExpireUploads(ctx context.Context, cutoff time.Time, reason string) ([]int64, error)
}
