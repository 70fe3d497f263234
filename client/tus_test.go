package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/client"
	"github.com/videoforge/videoforge/uploads/tus"
)

const aliceToken = "alice-token"

// jobs stands in for the catalog's jobs: every job is alice's, pending until sealed.
type jobs struct {
	mu     sync.Mutex
	sealed map[int64]bool
}

func (j *jobs) status(id int64) videoforge.JobStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.sealed[id] {
		return videoforge.JobQueued
	}
	return videoforge.JobPending
}

// seal is what complete does to a job: it takes no more bytes.
func (j *jobs) seal(id int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.sealed[id] = true
}

func (j *jobs) FindJob(_ context.Context, id int64, userID string) (*videoforge.JobView, error) {
	if userID != "alice" {
		return nil, videoforge.Errorf(videoforge.EFORBIDDEN, "job %d is not yours", id)
	}
	return &videoforge.JobView{Job: videoforge.Job{ID: id, UserID: "alice", Status: j.status(id)}}, nil
}

func (j *jobs) WhilePending(ctx context.Context, id int64, write func(ctx context.Context) error) error {
	if j.status(id) != videoforge.JobPending {
		return videoforge.Errorf(videoforge.ECONFLICT, "job %d is sealed", id)
	}
	return write(ctx)
}

// objects keeps the finished uploads' files, by key.
type objects struct {
	mu   sync.Mutex
	byID map[string][]byte
}

func (o *objects) PutFile(_ context.Context, key, name string) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.byID[key] = b
	return nil
}

// source returns the one file stored, nil when none was (the key is the catalog's
// business).
func (o *objects) source(t *testing.T) []byte {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.byID) > 1 {
		t.Fatalf("%d files stored, want one", len(o.byID))
	}
	for _, b := range o.byID {
		return b
	}
	return nil
}

// tusStack is the catalog's real tus server (folder store in a temp dir) at
// /api/gallery/tus of a loopback server, as cmd/videoforge mounts it.
type tusStack struct {
	url     string // the gallery's origin
	jobs    *jobs
	objects *objects

	mu      sync.Mutex
	patches []int64  // the Upload-Offset of every PATCH, in order
	methods []string // every request's method, in order
	// after, when set, runs after each request has been answered.
	after func(r *http.Request, status int)
	// before, when set, may change a request before the tus server sees it.
	before func(r *http.Request)
}

func startTus(t *testing.T, maxSize int64) *tusStack {
	t.Helper()
	s := &tusStack{jobs: &jobs{sealed: map[int64]bool{}}, objects: &objects{byID: map[string][]byte{}}}
	srv, err := tus.New(tus.Config{
		Dir:     t.TempDir(),
		Objects: s.objects,
		MaxSize: maxSize,
		Jobs:    s.jobs,
		Log:     slog.New(slog.DiscardHandler),
		Verify: func(_ context.Context, token string) (*auth.User, error) {
			if token != aliceToken {
				return nil, errors.New("unknown token")
			}
			return &auth.User{ID: "alice"}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := srv.Handler("/api/gallery" + tus.Path + "/")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, r := range tus.Routes {
		mux.Handle(r.Method+" /api/gallery"+tus.Path+r.Path, h)
	}
	mux.Handle("POST /api/gallery"+tus.Path+"/{$}", h)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.methods = append(s.methods, r.Method)
		if r.Method == http.MethodPatch {
			off, _ := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
			s.patches = append(s.patches, off)
		}
		before, after := s.before, s.after
		s.mu.Unlock()
		if before != nil {
			before(r)
		}
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		mux.ServeHTTP(rec, r)
		if after != nil {
			after(r, rec.status)
		}
	}))
	t.Cleanup(hs.Close)
	s.url = hs.URL
	return s
}

func (s *tusStack) requests() (methods []string, patches []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.methods...), append([]int64(nil), s.patches...)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func randomFile(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func count(methods []string, m string) int {
	n := 0
	for _, x := range methods {
		if x == m {
			n++
		}
	}
	return n
}

// TestTusUpload sends a file in several PATCHes to the catalog's tus server, which
// stores it whole as the job's source.
func TestTusUpload(t *testing.T) {
	s := startTus(t, 10<<20)
	file := randomFile(1<<20 + 123)
	c := client.New(s.url, aliceToken, client.Options{})
	var last atomic.Uint64
	up := &videoforge.Upload{JobID: 7, VideoID: 3}
	err := c.UploadFile(context.Background(), up, bytes.NewReader(file), int64(len(file)), client.UploadOptions{
		Tus: true, ChunkSize: 300_000, Progress: func(f float64) { last.Store(uint64(f * 1000)) }})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.objects.source(t); !bytes.Equal(got, file) {
		t.Fatalf("source: %d bytes, want the file's %d", len(got), len(file))
	}
	methods, patches := s.requests()
	if want := []int64{0, 300_000, 600_000, 900_000}; !equal(patches, want) {
		t.Errorf("PATCH offsets %v, want %v", patches, want)
	}
	if count(methods, "POST") != 1 || count(methods, "HEAD") != 0 {
		t.Errorf("requests %v: want one POST and no HEAD", methods)
	}
	if last.Load() != 1000 {
		t.Errorf("last progress %v, want 1", float64(last.Load())/1000)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// cutProxy forwards TCP connections to upstream and, once, cuts the connection that
// carries the byte number cutAt of what clients sent (in the middle of a PATCH's body
// when cutAt is), after forwarding what came before it.
type cutProxy struct {
	addr     string
	cutAt    int64
	sent     atomic.Int64
	cuts     atomic.Int32
	upstream string
}

func startCutProxy(t *testing.T, upstream string, cutAt int64) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &cutProxy{addr: ln.Addr().String(), cutAt: cutAt, upstream: strings.TrimPrefix(upstream, "http://")}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(conn)
		}
	}()
	return p
}

