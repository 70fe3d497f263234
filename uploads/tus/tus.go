// Package tus serves resumable uploads with the tus protocol (tusd) for the upload
// jobs of package uploads: a client that started an upload with POST /uploads sends
// the bytes in as many PATCHes as it needs, resuming after a broken connection, and
// then calls the same complete route as after a plain PUT. The bytes are kept in a
// folder (one process, the dev stack) or in the bucket as an S3 multipart upload (any
// number of catalog instances, with a lock shared through PostgreSQL), and the finished
// file is the job's source object.
package tus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tus/tusd/v2/pkg/filestore"
	tusd "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	"github.com/tus/tusd/v2/pkg/s3store"
	expslog "golang.org/x/exp/slog"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/layout"
)

// Path is where the gallery takes tus uploads, under its prefix and without it.
const Path = "/tus"

// Routes lists the tus endpoint, for mounting it and for checking that the API Gateway
// in deploy/terraform routes exactly these: creation at Path itself, and the requests
// on an upload, whose id may hold slashes.
var Routes = []videoforge.Route{
	{Method: "POST", Path: ""},
	{Method: "HEAD", Path: "/{id...}"},
	{Method: "PATCH", Path: "/{id...}"},
	{Method: "DELETE", Path: "/{id...}"},
}

// Jobs is what the tus server needs of the catalog's jobs (postgres.JobService).
type Jobs interface {
	// FindJob returns the job if userID owns it (EFORBIDDEN otherwise).
	FindJob(ctx context.Context, jobID int64, userID string) (*videoforge.JobView, error)
	// WhilePending runs write while the job is pending and keeps it so until write
	// returns; ECONFLICT once its upload was completed.
	WhilePending(ctx context.Context, jobID int64, write func(ctx context.Context) error) error
}

// Objects stores a finished upload of the folder store as its job's source
// (storage.Store).
type Objects interface {
	PutFile(ctx context.Context, key, name string) error
}

// Bucket removes what a job's earlier or given-up upload left in the bucket
// (storage.Store).
type Bucket interface {
	AbortMultipartUploads(ctx context.Context, prefix string) (int, error)
	DeletePrefix(ctx context.Context, prefix string) error
}

// S3 keeps uploads in a bucket as S3 multipart uploads (tusd's s3store), so that any
// catalog instance can take any request of an upload. The upload of job N is the
// object uploads/N/source (its source key) once finished, with uploads/N/source.info
// and, between PATCHes, uploads/N/source.part beside it.
type S3 struct {
	Service s3store.S3API // the bucket's client (storage.Store.Client)
	Bucket  string
	Objects Bucket
	// PartSize is the preferred size of a part (8 MiB when 0): a PATCH's bytes are
	// buffered in TempDir up to it before they go to S3.
	PartSize int64
	// MinPartSize is S3's smallest part but the last (5 MiB when 0).
	MinPartSize int64
	TempDir     string // the system's temporary folder when empty
}

// Config holds the tus server's settings.
type Config struct {
	// Dir keeps partial uploads in a folder when S3 is nil (the dev stack: one process).
	Dir string
	// Objects stores the folder store's finished uploads.
	Objects Objects
	// S3, when set, keeps uploads in the bucket instead.
	S3 *S3
	// MaxSize is the largest upload, in bytes.
	MaxSize int64
	// Verify returns the caller of a request with a Bearer token.
	Verify func(ctx context.Context, token string) (*auth.User, error)
	Jobs   Jobs
	// Locker keeps two requests from handling a job's upload at once; nil uses an
	// in-process one, which is right for a single process only.
	Locker tusd.Locker
	Log    *slog.Logger
}

// Server is the tus endpoint over one store and one locker; Handler serves it at a
// base path.
type Server struct {
	cfg      Config
	composer *tusd.StoreComposer
	locker   jobLocker
}

// lockWait bounds how long a request waits for another one on the same upload to let
// go; finishTime, how long storing a finished upload as the source may take (S3 may
// take minutes to complete a multipart upload of thousands of parts, and the folder
// store copies the whole file).
const (
	lockWait   = 20 * time.Second
	finishTime = 30 * time.Minute
)

