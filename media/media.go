// Package media is the embedded media server: it serves the local object folder to
// players (HLS playlists, segments, thumbnails, storyboards) with the same path-token
// check the CDN does, and takes upload PUTs that carry a valid upload token. It runs
// inside the edge when VideoForge is embedded; in AWS, S3 and CloudFront do its job.
package media

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/internal/fasterr"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/playback"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/uploads"
)

// Config holds the media server's settings.
type Config struct {
	// Root is the bucket's folder: the object at key is the file Root/key.
	Root string
	// TokenKey checks playback and upload tokens.
	TokenKey []byte
	// MaxUploadSize bounds an upload PUT, in bytes; 0 means no bound.
	MaxUploadSize int64
	// UploadOpen, when set, tells whether a job still takes its source: nil while it
	// is pending, an ECONFLICT error once its upload was completed (ENOTFOUND when
	// there is no such job). A sealed job's PUT is answered 409 and stores nothing.
	UploadOpen func(ctx context.Context, jobID int64) error
}

// Access is what the media server needs to know of a video to serve its objects.
type Access struct {
	// Public: the video may be played without a token.
	Public bool
	// TokenGen is the video's current token generation: tokens signed at an older
	// one are refused (the video's access narrowed since).
	TokenGen int64
}

// Lookup tells how a video may be played, ENOTFOUND when it does not exist. It is
// asked for every request, so that a video made private or deleted stops playing for
// every token holder as soon as the lookup knows.
// The request is passed for its client's address (a lookup may limit look-ups of
// unknown ids per client) and must not be kept.
type Lookup func(ctx *fasthttp.RequestCtx, videoID int64) (Access, error)

// Uploader stores an upload's bytes (storage.Store, through the S3 API, so that the
// object gets its metadata as any other).
type Uploader interface {
	Put(ctx context.Context, key string, r io.Reader) error
}

// Server answers media requests.
type Server struct {
	cfg    Config
	root   *os.Root
	lookup Lookup
	put    *uploads.MediaPut // the upload PUTs, to up
	log    *slog.Logger
}

// New opens the object folder. Reads go through an os.Root, so that no path, link
// or name reaches outside it.
func New(cfg Config, lookup Lookup, up Uploader, log *slog.Logger) (*Server, error) {
	if err := playback.ValidateKey(cfg.TokenKey); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "media")
	put := uploads.NewMediaPut(uploads.MediaPutConfig{TokenKey: cfg.TokenKey, MaxSize: cfg.MaxUploadSize, Open: cfg.UploadOpen, Objects: up, Log: log})
	return &Server{cfg: cfg, root: root, lookup: lookup, put: put, log: log}, nil
}

// Close releases the object folder.
func (s *Server) Close() error { return s.root.Close() }

var (
	prefixVideos  = []byte(layout.VideosPath)
	prefixToken   = []byte("/t/")
	prefixUploads = []byte(layout.UploadsPath)
)

// Handle answers the request and returns true when its path is the media server's
// (/videos/…, /t/…, /uploads/…); other paths are left to the caller.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) bool {
	p := ctx.Path()
	switch {
	case bytes.HasPrefix(p, prefixUploads):
		s.upload(ctx)
	case bytes.HasPrefix(p, prefixVideos), bytes.HasPrefix(p, prefixToken):
		s.serve(ctx, string(p))
	default:
		return false
	}
	return true
}

var (
	errNotFound = videoforge.Errorf(videoforge.ENOTFOUND, "not found")
)

