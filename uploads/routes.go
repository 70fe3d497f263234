package uploads

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/telemetry"
	"github.com/videoforge/videoforge/transcoder"
	"github.com/videoforge/videoforge/uploads/tus"
)

// mount adds the upload routes and the tus endpoint to the gallery server.
func (u *Uploads) mount(s *catalog.Server) {
	u.gallery = s
	for prefix, h := range u.tusAt {
		for _, r := range tus.Routes {
			s.Handle(r.Method+" "+prefix+tus.Path+r.Path, h)
		}
		// Creation at the base with a slash too, as tus clients are often told; API
		// Gateway routes the base without one.
		s.Handle("POST "+prefix+tus.Path+"/{$}", h)
	}
	s.HandleAPI(videoforge.Route{Method: "POST", Path: "/uploads"}, func(w http.ResponseWriter, r *http.Request) error {
		return u.createUpload(s, w, r)
	})
	s.HandleAPI(videoforge.Route{Method: "POST", Path: "/uploads/{jobId}/complete"}, func(w http.ResponseWriter, r *http.Request) error {
		return u.completeUpload(s, w, r)
	})
	s.HandleAPI(videoforge.Route{Method: "GET", Path: "/jobs/{id}"}, func(w http.ResponseWriter, r *http.Request) error {
		return u.getJob(s, w, r)
	})
}

type createUploadBody struct {
	Title       string                 `json:"title"`
	Description *string                `json:"description"`
	Visibility  *videoforge.Visibility `json:"visibility"`
}

// createUpload answers POST /uploads: a pending job and its video, and where to PUT
// the file.
func (u *Uploads) createUpload(s *catalog.Server, w http.ResponseWriter, r *http.Request) error {
	user, err := s.User(r)
	if err != nil {
		return err
	}
	var body createUploadBody
	if err := s.DecodeBody(w, r, &body); err != nil {
		return err
	}
	vis := videoforge.Public
	if body.Visibility != nil {
		vis = *body.Visibility
	}
	upd := videoforge.VideoUpdate{Title: &body.Title, Description: body.Description, Visibility: &vis}
	if err := catalog.ValidateUpdate(&upd); err != nil {
		return err
	}
	v := &videoforge.Video{UserID: user.ID, Title: *upd.Title, Description: upd.Description, Visibility: vis}
	j, err := u.cfg.Jobs.CreateUpload(r.Context(), v)
	if err != nil {
		return err
	}
	expires := j.CreatedAt.Add(u.cfg.Limits.URLLifetime).UTC().Truncate(time.Second)
	url, err := u.cfg.URL(r.Context(), j.ID, j.SourceKey, expires)
	if err != nil {
		return fmt.Errorf("upload URL: %w", err)
	}
	u.log.InfoContext(r.Context(), "upload started", telemetry.JobIDKey, j.ID, telemetry.VideoIDKey, v.ID, "user", user.ID)
	catalog.WriteJSON(w, http.StatusCreated, videoforge.Upload{JobID: j.ID, VideoID: v.ID, UploadURL: url, ExpiresAt: expires})
	return nil
}

// jobRequest reads what every job route needs: the signed-in caller and the job id
// in the path parameter param.
func jobRequest(s *catalog.Server, r *http.Request, param string) (*auth.User, int64, error) {
	user, err := s.User(r)
	if err != nil {
		return nil, 0, err
	}
	id, err := catalog.ParseID(r.PathValue(param))
	if err != nil {
		return nil, 0, err
	}
	return user, id, nil
}

// completeUpload answers POST /uploads/{jobId}/complete: the uploaded object is
// checked and sealed, the job committed queued, and then its message sent.
func (u *Uploads) completeUpload(s *catalog.Server, w http.ResponseWriter, r *http.Request) error {
	user, id, err := jobRequest(s, r, "jobId")
	if err != nil {
		return err
	}
	var rejected error // the upload itself is wrong: the job fails
	var videoID int64
	j, err := u.cfg.Jobs.CompleteUpload(r.Context(), id, user.ID, func(ctx context.Context, j *videoforge.Job, vid int64) (videoforge.Source, error) {
		videoID = vid
		src, err := u.check(ctx, j)
		if c := videoforge.ErrorCode(err); c == videoforge.EINVALID || c == videoforge.ETOOLARGE {
			rejected = err
		}
		return src, err
	})
	if rejected != nil {
		reason := videoforge.ErrorMessage(rejected)
		if ferr := u.cfg.Jobs.FailJob(r.Context(), id, videoID, nil, reason); ferr != nil {
			u.log.ErrorContext(r.Context(), "could not mark a rejected upload failed", telemetry.JobIDKey, id, "err", ferr)
		}
		if derr := u.cfg.Objects.DeletePrefix(r.Context(), layout.UploadFolder(id)); derr != nil {
			u.log.WarnContext(r.Context(), "could not remove a rejected upload", telemetry.JobIDKey, id, "err", derr)
		}
		u.log.InfoContext(r.Context(), "upload rejected", telemetry.JobIDKey, id, "reason", reason)
	}
	if err != nil {
		return err
	}
	if j.Status == videoforge.JobFailed && j.Error != nil {
		// A repeated complete of a failed upload says why it failed.
		return videoforge.Errorf(videoforge.ECONFLICT, "job %d failed: %s", id, *j.Error)
	}
	trace.SpanFromContext(r.Context()).SetAttributes(attribute.Int64(telemetry.JobIDKey, id), attribute.Int64(telemetry.VideoIDKey, videoID))
	if j.Status == videoforge.JobQueued && videoID != 0 {
		// Committed queued just now: its message goes out after the commit, so that a
		// message never names a job that is not queued. A crash or a queue outage
		// here leaves the job to the janitor's sweep.
		u.send(context.WithoutCancel(r.Context()), videoforge.JobMessage{JobID: j.ID, VideoID: videoID, SourceKey: j.SourceKey, Send: 1})
	}
	catalog.WriteJSON(w, http.StatusAccepted, j)
	return nil
}

