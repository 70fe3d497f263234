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
	// Head returns an object's size; ENOTFOUND when it does not exist.
	Head(ctx context.Context, key string) (int64, error)
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
	// Enqueue sends the job's message (exactly once per job id where the queue
	// de-duplicates; the job's state makes a repeat harmless anyway).
	Enqueue func(ctx context.Context, m videoforge.JobMessage) error
	Limits  UploadLimits
	// Abandoned, when set, removes whatever else an upload given up by the janitor
	// left (the partial files of a resumable upload).
	Abandoned func(jobID int64)
}

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
	j, err := up.Store.CompleteUpload(r.Context(), id, user.ID, func(ctx context.Context, j *videoforge.Job, vid int64) error {
		videoID = vid
		if err := up.check(ctx, j); err != nil {
			if c := videoforge.ErrorCode(err); c == videoforge.EINVALID || c == videoforge.ETOOLARGE {
				rejected = err
			}
			return err
		}
		return up.Enqueue(ctx, videoforge.JobMessage{JobID: j.ID, VideoID: vid, SourceKey: j.SourceKey})
	})
	if rejected != nil {
		reason := videoforge.ErrorMessage(rejected)
		if ferr := up.Jobs.FailJob(r.Context(), id, videoID, reason); ferr != nil {
			s.log.Error("could not mark a rejected upload failed", "job", id, "err", ferr)
		}
		if derr := up.Objects.DeletePrefix(r.Context(), path.Dir(videoforge.UploadKey(id))+"/"); derr != nil {
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
	writeJSON(w, http.StatusAccepted, j)
	return nil
}

// check looks at the uploaded object: present, not empty, within the size limit and
// of an accepted type.
func (up *Uploads) check(ctx context.Context, j *videoforge.Job) error {
	size, err := up.Objects.Head(ctx, j.SourceKey)
	if videoforge.ErrorCode(err) == videoforge.ENOTFOUND {
		return videoforge.Errorf(videoforge.ECONFLICT, "nothing was uploaded for job %d yet: PUT the file to its uploadUrl first", j.ID)
	} else if err != nil {
		return err
	}
	switch {
	case size == 0:
		return videoforge.Errorf(videoforge.EINVALID, "the uploaded file is empty")
	case up.Limits.MaxSize > 0 && size > up.Limits.MaxSize:
		return videoforge.Errorf(videoforge.ETOOLARGE, "the uploaded file has %d bytes, more than the limit of %d", size, up.Limits.MaxSize)
	}
	typ, err := up.Objects.Sniff(ctx, j.SourceKey)
	if err != nil {
		return err
	}
	if !up.Limits.Accepts(typ) {
		return videoforge.Errorf(videoforge.EINVALID, "the uploaded file is %s, not a video", typ)
	}
	return nil
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
	prefixes := []string{videoforge.VideoPrefix(v.ID)}
	if v.JobID != nil {
		prefixes = append(prefixes, path.Dir(videoforge.UploadKey(*v.JobID))+"/")
	}
	for _, p := range prefixes {
		if err := up.Objects.DeletePrefix(ctx, p); err != nil {
			s.log.Error("could not remove a deleted video's objects", "video", v.ID, "prefix", p, "err", err)
		}
	}
}

// RunJanitor gives up, every interval until ctx ends, the uploads not completed
// within their lifetime: their jobs and videos fail and their bytes are removed.
func (up *Uploads) RunJanitor(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ids, err := up.Store.ExpireUploads(ctx, time.Now().Add(-up.Limits.URLLifetime),
			"the upload was not completed within "+up.Limits.URLLifetime.String())
		if err != nil && ctx.Err() == nil {
			log.Warn("upload janitor", "err", err)
		}
		for _, id := range ids {
			if err := up.Objects.DeletePrefix(ctx, path.Dir(videoforge.UploadKey(id))+"/"); err != nil {
				log.Warn("upload janitor: remove upload", "job", id, "err", err)
			}
			if up.Abandoned != nil {
				up.Abandoned(id)
			}
		}
		if len(ids) > 0 {
			log.Info("gave up uploads never completed", "jobs", ids)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
