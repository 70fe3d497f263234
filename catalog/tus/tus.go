// Package tus serves resumable uploads with the tus protocol (tusd's handler and file
// store) for the catalog's upload jobs: a client that started an upload with POST
// /uploads sends the bytes in as many PATCHes as it needs, resuming after a broken
// connection, and then calls the same complete route as after a plain PUT.
package tus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/tus/tusd/v2/pkg/filestore"
	tusd "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	expslog "golang.org/x/exp/slog"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
)

// Objects stores a finished upload as its job's source (storage.Store).
type Objects interface {
	PutFile(ctx context.Context, key, name string) error
}

// Config holds the tus server's settings.
type Config struct {
	Dir      string // where partial uploads are kept (the file store)
	BasePath string // the URL path the handler is mounted at, e.g. /api/gallery/tus/
	MaxSize  int64  // the largest upload, in bytes
	// Verify returns the caller of a request with a Bearer token.
	Verify  func(ctx context.Context, token string) (*auth.User, error)
	Jobs    videoforge.UploadService
	Objects Objects
	Log     *slog.Logger
}

// New returns the tus handler. An upload is created with the metadata "jobId" of a
// pending job the caller owns and gets the id "job-<jobId>"; every request must carry
// the job owner's Bearer token. When the last byte arrives the file is stored at the
// job's source key and removed from the folder.
func New(cfg Config) (http.Handler, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("tus: %w", err)
	}
	store := filestore.New(cfg.Dir)
	composer := tusd.NewStoreComposer()
	store.UseIn(composer)
	memorylocker.New().UseIn(composer)
	h, err := tusd.NewHandler(tusd.Config{
		BasePath:             cfg.BasePath,
		StoreComposer:        composer,
		MaxSize:              cfg.MaxSize,
		DisableDownload:      true,
		DisableConcatenation: true,
		// tusd logs every request on the older slog API; the catalog logs what matters.
		Logger: expslog.New(expslog.NewTextHandler(io.Discard, nil)),
		PreUploadCreateCallback: func(hook tusd.HookEvent) (tusd.HTTPResponse, tusd.FileInfoChanges, error) {
			user, err := caller(hook.Context, cfg, hook.HTTPRequest.Header.Get("Authorization"))
			if err != nil {
				return tusd.HTTPResponse{}, tusd.FileInfoChanges{}, err
			}
			id, err := strconv.ParseInt(hook.Upload.MetaData["jobId"], 10, 64)
			if err != nil || id <= 0 {
				return tusd.HTTPResponse{}, tusd.FileInfoChanges{}, tusd.NewError("ERR_JOB_ID", "Upload-Metadata must name the jobId from POST /uploads", http.StatusBadRequest)
			}
			if err := ownPending(hook.Context, cfg, id, user.ID); err != nil {
				return tusd.HTTPResponse{}, tusd.FileInfoChanges{}, err
			}
			return tusd.HTTPResponse{}, tusd.FileInfoChanges{ID: "job-" + strconv.FormatInt(id, 10),
				MetaData: tusd.MetaData{"jobId": strconv.FormatInt(id, 10), "userId": user.ID}}, nil
		},
		PreFinishResponseCallback: func(hook tusd.HookEvent) (tusd.HTTPResponse, error) {
			id, _ := strconv.ParseInt(hook.Upload.MetaData["jobId"], 10, 64)
			path := hook.Upload.Storage["Path"]
			if err := cfg.Objects.PutFile(hook.Context, videoforge.UploadKey(id), path); err != nil {
				cfg.Log.Error("tus: store finished upload", "job", id, "err", err)
				return tusd.HTTPResponse{}, tusd.NewError("ERR_STORE", "could not store the upload; try again", http.StatusServiceUnavailable)
			}
			os.Remove(path)
			os.Remove(path + ".info")
			cfg.Log.Info("tus upload stored", "job", id, "bytes", hook.Upload.Size)
			return tusd.HTTPResponse{}, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("tus: %w", err)
	}
	inner := http.StripPrefix(strings.TrimSuffix(cfg.BasePath, "/"), h)
	// Requests on an existing upload are the job owner's only.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodOptions {
			rest := strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(cfg.BasePath, "/"))
			idText, ok := strings.CutPrefix(strings.Trim(rest, "/"), "job-")
			id, err := strconv.ParseInt(idText, 10, 64)
			if !ok || err != nil {
				http.Error(w, "no such upload", http.StatusNotFound)
				return
			}
			user, err := caller(r.Context(), cfg, r.Header.Get("Authorization"))
			if err == nil {
				_, err = cfg.Jobs.FindJob(r.Context(), id, user.ID)
			}
			if err != nil {
				var te tusd.Error
				status := http.StatusForbidden
				if errors.As(err, &te) {
					status = te.HTTPResponse.StatusCode
				} else if videoforge.ErrorCode(err) == videoforge.ENOTFOUND {
					status = http.StatusNotFound
				}
				http.Error(w, videoforge.ErrorMessage(err), status)
				return
			}
		}
		inner.ServeHTTP(w, r)
	}), nil
}

func caller(ctx context.Context, cfg Config, header string) (*auth.User, error) {
	token, ok, err := auth.BearerToken(header)
	if err == nil && !ok {
		err = errors.New("no token")
	}
	var user *auth.User
	if err == nil {
		user, err = cfg.Verify(ctx, token)
	}
	if err != nil {
		return nil, tusd.NewError("ERR_UNAUTHORIZED", "this needs the job owner's Authorization: Bearer token", http.StatusUnauthorized)
	}
	return user, nil
}

func ownPending(ctx context.Context, cfg Config, jobID int64, userID string) error {
	j, err := cfg.Jobs.FindJob(ctx, jobID, userID)
	switch videoforge.ErrorCode(err) {
	case "":
	case videoforge.EFORBIDDEN:
		return tusd.NewError("ERR_FORBIDDEN", videoforge.ErrorMessage(err), http.StatusForbidden)
	case videoforge.ENOTFOUND:
		return tusd.NewError("ERR_NOT_FOUND", videoforge.ErrorMessage(err), http.StatusNotFound)
	default:
		return err
	}
	if j.Status != videoforge.JobPending {
		return tusd.NewError("ERR_NOT_PENDING", fmt.Sprintf("job %d is %s; it takes no more bytes", jobID, j.Status), http.StatusConflict)
	}
	return nil
}