// check looks at the uploaded object: present, not empty, within the size limit and
// of an accepted type. It returns the object as sealed for the job.
func (u *Uploads) check(ctx context.Context, j *videoforge.Job) (videoforge.Source, error) {
	src, err := u.cfg.Objects.Seal(ctx, j.SourceKey)
	if videoforge.ErrorCode(err) == videoforge.ENOTFOUND {
		return src, videoforge.Errorf(videoforge.ECONFLICT, "nothing was uploaded for job %d yet: PUT the file to its uploadUrl first", j.ID)
	} else if err != nil {
		return src, err
	}
	limits := u.cfg.Limits
	switch {
	case src.Size == 0:
		return src, videoforge.Errorf(videoforge.EINVALID, "the uploaded file is empty")
	case limits.MaxSize > 0 && src.Size > limits.MaxSize:
		return src, videoforge.Errorf(videoforge.ETOOLARGE, "the uploaded file has %d bytes, more than the limit of %d", src.Size, limits.MaxSize)
	}
	typ, err := u.cfg.Objects.Sniff(ctx, j.SourceKey)
	if err != nil {
		return src, err
	}
	if !limits.Accepts(typ) {
		return src, videoforge.Errorf(videoforge.EINVALID, "the uploaded file is %s, not a video", typ)
	}
	return src, nil
}

// send puts one message of a queued job in the queue, publishes the job's queued
// event and records the message as sent.
func (u *Uploads) send(ctx context.Context, m videoforge.JobMessage) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := transcoder.Enqueue(ctx, u.cfg.Queue, m); err != nil {
		u.log.WarnContext(ctx, "could not send a job's message; the sweeper sends it later", telemetry.JobIDKey, m.JobID, "send", m.Send,
			"err", fmt.Errorf("enqueue job %d: %w", m.JobID, err))
		return false
	}
	if u.cfg.Events != nil {
		// The queued event is derived; the job row says queued either way.
		_ = u.cfg.Events.PublishJobEvent(ctx, videoforge.JobEvent{JobID: m.JobID, VideoID: m.VideoID,
			Type: videoforge.JobEventQueued, OccurredAt: time.Now().UTC()})
	}
	if err := u.cfg.Jobs.MarkJobSent(ctx, m.JobID, m.Send); err != nil {
		u.log.WarnContext(ctx, "could not record a job's message as sent", telemetry.JobIDKey, m.JobID, "err", err)
	}
	return true
}

// getJob answers GET /jobs/{id}: the caller's job.
func (u *Uploads) getJob(s *catalog.Server, w http.ResponseWriter, r *http.Request) error {
	user, id, err := jobRequest(s, r, "id")
	if err != nil {
		return err
	}
	j, err := u.cfg.Jobs.FindJob(r.Context(), id, user.ID)
	if err != nil {
		return err
	}
	catalog.WriteJSON(w, http.StatusOK, j)
	return nil
}

// removeVideo removes a deleted video's objects and its upload, logging what fails:
// the video is gone from the catalog either way.
func (u *Uploads) removeVideo(ctx context.Context, v *videoforge.Video) {
	prefixes := []string{layout.VideoPrefix(v.ID)}
	if v.JobID != nil {
		prefixes = append(prefixes, layout.UploadFolder(*v.JobID))
	}
	for _, p := range prefixes {
		if err := u.cfg.Objects.DeletePrefix(ctx, p); err != nil {
			u.log.Error("could not remove a deleted video's objects", telemetry.VideoIDKey, v.ID, "prefix", p, "err", err)
		}
	}
}