// New returns the tus server. An upload is created with the metadata "jobId" of a
// pending job the caller owns; every request must carry the job owner's Bearer token,
// and every request but HEAD is refused with 409 once the job's upload was completed.
// The last byte stores the file as the job's source, unless complete came first.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	var inner store
	if cfg.S3 != nil {
		st := s3store.New(cfg.S3.Bucket, cfg.S3.Service)
		st.ObjectPrefix = layout.UploadsFolder
		st.PreferredPartSize = 8 << 20
		if cfg.S3.PartSize > 0 {
			st.PreferredPartSize = cfg.S3.PartSize
		}
		if cfg.S3.MinPartSize > 0 {
			st.MinPartSize = cfg.S3.MinPartSize
		}
		if st.PreferredPartSize < st.MinPartSize {
			return nil, fmt.Errorf("tus: part size %d is under the smallest part S3 takes (%d)", st.PreferredPartSize, st.MinPartSize)
		}
		st.TemporaryDirectory = cfg.S3.TempDir
		// Each request sends at most a few parts; ten at once per request would let a
		// handful of clients take every connection to S3.
		st.SetConcurrentPartUploads(4)
		st.MaxBufferedParts = 2
		inner = st
	} else {
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("tus: %w", err)
		}
		inner = filestore.New(cfg.Dir)
	}
	locker := cfg.Locker
	if locker == nil {
		locker = memorylocker.New()
	}
	s := &Server{cfg: cfg, locker: jobLocker{inner: locker, log: cfg.Log}}
	sealed := sealedStore{inner: inner, s: s}
	s.composer = tusd.NewStoreComposer()
	s.composer.UseCore(sealed)
	s.composer.UseTerminater(sealed)
	s.composer.UseLocker(s.locker)
	return s, nil
}

// Handler returns the endpoint at basePath (say /api/gallery/tus/): POST there creates
// an upload, whose URL is basePath + its id.
func (s *Server) Handler(basePath string) (http.Handler, error) {
	basePath = strings.TrimSuffix(basePath, "/") + "/"
	h, err := tusd.NewHandler(tusd.Config{
		BasePath:             basePath,
		StoreComposer:        s.composer,
		MaxSize:              s.cfg.MaxSize,
		DisableDownload:      true,
		DisableConcatenation: true,
		AcquireLockTimeout:   lockWait,
		// tusd logs every request on the older slog API; the catalog logs what matters.
		Logger:                  expslog.New(expslog.NewTextHandler(io.Discard, nil)),
		PreUploadCreateCallback: s.preCreate,
	})
	if err != nil {
		return nil, fmt.Errorf("tus: %w", err)
	}
	inner := http.StripPrefix(strings.TrimSuffix(basePath, "/"), h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodOptions:
		case http.MethodPost:
			// The upload's URL as a path: it is right behind any proxy (tus allows
			// a relative Location), where the Host the catalog sees is not the
			// client's.
			w = &relativeLocation{ResponseWriter: w}
		default:
			// Requests on an existing upload are the job owner's only, and change
			// nothing once the job's upload was completed.
			id, ok := jobOf(strings.Trim(strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(basePath, "/")), "/"))
			if !ok {
				http.Error(w, "no such upload", http.StatusNotFound)
				return
			}
			j, err := s.ownJob(r.Context(), r.Header.Get("Authorization"), id)
			if err == nil && r.Method != http.MethodHead && j.Status != videoforge.JobPending {
				err = notPending(id, j.Status)
			}
			if err != nil {
				writeError(w, err)
				return
			}
		}
		inner.ServeHTTP(w, r)
	}), nil
}