func (p *cutProxy) serve(down net.Conn) {
	defer down.Close()
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer up.Close()
	go func() {
		io.Copy(down, up)
		down.Close()
	}()
	buf := make([]byte, 16<<10)
	for {
		n, err := down.Read(buf)
		if n > 0 {
			before := p.sent.Add(int64(n)) - int64(n)
			if before < p.cutAt && before+int64(n) >= p.cutAt && p.cuts.Add(1) == 1 {
				up.Write(buf[:p.cutAt-before])
				// The server reads what came and then the end of its request's body.
				up.(*net.TCPConn).CloseWrite()
				return
			}
			if _, err := up.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			up.(*net.TCPConn).CloseWrite()
			return
		}
	}
}

// TestTusResumesAfterBrokenConnection: the connection breaks in the middle of a PATCH;
// the client asks the server where it got to (HEAD) and sends the rest from there, so
// the bytes that came before the break are not sent again.
func TestTusResumesAfterBrokenConnection(t *testing.T) {
	s := startTus(t, 10<<20)
	const chunk = 256 << 10
	file := randomFile(1 << 20)
	p := startCutProxy(t, s.url, 2*chunk+chunk/2) // within the third PATCH's body
	c := client.New("http://"+p.addr, aliceToken, client.Options{})
	up := &videoforge.Upload{JobID: 8}
	err := c.UploadFile(context.Background(), up, bytes.NewReader(file), int64(len(file)), client.UploadOptions{Tus: true, ChunkSize: chunk})
	if err != nil {
		t.Fatal(err)
	}
	if p.cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d connections, want 1", p.cuts.Load())
	}
	if got := s.objects.source(t); !bytes.Equal(got, file) {
		t.Fatalf("source: %d bytes, want the file's %d", len(got), len(file))
	}
	methods, patches := s.requests()
	t.Logf("requests %v, PATCH offsets %v", methods, patches)
	if count(methods, "HEAD") != 1 {
		t.Errorf("requests %v: want one HEAD, after the break", methods)
	}
	// The PATCH after the break starts where the server's bytes end, past the third
	// chunk's start and not on a chunk's boundary.
	resumed := false
	for i, off := range patches {
		if i > 0 && off > patches[i-1] && off%chunk != 0 {
			resumed = true
		}
	}
	if len(patches) < 4 || patches[2] != 2*chunk || patches[3] <= 2*chunk || !resumed {
		t.Errorf("PATCH offsets %v: want the one after the break to start within the third chunk", patches)
	}
}

// TestTusRefusals: a refusal of the tus server ends the upload with an error that says
// which request was refused, how and why, as an *APIError.
func TestTusRefusals(t *testing.T) {
	file := randomFile(600_000)
	for _, tc := range []struct {
		name   string
		max    int64
		setup  func(s *tusStack)
		status int
		method string // the refused request
		msg    string
	}{
		{"Conflict", 10 << 20, func(s *tusStack) {
			// complete came first: after the first PATCH the job takes no more bytes.
			s.after = func(r *http.Request, _ int) {
				if r.Method == http.MethodPatch {
					s.jobs.seal(9)
				}
			}
		}, http.StatusConflict, "PATCH", "takes no more bytes"},
		{"PreconditionFailed", 10 << 20, func(s *tusStack) {
			// A server that speaks no version of tus the client does.
			s.before = func(r *http.Request) { r.Header.Set("Tus-Resumable", "2.0.0") }
		}, http.StatusPreconditionFailed, "POST", "unsupported tus-resumable header"},
		{"TooLarge", 500_000, nil, http.StatusRequestEntityTooLarge, "POST", "maximum size exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startTus(t, tc.max)
			if tc.setup != nil {
				tc.setup(s)
			}
			c := client.New(s.url, aliceToken, client.Options{})
			err := c.UploadFile(context.Background(), &videoforge.Upload{JobID: 9}, bytes.NewReader(file), int64(len(file)),
				client.UploadOptions{Tus: true, ChunkSize: 200_000})
			var ae *client.APIError
			if !errors.As(err, &ae) || ae.Status != tc.status {
				t.Fatalf("got %v, want an *APIError of status %d", err, tc.status)
			}
			if !strings.HasPrefix(err.Error(), tc.method+" "+s.url+"/api/gallery/tus") || !strings.Contains(err.Error(), strconv.Itoa(tc.status)) ||
				!strings.Contains(strings.ToLower(err.Error()), tc.msg) {
				t.Errorf("error %q: want the request (%s), the status and %q", err, tc.method, tc.msg)
			}
			if s.objects.source(t) != nil {
				t.Error("a refused upload was stored as the source")
			}
		})
	}
}
