// Package uploads takes creators' files in and hands their jobs to the transcoder's queue.
package uploads

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/transcoder"
	"github.com/videoforge/videoforge/uploads/tus"
)

// Limits bound what an upload may be.
type Limits struct {
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

// DefaultLimits returns the limits used unless told otherwise.
func DefaultLimits() Limits {
	return Limits{MaxSize: 20 << 30, Types: []string{"video/*", "application/octet-stream"}, URLLifetime: time.Hour}
}

// Accepts reports whether a sniffed media type is one of the accepted types.
func (l Limits) Accepts(mediaType string) bool {
	mediaType, _, _ = strings.Cut(mediaType, ";")
	mediaType = strings.TrimSpace(mediaType)
	for _, t := range l.Types {
		if ok, _ := path.Match(t, mediaType); ok {
			return true
		}
	}
	return false
}

// Jobs is what uploads need of the catalog's jobs (postgres.JobService).
type Jobs interface {
	videoforge.UploadService
	// FailJob marks a rejected upload's job and its video failed.
	FailJob(ctx context.Context, jobID, videoID int64, a *videoforge.Attempt, reason string) error
	// FindJobByID returns the job whoever owns it.
	FindJobByID(ctx context.Context, id int64) (*videoforge.Job, error)
	// WhilePending runs write while the job is pending and keeps it so until write
	// returns; ECONFLICT once its upload was completed.
	WhilePending(ctx context.Context, jobID int64, write func(ctx context.Context) error) error
}

// Tus says where resumable uploads keep their bytes until the last one came: in a
// folder, or in the bucket. The zero Tus serves no resumable uploads.
type Tus struct {
	// Dir keeps them in a folder, which suits one process only (the dev stack); the
	// janitor removes what an upload it gives up left there.
	Dir string
	// InBucket keeps them in Objects' bucket as S3 multipart uploads, so that any
	// instance takes any request; Run sweeps the multipart uploads given up.
	InBucket bool
	// PartSize is how many bytes of a PATCH are buffered in TempDir (the system's
	// temporary folder when empty) before they go to S3 as one part; 8 MiB when 0.
	PartSize int64
	TempDir  string
	// Locker keeps two requests of any process from handling one upload at once
	// (postgres.UploadLocker); nil uses an in-process one. Close closes it.
	Locker Locker
}

// Locker is a tusd locker that Close stops.
type Locker interface {
	tusd.Locker
	Close()
}

// Config holds the upload side's settings and what it works on.
type Config struct {
	Jobs Jobs
	// Objects is the bucket the sources are uploaded to.
	Objects *storage.Store
	// Queue takes the messages of queued jobs, de-duplicated by job and send number
	// where the queue de-duplicates; the job's fencing makes a repeat harmless anyway.
	Queue transcoder.Sender
	// Events, when not nil, gets each job's queued event.
	Events transcoder.Events
	Limits Limits
	// URL returns where the client PUTs a job's source: an S3 presigned PUT in AWS,
	// the embedded media server otherwise.
	URL func(ctx context.Context, jobID int64, key string, expires time.Time) (string, error)
	// Tus is where resumable uploads keep their bytes; the tokens of their requests
	// are checked with the gallery server's verifier.
	Tus Tus
	// SendGrace is how long a job committed queued may wait for its message before
	// the janitor sends it (a crash between the commit and the send); Resend, how
	// long a sent message may go without a worker taking the job (and a dead
	// attempt's lease without a new one) before the janitor sends another, doubling
	// with each one sent. Zero means DefaultSendGrace and DefaultResend.
	SendGrace, Resend time.Duration
	// Every is how often the janitor and the multipart sweeper go round; zero means
	// a quarter of the URL lifetime, at most a minute.
	Every time.Duration
	Log   *slog.Logger
}

// Defaults of Config.SendGrace and Config.Resend.
const (
	DefaultSendGrace = 30 * time.Second
	DefaultResend    = 15 * time.Minute
)

// Uploads is the upload side of the gallery.
type Uploads struct {
	cfg Config
	log *slog.Logger
	// tus serves resumable uploads (nil without); tusAt, at the gallery's prefix and
	// without it.
	tus   *tus.Server
	tusAt map[string]http.Handler
	// gallery is the server Gallery's routes were mounted on, before it served any
	// request: its verifier checks the tokens of tus requests.
	gallery *catalog.Server
}

// New returns the upload side of cfg. Gallery is what the gallery server mounts: the
// upload and job routes (routes.go) and resumable uploads at tus.Path (package
// uploads/tus). Run keeps the janitor going, which gives up uploads never completed
// and sends the messages of queued jobs that have none, and, with resumable uploads in
// the bucket, the sweeper of the multipart uploads they gave up (janitor.go). The
// media server takes the dev stack's upload PUTs with MediaPut (mediaput.go).
func New(cfg Config) (*Uploads, error) {
	switch {
	case cfg.Jobs == nil || cfg.Objects == nil || cfg.Queue == nil || cfg.URL == nil:
		return nil, errors.New("uploads: Jobs, Objects, Queue and URL are required")
	case cfg.Limits.URLLifetime <= 0:
		return nil, errors.New("uploads: the upload URL lifetime must be positive")
	case cfg.Tus.Dir != "" && cfg.Tus.InBucket:
		return nil, errors.New("uploads: resumable uploads go to a folder or to the bucket, not both")
	}
	if cfg.SendGrace <= 0 {
		cfg.SendGrace = DefaultSendGrace
	}
	if cfg.Resend <= 0 {
		cfg.Resend = DefaultResend
	}
	if cfg.Every <= 0 {
		cfg.Every = min(time.Minute, cfg.Limits.URLLifetime/4)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	u := &Uploads{cfg: cfg, log: cfg.Log}
	if cfg.Tus.Dir != "" || cfg.Tus.InBucket {
		if err := u.newTus(); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// newTus makes the tus server and its handlers, at the gallery's prefix and without
// it as every gallery route is answered.
func (u *Uploads) newTus() error {
	tc := tus.Config{Objects: u.cfg.Objects, MaxSize: u.cfg.Limits.MaxSize, Jobs: u.cfg.Jobs, Log: u.log,
		Verify: func(ctx context.Context, token string) (*auth.User, error) { return u.gallery.Verify(ctx, token) }}
	if t := u.cfg.Tus; t.InBucket {
		tc.S3 = &tus.S3{Service: u.cfg.Objects.Client(), Bucket: u.cfg.Objects.Bucket(), Objects: u.cfg.Objects, PartSize: t.PartSize, TempDir: t.TempDir}
	} else {
		tc.Dir = t.Dir
	}
	if u.cfg.Tus.Locker != nil {
		tc.Locker = u.cfg.Tus.Locker
	}
	srv, err := tus.New(tc)
	if err != nil {
		return err
	}
	u.tus, u.tusAt = srv, map[string]http.Handler{}
	for _, prefix := range []string{catalog.Prefix, ""} {
		if u.tusAt[prefix], err = srv.Handler(prefix + tus.Path + "/"); err != nil {
			return err
		}
	}
	return nil
}

// Gallery returns what the gallery server mounts (catalog.Config.Uploads).
func (u *Uploads) Gallery() *catalog.Uploads {
	return &catalog.Uploads{Mount: u.mount, RemoveVideo: u.removeVideo}
}

// Run keeps the janitor and, with resumable uploads in the bucket, the multipart
// sweeper going until ctx ends, then returns nil.
func (u *Uploads) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { u.runJanitor(ctx) })
	if u.cfg.Tus.InBucket {
		wg.Go(func() { u.runMultipartSweeper(ctx) })
	}
	wg.Wait()
	return nil
}

// Close stops the tus locker, once Run returned and the gallery stopped.
func (u *Uploads) Close() error {
	if u.cfg.Tus.Locker != nil {
		u.cfg.Tus.Locker.Close()
	}
	return nil
}