// preCreate lets the owner of a pending job create its upload, with the id its store
// calls for, after removing what an earlier upload of the job left.
func (s *Server) preCreate(hook tusd.HookEvent) (tusd.HTTPResponse, tusd.FileInfoChanges, error) {
	none := tusd.FileInfoChanges{}
	id, err := strconv.ParseInt(hook.Upload.MetaData["jobId"], 10, 64)
	if err != nil || id <= 0 {
		if _, err := caller(hook.Context, s.cfg, hook.HTTPRequest.Header.Get("Authorization")); err != nil {
			return tusd.HTTPResponse{}, none, err
		}
		return tusd.HTTPResponse{}, none, tusd.NewError("ERR_JOB_ID", "Upload-Metadata must name the jobId from POST /uploads", http.StatusBadRequest)
	}
	j, err := s.ownJob(hook.Context, hook.HTTPRequest.Header.Get("Authorization"), id)
	if err == nil && j.Status != videoforge.JobPending {
		err = notPending(id, j.Status)
	}
	if err != nil {
		return tusd.HTTPResponse{}, none, tusError(err)
	}
	if s.cfg.S3 != nil {
		// A new upload of the job replaces the earlier one, which must not leave a
		// partial part to be taken for the new upload's first bytes.
		if err := s.withJob(hook.Context, id, func(ctx context.Context) error { return s.clear(ctx, id) }); err != nil {
			return tusd.HTTPResponse{}, none, err
		}
	}
	return tusd.HTTPResponse{}, tusd.FileInfoChanges{ID: uploadID(s.cfg.S3 != nil, id),
		MetaData: tusd.MetaData{"jobId": strconv.FormatInt(id, 10), "userId": j.UserID}}, nil
}

// Abandon removes what the upload of a job given up left, once no request handles it:
// the partial files, or the bucket's open multipart uploads and objects under the job's
// folder.
func (s *Server) Abandon(ctx context.Context, jobID int64) error {
	return s.withJob(ctx, jobID, func(ctx context.Context) error {
		if s.cfg.S3 != nil {
			return s.clear(ctx, jobID)
		}
		name := s.cfg.Dir + string(os.PathSeparator) + uploadID(false, jobID)
		for _, n := range []string{name, name + ".info"} {
			if err := os.Remove(n); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("tus: remove %s: %w", n, err)
			}
		}
		return nil
	})
}

// clear aborts the job's open multipart uploads and removes its folder's objects.
func (s *Server) clear(ctx context.Context, jobID int64) error {
	prefix := jobFolder(jobID)
	if _, err := s.cfg.S3.Objects.AbortMultipartUploads(ctx, prefix); err != nil {
		return fmt.Errorf("tus: clear job %d: %w", jobID, err)
	}
	if err := s.cfg.S3.Objects.DeletePrefix(ctx, prefix); err != nil {
		return fmt.Errorf("tus: clear job %d: %w", jobID, err)
	}
	return nil
}

// withJob runs fn while holding the lock of the job's upload, after making whatever
// request holds it let go.
func (s *Server) withJob(ctx context.Context, jobID int64, fn func(ctx context.Context) error) error {
	k, err := s.locker.inner.NewLock(jobLockID(jobID))
	if err != nil {
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, lockWait)
	defer cancel()
	if err := (jobLock{k, s.cfg.Log}).Lock(lctx, func() {}); err != nil {
		return err
	}
	defer k.Unlock()
	return fn(ctx)
}

// ownJob returns the job if the Bearer token in header is its owner's.
func (s *Server) ownJob(ctx context.Context, header string, jobID int64) (*videoforge.JobView, error) {
	user, err := caller(ctx, s.cfg, header)
	if err != nil {
		return nil, err
	}
	return s.cfg.Jobs.FindJob(ctx, jobID, user.ID)
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

func notPending(jobID int64, status videoforge.JobStatus) error {
	return videoforge.Errorf(videoforge.ECONFLICT, "job %d is %s: its upload was completed and it takes no more bytes", jobID, status)
}

// tusError turns the project's errors into tusd's, with their statuses.
func tusError(err error) error {
	var te tusd.Error
	if errors.As(err, &te) {
		return err
	}
	status := map[string]int{
		videoforge.EFORBIDDEN:   http.StatusForbidden,
		videoforge.ENOTFOUND:    http.StatusNotFound,
		videoforge.ECONFLICT:    http.StatusConflict,
		videoforge.EINVALID:     http.StatusBadRequest,
		videoforge.EUNAVAILABLE: http.StatusServiceUnavailable,
	}[videoforge.ErrorCode(err)]
	if status == 0 {
		return err // internal: tusd answers 500 and logs nothing; the caller logged it
	}
	return tusd.NewError("ERR_"+strings.ToUpper(videoforge.ErrorCode(err)), videoforge.ErrorMessage(err), status)
}

func writeError(w http.ResponseWriter, err error) {
	var te tusd.Error
	if errors.As(tusError(err), &te) {
		w.Header().Set("Tus-Resumable", "1.0.0")
		if te.HTTPResponse.StatusCode == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "5")
		}
		http.Error(w, te.Message, te.HTTPResponse.StatusCode)
		return
	}
	http.Error(w, "internal error", http.StatusInternalServerError)
}