// serve answers GET and HEAD of an object, with Range.
func (s *Server) serve(ctx *fasthttp.RequestCtx, p string) {
	if ctx.IsOptions() {
		// A browser player's preflight (hls.js sends Range).
		h := &ctx.Response.Header
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Range")
		h.Set("Access-Control-Max-Age", "600")
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		fasterr.Write(ctx, videoforge.Errorf(videoforge.EINVALID, "only GET and HEAD are answered"), fasthttp.StatusMethodNotAllowed)
		return
	}
	// Every answer, refusals too, may be read by a player on another origin: a page
	// tells "not there" (404) from "token refused" (403) only when it can read them.
	ctx.Response.Header.Set("Access-Control-Allow-Origin", "*")
	signed := strings.HasPrefix(p, "/t/")
	var grant playback.Grant
	if signed {
		var err error
		grant, err = playback.Check(s.cfg.TokenKey, p, time.Now())
		switch {
		case errors.Is(err, playback.ErrMalformed):
			fasterr.Write(ctx, errNotFound, 0)
			return
		case err != nil:
			fasterr.Write(ctx, videoforge.Errorf(videoforge.EFORBIDDEN, "playback token refused: %s", strings.TrimPrefix(err.Error(), "playback: check token: ")), 0)
			return
		}
		p = grant.Path
	}
	id, rel, ok := split(p)
	if !ok {
		fasterr.Write(ctx, errNotFound, 0)
		return
	}
	acc, err := s.lookup(ctx, id)
	if err != nil {
		fasterr.Write(ctx, err, 0)
		return
	}
	if !signed && !acc.Public {
		// The same answer as for a video that does not exist: an unsigned request
		// must not learn that a private or unlisted video is there.
		fasterr.Write(ctx, errNotFound, 0)
		return
	}
	if signed && grant.Gen < acc.TokenGen {
		// Signed before the video's access narrowed: revoked, and answered as a
		// token that was never good.
		fasterr.Write(ctx, videoforge.Errorf(videoforge.EFORBIDDEN, "playback token refused: revoked"), 0)
		return
	}
	key := layout.VideoPrefix(id) + rel
	f, err := s.root.Open(key)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			fasterr.Write(ctx, errNotFound, 0)
		} else {
			fasterr.Write(ctx, videoforge.Errorf(videoforge.ENOTFOUND, "not found"), 0)
			s.log.Warn("open object", "key", key, "err", err)
		}
		return
	}
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		f.Close()
		fasterr.Write(ctx, errNotFound, 0)
		return
	}
	h := &ctx.Response.Header
	h.SetContentType(storage.ContentType(key))
	cache := storage.CacheControl(key)
	if signed {
		// A token URL is one viewer's: shared caches must not keep it past the token.
		cache = strings.Replace(cache, "public", "private", 1)
	}
	h.Set("Cache-Control", cache)
	h.Set("Accept-Ranges", "bytes")
	h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range")
	h.SetLastModified(st.ModTime())
	size := st.Size()
	start, end := int64(0), size-1
	if rng := ctx.Request.Header.Peek("Range"); len(rng) > 0 && size > 0 {
		s0, e0, err := fasthttp.ParseByteRange(rng, int(size))
		if err != nil {
			f.Close()
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			fasterr.Write(ctx, videoforge.Errorf(videoforge.EINVALID, "unsatisfiable range"), fasthttp.StatusRequestedRangeNotSatisfiable)
			return
		}
		start, end = int64(s0), int64(e0)
		h.SetContentRange(s0, e0, int(size))
		ctx.SetStatusCode(fasthttp.StatusPartialContent)
	}
	n := end - start + 1
	if ctx.IsHead() {
		f.Close()
		h.SetContentLength(int(n))
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetBodyStream(&section{io.NewSectionReader(f, start, n), f}, int(n))
}

// section is a part of an open file that closes the file when the response is sent.
type section struct {
	*io.SectionReader
	f *os.File
}

func (s *section) Close() error { return s.f.Close() }

// split parses an object's path, "/" and its key (layout.SplitVideoKey), for a video
// id above 0 and a rest made of plain names only.
func split(p string) (int64, string, bool) {
	key, ok := strings.CutPrefix(p, "/")
	if !ok {
		return 0, "", false
	}
	id, rel, ok := layout.SplitVideoKey(key)
	if !ok || id <= 0 || strings.ContainsAny(rel, "\\\x00") {
		return 0, "", false
	}
	for seg := range strings.SplitSeq(rel, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, ".") {
			return 0, "", false
		}
	}
	return id, rel, true
}
