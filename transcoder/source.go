package transcoder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/videoforge/videoforge"
)

// sourceServer serves sealed sources to ffmpeg over loopback HTTP, read from storage
// in ranges: ffmpeg starts on the first bytes and seeks where it needs to (a moov box
// at the end, the middle of the source for a chunk) without waiting for a download
// of the whole file. Each source is reachable under an unguessable path for as long
// as its job wants it. A storage error is kept for the job, so that an ffmpeg run
// that failed because its input broke off is taken for the outage it is and not for
// a corrupt upload.
type sourceServer struct {
	store Storage
	ln    net.Listener
	srv   *http.Server

	mu      sync.Mutex
	sources map[string]*servedSource
}

type servedSource struct {
	src videoforge.Source
	mu  sync.Mutex
	err error // the last storage error while serving it
}

func newSourceServer(store Storage) (*sourceServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sourceServer{store: store, ln: ln, sources: map[string]*servedSource{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// add serves src until remove is called and returns its URL; failure returns the
// storage error that broke a read of it, if any.
func (s *sourceServer) add(src videoforge.Source) (url string, failure func() error, remove func()) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	name := hex.EncodeToString(b)
	ss := &servedSource{src: src}
	s.mu.Lock()
	s.sources[name] = ss
	s.mu.Unlock()
	failure = func() error {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		return ss.err
	}
	remove = func() {
		s.mu.Lock()
		delete(s.sources, name)
		s.mu.Unlock()
	}
	return "http://" + s.ln.Addr().String() + "/" + name, failure, remove
}

func (s *sourceServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		return s.srv.Close()
	}
	return nil
}

func (s *sourceServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ss := s.sources[strings.TrimPrefix(r.URL.Path, "/")]
	s.mu.Unlock()
	if ss == nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(w, r)
		return
	}
	rd := &rangeReader{ctx: r.Context(), store: s.store, src: ss.src}
	defer rd.Close()
	// A type set keeps ServeContent from reading the start to sniff one.
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", time.Time{}, rd)
	if rd.err != nil && r.Context().Err() == nil {
		ss.mu.Lock()
		ss.err = rd.err
		ss.mu.Unlock()
	}
}

// rangeReader is a sealed source as an io.ReadSeeker for http.ServeContent: a seek
// only moves the position, and a read opens the object from there on when the open
// body is not at it.
type rangeReader struct {
	ctx   context.Context
	store Storage
	src   videoforge.Source
	pos   int64
	body  io.ReadCloser
	at    int64 // the open body's position
	err   error
}

func (r *rangeReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += r.pos
	case io.SeekEnd:
		off += r.src.Size
	}
	if off < 0 {
		return 0, errors.New("negative position")
	}
	r.pos = off
	return off, nil
}

func (r *rangeReader) Read(p []byte) (int, error) {
	if r.pos >= r.src.Size {
		return 0, io.EOF
	}
	if r.body != nil && r.at != r.pos {
		r.body.Close()
		r.body = nil
	}
	if r.body == nil {
		b, err := r.store.ReadSource(r.ctx, r.src, r.pos)
		if err != nil {
			r.err = err
			return 0, err
		}
		r.body, r.at = b, r.pos
	}
	n, err := r.body.Read(p)
	r.pos += int64(n)
	r.at = r.pos
	if err != nil && err != io.EOF {
		r.err = err
	}
	if err == io.EOF && r.pos < r.src.Size {
		err = io.ErrUnexpectedEOF
		r.err = err
	}
	return n, err
}

func (r *rangeReader) Close() error {
	if r.body != nil {
		return r.body.Close()
	}
	return nil
}