// The ids of a job's upload: "job-N" in the folder store; "N/source" in the bucket,
// which makes the object's key uploads/N/source, the job's source key (s3store adds
// "+<multipart upload id>" to it).
func uploadID(inBucket bool, jobID int64) string {
	if inBucket {
		return strings.TrimPrefix(layout.UploadKey(jobID), layout.UploadsFolder)
	}
	return "job-" + strconv.FormatInt(jobID, 10)
}

// jobFolder is the bucket folder of a job's upload, uploads/N/.
func jobFolder(jobID int64) string { return layout.UploadFolder(jobID) }

// jobOf returns the job of an upload id of either store.
func jobOf(id string) (int64, bool) {
	n, ok := strings.CutPrefix(id, "job-")
	if !ok {
		var rest string
		if n, rest, ok = strings.Cut(id, "/"); !ok || !strings.HasPrefix(rest, layout.SourceFile+"+") {
			return 0, false
		}
	}
	jobID, err := strconv.ParseInt(n, 10, 64)
	if err != nil || jobID <= 0 || strconv.FormatInt(jobID, 10) != n {
		return 0, false
	}
	return jobID, true
}

// jobLockID names the lock of a job's upload: every upload of the job takes the same.
func jobLockID(jobID int64) string { return "job-" + strconv.FormatInt(jobID, 10) }

// jobLocker locks a job's upload whatever its id, and answers a lock not had in time
// with 423, which tus clients retry.
type jobLocker struct {
	inner tusd.Locker
	log   *slog.Logger
}

func (l jobLocker) NewLock(id string) (tusd.Lock, error) {
	jobID, ok := jobOf(id)
	if !ok {
		return nil, tusd.ErrNotFound
	}
	k, err := l.inner.NewLock(jobLockID(jobID))
	if err != nil {
		return nil, err
	}
	return jobLock{k, l.log}, nil
}

type jobLock struct {
	inner tusd.Lock
	log   *slog.Logger
}

var errBusy = tusd.NewError("ERR_UPLOAD_LOCKED", "another request is handling this upload; try again", http.StatusLocked)

func (k jobLock) Unlock() error { return k.inner.Unlock() }

func (k jobLock) Lock(ctx context.Context, requestRelease func()) error {
	err := k.inner.Lock(ctx, requestRelease)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, tusd.ErrLockTimeout):
		return errBusy
	default:
		k.log.Error("tus: lock upload", "err", err)
		return tusd.NewError("ERR_UNAVAILABLE", "the upload cannot be handled now; try again", http.StatusServiceUnavailable)
	}
}

// store is what the server needs of a tusd store (filestore, s3store).
type store interface {
	tusd.DataStore
	tusd.TerminaterDataStore
}

// sealedStore wraps the store so that an upload's last step (storing the source) and
// its termination happen only while the job is pending, and a complete waits for them.
type sealedStore struct {
	inner store
	s     *Server
}

func (d sealedStore) NewUpload(ctx context.Context, info tusd.FileInfo) (tusd.Upload, error) {
	u, err := d.inner.NewUpload(ctx, info)
	if err != nil {
		return nil, err
	}
	// The store may add to the id (s3store does).
	if info, err = u.GetInfo(ctx); err != nil {
		return nil, err
	}
	return d.wrap(u, info.ID)
}

