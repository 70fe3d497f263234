package uploads

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/internal/fasterr"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/playback"
	"github.com/videoforge/videoforge/telemetry"
)

// MediaPutConfig holds the settings of the media server's upload PUTs.
type MediaPutConfig struct {
	// TokenKey checks upload tokens (playback.UploadPath).
	TokenKey []byte
	// MaxSize bounds an upload, in bytes; 0 means no bound.
	MaxSize int64
	// Open, when set, tells whether a job still takes its source (SourceOpen): nil
	// while it is pending, an ECONFLICT error once its upload was completed (ENOTFOUND
	// when there is no such job). A sealed job's PUT is answered 409 and stores nothing.
	Open func(ctx context.Context, jobID int64) error
	// Objects stores an upload's bytes (storage.Store, through the S3 API, so that the
	// object gets its metadata as any other).
	Objects interface {
		Put(ctx context.Context, key string, r io.Reader) error
	}
	Log *slog.Logger
}

// MediaPut takes the upload PUTs of the embedded media server, where the upload URLs
// of the dev stack point (in AWS they are S3 presigned PUTs): PUT
// /uploads/<jobId>/source with that job's unexpired upload token, while the job is
// pending, within the size limit.
type MediaPut struct {
	cfg MediaPutConfig
	log *slog.Logger
}

// NewMediaPut returns the upload PUTs of cfg; the media server mounts Serve at
// /uploads/ and Expect as its Expect: 100-continue check.
func NewMediaPut(cfg MediaPutConfig) *MediaPut {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	return &MediaPut{cfg: cfg, log: log}
}

// SourceOpen returns the check of MediaPutConfig.Open over the catalog's jobs: a job
// takes its source only while it is pending, so that nothing changes the bytes after
// complete accepted them.
func SourceOpen(jobs interface {
	FindJobByID(ctx context.Context, id int64) (*videoforge.Job, error)
}) func(ctx context.Context, jobID int64) error {
	return func(ctx context.Context, jobID int64) error {
		j, err := jobs.FindJobByID(ctx, jobID)
		if err != nil {
			return err
		}
		if j.Status != videoforge.JobPending {
			return videoforge.Errorf(videoforge.ECONFLICT, "job %d is %s: its upload was completed and it takes no more bytes", jobID, j.Status)
		}
		return nil
	}
}

var (
	prefixUploads = []byte(layout.UploadsPath)
	errNotFound   = videoforge.Errorf(videoforge.ENOTFOUND, "not found")
)

// What a refused upload's client may still send. Up to drainLimit bytes of the body
// are read (within drainTime) before the answer, so that a client that writes its whole
// body before reading gets the answer and keeps its connection. A longer body gets the
// answer with Connection: close, and then up to lingerLimit more bytes are read and
// dropped (for at most lingerTime) while the client reads it, instead of resetting the
// connection under a client that is still sending.
const (
	drainLimit  = 4 << 20
	drainTime   = 10 * time.Second
	lingerLimit = 32 << 20
	lingerTime  = 5 * time.Second
)

// Expect decides, for a request that sent Expect: 100-continue, whether its body may
// come: an upload PUT that would be refused (bad or expired token, over the size
// limit, a job already completed) gets its error now, before the client sends the file.
// It returns fasthttp.StatusContinue to let the body come, or the status of the error
// it wrote into the response. Other paths are left to come.
func (p *MediaPut) Expect(ctx *fasthttp.RequestCtx) int {
	if !bytes.HasPrefix(ctx.Path(), prefixUploads) {
		return fasthttp.StatusContinue
	}
	if _, status, err := p.check(ctx); err != nil {
		fasterr.Write(ctx, err, status)
		return ctx.Response.StatusCode()
	}
	return fasthttp.StatusContinue
}

// check checks everything about an upload PUT that the headers tell: the method, the
// path, the token, the declared size and the job's state. It returns the job id, or
// the error with its status (0: the error code's).
func (p *MediaPut) check(ctx *fasthttp.RequestCtx) (int64, int, error) {
	if !ctx.IsPut() {
		ctx.Response.Header.Set("Allow", "PUT")
		return 0, fasthttp.StatusMethodNotAllowed, videoforge.Errorf(videoforge.EINVALID, "PUT the file here")
	}
	tail, _ := strings.CutPrefix(string(ctx.Path()), layout.UploadsPath)
	ids, rest, _ := strings.Cut(tail, "/")
	id, err := strconv.ParseInt(ids, 10, 64)
	if err != nil || id <= 0 || rest != layout.SourceFile {
		return 0, 0, errNotFound
	}
	q, err := url.ParseQuery(string(ctx.URI().QueryString()))
	if err == nil {
		err = playback.CheckUpload(p.cfg.TokenKey, id, q, time.Now())
	}
	if err != nil {
		return 0, 0, videoforge.Errorf(videoforge.EFORBIDDEN, "upload token refused: %s", strings.TrimPrefix(err.Error(), "playback: check upload token: "))
	}
	if cl, max := ctx.Request.Header.ContentLength(), p.cfg.MaxSize; max > 0 && cl > 0 && int64(cl) > max {
		return 0, 0, videoforge.Errorf(videoforge.ETOOLARGE, "the file has %d bytes, more than the limit of %d", cl, max)
	}
	if p.cfg.Open != nil {
		jctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := p.cfg.Open(jctx, id)
		cancel()
		switch videoforge.ErrorCode(err) {
		case "":
		case videoforge.ECONFLICT, videoforge.ENOTFOUND, videoforge.EUNAVAILABLE:
			return 0, 0, err
		default:
			p.log.Error("upload: look up job", telemetry.JobIDKey, id, "err", err)
			return 0, 0, videoforge.Errorf(videoforge.EUNAVAILABLE, "could not look up job %d; try again", id)
		}
	}
	return id, 0, nil
}

