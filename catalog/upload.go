package catalog

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/layout"
)

// UploadLimits bound what an upload may be.
type UploadLimits struct {
	// MaxSize is the largest source accepted, in bytes (UPLOAD_MAX_SIZE).
	MaxSize int64
	// Types are the accepted media types of a source as sniffed from its first bytes
	// (UPLOAD_TYPES); "video/*" accepts any video type. application/octet-stream is
	// what most containers sniff as; ffprobe has the last word on those.
	Types []string
	// URLLifetime is how long an upload URL is valid and an upload may stay
	// incomplete before it is given up and its bytes removed (UPLOAD_URL_TTL).
	URLLifetime time.Duration
}

// DefaultUploadLimits returns the limits used unless told otherwise.
func DefaultUploadLimits() UploadLimits {
	return UploadLimits{MaxSize: 20 << 30, Types: []string{"video/*", "application/octet-stream"}, URLLifetime: time.Hour}
}

// Accepts reports whether a sniffed media type is one of the accepted types.
func (l UploadLimits) Accepts(mediaType string) bool {
	mediaType, _, _ = strings.Cut(mediaType, ";")
	mediaType = strings.TrimSpace(mediaType)
	for _, t := range l.Types {
		if ok, _ := path.Match(t, mediaType); ok {
			return true
		}
	}
	return false
}

// UploadObjects is what the upload routes need of object storage (storage.Store).
type UploadObjects interface {
	// Seal returns the object as it is now (size, entity tag, version), which is
	// what the job will transcode; ENOTFOUND when it does not exist.
	Seal(ctx context.Context, key string) (videoforge.Source, error)
	// Sniff returns the media type of an object's first bytes.
	Sniff(ctx context.Context, key string) (string, error)
	// DeletePrefix removes every object under prefix.
	DeletePrefix(ctx context.Context, prefix string) error
}

// Uploads configures the upload routes (POST /uploads, POST /uploads/{jobId}/complete,
// GET /jobs/{id}) and the removal of a deleted video's objects. Without it those
// routes answer 503.
type Uploads struct {
	Store   videoforge.UploadService
	Jobs    videoforge.JobService // marks rejected uploads failed
	Objects UploadObjects
	// URL returns where the client PUTs a job's source: an S3 presigned PUT in AWS,
	// the embedded media server otherwise.
	URL func(ctx context.Context, jobID int64, key string, expires time.Time) (string, error)
	// Send puts a job's message in the queue, de-duplicated by job and send number
	// where the queue de-duplicates; the job's fencing makes a repeat harmless anyway.
	// It is called only after the job was committed queued.
	Send   func(ctx context.Context, m videoforge.JobMessage) error
	Limits UploadLimits
	// SendGrace is how long a job committed queued may wait for its message before
	// the sweeper sends it (a crash between the commit and the send); Resend, how
	// long a sent message may go without a worker taking the job (and a dead
	// attempt's lease without a new one) before the sweeper sends another, doubling
	// with each one sent. Zero means DefaultSendGrace and DefaultResend.
	SendGrace, Resend time.Duration
	// Abandoned, when set, removes whatever else an upload given up by the janitor
	// left (the partial files of a resumable upload).
	Abandoned func(jobID int64)
}

// Defaults of Uploads.SendGrace and Uploads.Resend.
const (
	DefaultSendGrace = 30 * time.Second
	DefaultResend    = 15 * time.Minute
)

type createUploadBody struct {
	Title       string                 `json:"title"`
	Description *string                `json:"description"`
	Visibility  *videoforge.Visibility `json:"visibility"`
}

func (s *Server) uploads() (*Uploads, error) {
	if s.cfg.Uploads == nil {
		return nil, videoforge.Errorf(videoforge.EUNAVAILABLE, "uploads are not configured on this server")
	}
	return s.cfg.Uploads, nil
}