func (d sealedStore) GetUpload(ctx context.Context, id string) (tusd.Upload, error) {
	u, err := d.inner.GetUpload(ctx, id)
	if err != nil {
		return nil, err
	}
	return d.wrap(u, id)
}

func (d sealedStore) wrap(u tusd.Upload, id string) (tusd.Upload, error) {
	jobID, ok := jobOf(id)
	if !ok {
		return nil, tusd.ErrNotFound
	}
	return &sealedUpload{Upload: u, d: d, jobID: jobID}, nil
}

func (d sealedStore) AsTerminatableUpload(u tusd.Upload) tusd.TerminatableUpload {
	su := u.(*sealedUpload)
	return terminatable{su, d.inner.AsTerminatableUpload(su.Upload)}
}

type sealedUpload struct {
	tusd.Upload
	d     sealedStore
	jobID int64
}

// FinishUpload stores the finished file as the job's source while the job is pending;
// once the job's upload was completed it stores nothing and answers 409.
func (u *sealedUpload) FinishUpload(ctx context.Context) error {
	s := u.d.s
	// A client (or API Gateway, after 30 s) that gives up waiting for the last
	// PATCH's answer must not leave the source half made: tusd would not finish the
	// upload again, since all its bytes came.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTime)
	defer cancel()
	err := s.cfg.Jobs.WhilePending(ctx, u.jobID, func(ctx context.Context) error {
		var err error
		for attempt := range 3 {
			if attempt > 0 {
				// tusd does not finish an upload again whose bytes all came.
				time.Sleep(time.Duration(attempt) * time.Second)
			}
			if err = u.finish(ctx); err == nil || ctx.Err() != nil {
				break
			}
		}
		return err
	})
	switch videoforge.ErrorCode(err) {
	case "":
		return nil
	case videoforge.ECONFLICT:
		if s.cfg.S3 != nil {
			// Its parts are of no use now; the sealed source stays.
			if _, aerr := s.cfg.S3.Objects.AbortMultipartUploads(ctx, jobFolder(u.jobID)); aerr != nil {
				s.cfg.Log.Warn("tus: abort an upload finished after complete", "job", u.jobID, "err", aerr)
			}
		}
		return tusError(err)
	case videoforge.ENOTFOUND:
		return tusError(err)
	}
	s.cfg.Log.Error("tus: store finished upload", "job", u.jobID, "err", err)
	return tusd.NewError("ERR_STORE", "could not store the upload; try again", http.StatusServiceUnavailable)
}

func (u *sealedUpload) finish(ctx context.Context) error {
	s := u.d.s
	if err := u.Upload.FinishUpload(ctx); err != nil {
		return err
	}
	info, err := u.Upload.GetInfo(ctx)
	if err != nil {
		return err
	}
	if s.cfg.S3 != nil {
		// CompleteMultipartUpload made the object at the source key.
		s.cfg.Log.Info("tus upload stored", "job", u.jobID, "bytes", info.Size)
		return nil
	}
	p := info.Storage[filestore.StorageKeyPath]
	if err := s.cfg.Objects.PutFile(ctx, layout.UploadKey(u.jobID), p); err != nil {
		return err
	}
	os.Remove(p)
	os.Remove(info.Storage[filestore.StorageKeyInfoPath])
	s.cfg.Log.Info("tus upload stored", "job", u.jobID, "bytes", info.Size)
	return nil
}

// terminatable removes an upload (DELETE) only while its job is pending: in the bucket
// that removes the source object too.
type terminatable struct {
	u     *sealedUpload
	inner tusd.TerminatableUpload
}

func (t terminatable) Terminate(ctx context.Context) error {
	return tusError(t.u.d.s.cfg.Jobs.WhilePending(ctx, t.u.jobID, t.inner.Terminate))
}

// relativeLocation turns the Location of a created upload into a path.
type relativeLocation struct {
	http.ResponseWriter
}

func (w *relativeLocation) WriteHeader(code int) {
	if loc := w.Header().Get("Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil && u.IsAbs() {
			w.Header().Set("Location", u.RequestURI())
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController (tusd's read deadlines) reach the connection.
func (w *relativeLocation) Unwrap() http.ResponseWriter { return w.ResponseWriter }