// Serve answers PUT /uploads/<jobId>/source?expires&signature: the body is stored as
// the job's source.
func (p *MediaPut) Serve(ctx *fasthttp.RequestCtx) {
	id, status, err := p.check(ctx)
	if err != nil {
		p.refuse(ctx, err, status, false)
		return
	}
	var body io.Reader
	if st := ctx.RequestBodyStream(); st != nil {
		body = st
	} else {
		body = bytes.NewReader(ctx.Request.Body())
	}
	br := &bodyReader{r: body, max: p.cfg.MaxSize, length: int64(ctx.Request.Header.ContentLength())}
	uctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	err = p.cfg.Objects.Put(uctx, layout.UploadKey(id), br)
	switch {
	case br.over:
		p.refuse(ctx, videoforge.Errorf(videoforge.ETOOLARGE, "the file is larger than the limit of %d bytes", p.cfg.MaxSize), 0, false)
	case br.err != nil:
		// The client's fault: the body ended before its length or its chunks are
		// malformed. Nothing was stored, and the rest of the connection is not HTTP.
		p.refuse(ctx, videoforge.Errorf(videoforge.EINVALID, "the request body could not be read: %v", br.err), 0, true)
	case err != nil:
		p.log.Error("upload failed", telemetry.JobIDKey, id, "err", err)
		ctx.Response.Header.Set("Retry-After", "5")
		p.refuse(ctx, videoforge.Errorf(videoforge.EUNAVAILABLE, "could not store the upload; try again"), 0, false)
	default:
		p.log.Info("upload stored", telemetry.JobIDKey, id, "bytes", br.n)
		ctx.SetStatusCode(fasthttp.StatusOK)
	}
}

// refuse answers err to an upload whose body may still be on its way: it reads and
// drops a bounded amount of it first, and past that closes the connection only after
// lingering, so that the client reads the answer rather than a connection reset.
// broken says that the body's framing is lost, so nothing more is read as a body.
func (p *MediaPut) refuse(ctx *fasthttp.RequestCtx, err error, status int, broken bool) {
	fasterr.Write(ctx, err, status)
	st := ctx.RequestBodyStream()
	if st == nil {
		return // no body, or one read whole already
	}
	if cl := ctx.Request.Header.ContentLength(); !broken && cl <= drainLimit {
		// A known short body, or a chunked one that may be.
		_ = ctx.SetReadDeadline(time.Now().Add(drainTime))
		if _, err := io.CopyN(io.Discard, st, drainLimit+1); errors.Is(err, io.EOF) {
			return
		}
	}
	// The server would close the connection right after the answer, with the body
	// still coming, which resets it: the answer is written here instead, and the
	// connection closed after lingering.
	res := fasthttp.AcquireResponse()
	ctx.Response.CopyTo(res)
	res.SetConnectionClose()
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		defer fasthttp.ReleaseResponse(res)
		linger(c, res)
	})
}

// linger writes the answer to a connection whose client may still be sending, then
// half-closes it and reads what the client still sends, within bounds, before the
// server closes it: a close with unread bytes would reset the connection and could
// throw away the answer on the client's side.
func linger(c net.Conn, res *fasthttp.Response) {
	_ = c.SetWriteDeadline(time.Now().Add(lingerTime))
	w := bufio.NewWriter(c)
	if res.Write(w) != nil || w.Flush() != nil {
		return
	}
	raw := c
	if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
		raw = u.UnsafeConn()
	}
	if cw, ok := raw.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, c, lingerLimit)
}

// bodyReader reads an upload's body: it fails once more than max bytes came (max 0:
// no limit) and remembers the client's own failures (a body shorter than its
// Content-Length, broken chunks) apart from the store's.
type bodyReader struct {
	r      io.Reader
	max    int64
	length int64 // Content-Length; negative when chunked
	n      int64
	over   bool
	err    error
}

var errTooLarge = errors.New("upload over the size limit")

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	switch {
	case b.max > 0 && b.n > b.max:
		b.over = true
		return n, errTooLarge
	case errors.Is(err, io.EOF) && b.length >= 0 && b.n < b.length:
		// The server's body stream ends quietly when the client closes early.
		err = io.ErrUnexpectedEOF
		b.err = err
	case err != nil && !errors.Is(err, io.EOF):
		b.err = err
	}
	return n, err
}
