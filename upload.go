package videoforge

import (
	"context"
	"strconv"
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

// UploadKey returns the object key of a job's source, uploads/<jobId>/source.
func UploadKey(jobID int64) string {
	return "uploads/" + strconv.FormatInt(jobID, 10) + "/source"
}

// VideoPrefix returns the folder of a video's objects, videos/<id>/.
func VideoPrefix(videoID int64) string {
	return "videos/" + strconv.FormatInt(videoID, 10) + "/"
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
	// and, while it is pending, calls queue and marks it queued; queue's error
	// aborts. A job that is no longer pending is returned unchanged, so that a
	// repeated complete is harmless.
	CompleteUpload(ctx context.Context, jobID int64, userID string, queue func(ctx context.Context, j *Job, videoID int64) error) (*JobView, error)
	// FindJob returns the job if userID owns it (EFORBIDDEN otherwise).
	FindJob(ctx context.Context, jobID int64, userID string) (*JobView, error)
	// ExpireUploads marks failed the pending jobs created before cutoff, with their
	// videos, and returns their ids so that their objects can be removed.
	ExpireUploads(ctx context.Context, cutoff time.Time, reason string) ([]int64, error)
}