func (s *Server) createUpload(w http.ResponseWriter, r *http.Request) error {
	user, err := s.requireUser(r)
	if err != nil {
		return err
	}
	up, err := s.uploads()
	if err != nil {
		return err
	}
	var body createUploadBody
	if err := s.decodeBody(w, r, &body); err != nil {
		return err
	}
	vis := videoforge.Public
	if body.Visibility != nil {
		vis = *body.Visibility
	}
	upd := videoforge.VideoUpdate{Title: &body.Title, Description: body.Description, Visibility: &vis}
	if err := ValidateUpdate(&upd); err != nil {
		return err
	}
	v := &videoforge.Video{UserID: user.ID, Title: *upd.Title, Description: upd.Description, Visibility: vis}
	j, err := up.Store.CreateUpload(r.Context(), v)
	if err != nil {
		return err
	}
	expires := j.CreatedAt.Add(up.Limits.URLLifetime).UTC().Truncate(time.Second)
	url, err := up.URL(r.Context(), j.ID, j.SourceKey, expires)
	if err != nil {
		return fmt.Errorf("upload URL: %w", err)
	}
	s.log.Info("upload started", "job", j.ID, "video", v.ID, "user", user.ID)
	writeJSON(w, http.StatusCreated, videoforge.Upload{JobID: j.ID, VideoID: v.ID, UploadURL: url, ExpiresAt: expires})
	return nil
}

// jobRequest reads what every job route needs: the signed-in caller, the upload
// settings and the job id in the path parameter param.
func (s *Server) jobRequest(r *http.Request, param string) (*auth.User, *Uploads, int64, error) {
	user, err := s.requireUser(r)
	if err != nil {
		return nil, nil, 0, err
	}
	up, err := s.uploads()
	if err != nil {
		return nil, nil, 0, err
	}
	id, err := ParseID(r.PathValue(param))
	if err != nil {
		return nil, nil, 0, err
	}
	return user, up, id, nil
}

func (s *Server) completeUpload(w http.ResponseWriter, r *http.Request) error {
	user, up, id, err := s.jobRequest(r, "jobId")
	if err != nil {
		return err
	}
	var rejected error // the upload itself is wrong: the job fails
	var videoID int64
	j, err := up.Store.CompleteUpload(r.Context(), id, user.ID, func(ctx context.Context, j *videoforge.Job, vid int64) (videoforge.Source, error) {
		videoID = vid
		src, err := up.check(ctx, j)
		if c := videoforge.ErrorCode(err); c == videoforge.EINVALID || c == videoforge.ETOOLARGE {
			rejected = err
		}
		return src, err
	})
	if rejected != nil {
		reason := videoforge.ErrorMessage(rejected)
		if ferr := up.Jobs.FailJob(r.Context(), id, videoID, nil, reason); ferr != nil {
			s.log.Error("could not mark a rejected upload failed", "job", id, "err", ferr)
		}
		if derr := up.Objects.DeletePrefix(r.Context(), layout.UploadFolder(id)); derr != nil {
			s.log.Warn("could not remove a rejected upload", "job", id, "err", derr)
		}
		s.log.Info("upload rejected", "job", id, "reason", reason)
	}
	if err != nil {
		return err
	}
	if j.Status == videoforge.JobFailed && j.Error != nil {
		// A repeated complete of a failed upload says why it failed.
		return videoforge.Errorf(videoforge.ECONFLICT, "job %d failed: %s", id, *j.Error)
	}
	if j.Status == videoforge.JobQueued && videoID != 0 {
		// Committed queued just now: its message goes out after the commit, so that a
		// message never names a job that is not queued. A crash or a queue outage
		// here leaves the job to the sweeper (RunJanitor).
		up.send(context.WithoutCancel(r.Context()), s.log, videoforge.JobMessage{JobID: j.ID, VideoID: videoID, SourceKey: j.SourceKey, Send: 1})
	}
	writeJSON(w, http.StatusAccepted, j)
	return nil
}

// send puts one message of a queued job in the queue and records it.
func (up *Uploads) send(ctx context.Context, log *slog.Logger, m videoforge.JobMessage) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := up.Send(ctx, m); err != nil {
		log.Warn("could not send a job's message; the sweeper sends it later", "job", m.JobID, "send", m.Send, "err", err)
		return false
	}
	if err := up.Store.MarkJobSent(ctx, m.JobID, m.Send); err != nil {
		log.Warn("could not record a job's message as sent", "job", m.JobID, "err", err)
	}
	return true
}

// check looks at the uploaded object: present, not empty, within the size limit and
// of an accepted type. It returns the object as sealed for the job.
func (up *Uploads) check(ctx context.Context, j *videoforge.Job) (videoforge.Source, error) {
	src, err := up.Objects.Seal(ctx, j.SourceKey)
	if videoforge.ErrorCode(err) == videoforge.ENOTFOUND {
		return src, videoforge.Errorf(videoforge.ECONFLICT, "nothing was uploaded for job %d yet: PUT the file to its uploadUrl first", j.ID)
	} else if err != nil {
		return src, err
	}
	switch {
	case src.Size == 0:
		return src, videoforge.Errorf(videoforge.EINVALID, "the uploaded file is empty")
	case up.Limits.MaxSize > 0 && src.Size > up.Limits.MaxSize:
		return src, videoforge.Errorf(videoforge.ETOOLARGE, "the uploaded file has %d bytes, more than the limit of %d", src.Size, up.Limits.MaxSize)
	}
	typ, err := up.Objects.Sniff(ctx, j.SourceKey)
	if err != nil {
		return src, err
	}
	if !up.Limits.Accepts(typ) {
		return src, videoforge.Errorf(videoforge.EINVALID, "the uploaded file is %s, not a video", typ)
	}
	return src, nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	user, up, id, err := s.jobRequest(r, "id")
	if err != nil {
		return err
	}
	j, err := up.Store.FindJob(r.Context(), id, user.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// removeVideoObjects removes a deleted video's objects and its upload, logging what
// fails: the video is gone from the catalog either way.
func (s *Server) removeVideoObjects(ctx context.Context, v *videoforge.Video) {
	up := s.cfg.Uploads
	if up == nil {
		return
	}
	prefixes := []string{layout.VideoPrefix(v.ID)}
	if v.JobID != nil {
		prefixes = append(prefixes, layout.UploadFolder(*v.JobID))
	}
	for _, p := range prefixes {
		if err := up.Objects.DeletePrefix(ctx, p); err != nil {
			s.log.Error("could not remove a deleted video's objects", "video", v.ID, "prefix", p, "err", err)
		}
	}
}

// RunJanitor, every interval until ctx ends, gives up the uploads not completed
// within their lifetime (their jobs and videos fail and their bytes are removed) and
// sweeps the queued jobs that have no message: never sent (a crash or a queue outage
// right after complete), lost, or left by an attempt that died with no message to
// bring the job back.
func (up *Uploads) RunJanitor(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		up.expire(ctx, log)
		up.sweep(ctx, log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (up *Uploads) expire(ctx context.Context, log *slog.Logger) {
	ids, err := up.Store.ExpireUploads(ctx, time.Now().Add(-up.Limits.URLLifetime),
		"the upload was not completed within "+up.Limits.URLLifetime.String())
	if err != nil && ctx.Err() == nil {
		log.Warn("upload janitor", "err", err)
	}
	for _, id := range ids {
		if err := up.Objects.DeletePrefix(ctx, layout.UploadFolder(id)); err != nil {
			log.Warn("upload janitor: remove upload", "job", id, "err", err)
		}
		if up.Abandoned != nil {
			up.Abandoned(id)
		}
	}
	if len(ids) > 0 {
		log.Info("gave up uploads never completed", "jobs", ids)
	}
}

func (up *Uploads) sweep(ctx context.Context, log *slog.Logger) {
	grace, resend := up.SendGrace, up.Resend
	if grace <= 0 {
		grace = DefaultSendGrace
	}
	if resend <= 0 {
		resend = DefaultResend
	}
	msgs, err := up.Store.UnsentJobs(ctx, grace, resend, 1000)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("job sweeper", "err", err)
		}
		return
	}
	for _, m := range msgs {
		if !up.send(ctx, log, m) {
			return // the queue is down: the next round tries again
		}
		log.Info("sent a job's message again", "job", m.JobID, "send", m.Send)
	}
}
