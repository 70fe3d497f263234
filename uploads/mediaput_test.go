package uploads_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/playback"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/storage/s3test"
	"github.com/videoforge/videoforge/uploads"
)

// key signs the test's upload tokens.
var key = []byte(strings.Repeat("k", 32))

// uploadLimit is the upload size limit of the test server: over the media server's
// drain bound, so that both ways of refusing are reached.
const uploadLimit = 8 << 20

// uploadServer is the media server's upload PUTs over a real S3 bucket (versitygw),
// served over loopback with the settings the edge gives them (streamed bodies, Expect
// checked).
type uploadServer struct {
	addr   string
	store  *storage.Store
	mu     sync.Mutex
	sealed map[int64]bool
}

func (u *uploadServer) seal(id int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.sealed[id] = true
}

func startUploadServer(t *testing.T) *uploadServer {
	t.Helper()
	st, err := storage.New(context.Background(), s3test.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	u := &uploadServer{store: st, sealed: map[int64]bool{}}
	open := func(_ context.Context, id int64) error {
		u.mu.Lock()
		defer u.mu.Unlock()
		if u.sealed[id] {
			return videoforge.Errorf(videoforge.ECONFLICT, "job %d is queued", id)
		}
		return nil
	}
	put := uploads.NewMediaPut(uploads.MediaPutConfig{TokenKey: key, MaxSize: uploadLimit, Open: open, Objects: st, Log: quiet})
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if !bytes.HasPrefix(ctx.Path(), []byte(layout.UploadsPath)) {
				ctx.SetStatusCode(fasthttp.StatusNotFound)
				return
			}
			put.Serve(ctx)
		},
		StreamRequestBody:  true,
		MaxRequestBodySize: uploadLimit,
		ExpectHandler:      put.Expect,
		ReadTimeout:        time.Minute,
		WriteTimeout:       time.Minute,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Shutdown()
		<-done
	})
	u.addr = ln.Addr().String()
	return u
}

// rawPut writes a PUT with the given extra header lines and body on a new connection,
// all of it before reading anything, as the simplest clients do, and returns the
// response and the connection.
func (u *uploadServer) rawPut(t *testing.T, uri string, header string, body []byte) (*http.Response, net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", u.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if header == "" {
		header = fmt.Sprintf("Content-Length: %d\r\n", len(body))
	}
	if _, err := io.WriteString(c, "PUT "+uri+" HTTP/1.1\r\nHost: media\r\n"+header+"\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(body); err != nil {
		t.Fatalf("writing the body: %v", err)
	}
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return res, c, br
}

// errorCode reads a JSON error body and returns its code.
func errorCode(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	var e struct {
		Error struct{ Code, Message string }
	}
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%d with a body that is not a JSON error: %q", res.StatusCode, b)
	}
	return e.Error.Code
}

func (u *uploadServer) stored(t *testing.T, id int64) (string, bool) {
	t.Helper()
	r, err := u.store.Get(context.Background(), layout.UploadKey(id))
	if videoforge.ErrorCode(err) == videoforge.ENOTFOUND {
		return "", false
	} else if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

// TestRefusedUploadAnswers: a refused PUT answers its status and JSON error to a client
// that writes its whole body before reading, whether the body is short (read and
// dropped, and the connection stays usable) or longer than the drain bound (answered
// with Connection: close while the server goes on reading), and stores nothing.
func TestRefusedUploadAnswers(t *testing.T) {
	u := startUploadServer(t)
	const sealedJob = 8
	u.seal(sealedJob)
	good := func(id int64) string { return playback.UploadPath(key, id, time.Now().Add(time.Hour)) }
	for _, tc := range []struct {
		name   string
		uri    string
		size   int
		status int
		code   string
	}{
		{"WrongSignature", strings.Replace(good(3), "/uploads/3/", "/uploads/4/", 1), 1 << 20, 403, videoforge.EFORBIDDEN},
		{"WrongSignatureLongBody", strings.Replace(good(3), "/uploads/3/", "/uploads/4/", 1), 20 << 20, 403, videoforge.EFORBIDDEN},
		{"Expired", playback.UploadPath(key, 5, time.Now().Add(-time.Minute)), 1 << 20, 403, videoforge.EFORBIDDEN},
		{"OverSize", good(6), uploadLimit + 1, 413, videoforge.ETOOLARGE},
		{"AfterComplete", good(sealedJob), 1 << 20, 409, videoforge.ECONFLICT},
		{"AfterCompleteLongBody", good(sealedJob), 6 << 20, 409, videoforge.ECONFLICT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, c, br := u.rawPut(t, tc.uri, "", bytes.Repeat([]byte("x"), tc.size))
			if code := errorCode(t, res); res.StatusCode != tc.status || code != tc.code {
				t.Fatalf("answer %d %s, want %d %s", res.StatusCode, code, tc.status, tc.code)
			}
			if tc.size <= 4<<20 {
				// The body was read: the connection takes the next request.
				if res.Close {
					t.Error("a short refused body closed the connection")
				}
				body := "the next request"
				if _, err := io.WriteString(c, "PUT "+good(7)+" HTTP/1.1\r\nHost: media\r\nContent-Length: "+fmt.Sprint(len(body))+"\r\n\r\n"+body); err != nil {
					t.Fatal(err)
				}
				next, err := http.ReadResponse(br, nil)
				if err != nil || next.StatusCode != 200 {
					t.Fatalf("next request on the connection: %v %v", next, err)
				}
			} else if !res.Close {
				t.Error("a long refused body did not close the connection")
			}
		})
	}
	if got, ok := u.stored(t, 4); ok {
		t.Errorf("a refused upload was stored: %d bytes", len(got))
	}
	if got, _ := u.stored(t, 7); got != "the next request" {
		t.Errorf("upload after a refused one: %q", got)
	}
}

// TestUploadExpectContinue: a client that asks first (Expect: 100-continue) learns of
// a refusal before it sends a byte of the body, and is told to go on otherwise.
func TestUploadExpectContinue(t *testing.T) {
	u := startUploadServer(t)
	u.seal(8)
	ask := func(t *testing.T, uri string, length int) (*http.Response, net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", u.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: media\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", uri, length)
		br := bufio.NewReader(c)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res, c, br
	}
	for _, tc := range []struct {
		name, uri string
		length    int
		status    int
		code      string
	}{
		{"WrongSignature", strings.Replace(playback.UploadPath(key, 3, time.Now().Add(time.Hour)), "/uploads/3/", "/uploads/4/", 1), 100, 403, videoforge.EFORBIDDEN},
		{"OverSize", playback.UploadPath(key, 3, time.Now().Add(time.Hour)), uploadLimit + 1, 413, videoforge.ETOOLARGE},
		{"AfterComplete", playback.UploadPath(key, 8, time.Now().Add(time.Hour)), 100, 409, videoforge.ECONFLICT},
		{"NotAnUpload", "/uploads/8/other", 100, 404, videoforge.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, _, _ := ask(t, tc.uri, tc.length)
			if code := errorCode(t, res); res.StatusCode != tc.status || code != tc.code {
				t.Errorf("answer %d %s, want %d %s", res.StatusCode, code, tc.status, tc.code)
			}
		})
	}
	t.Run("OK", func(t *testing.T) {
		body := "video bytes"
		res, c, br := ask(t, playback.UploadPath(key, 3, time.Now().Add(time.Hour)), len(body))
		if res.StatusCode != 100 {
			t.Fatalf("answer %d, want 100 Continue", res.StatusCode)
		}
		io.WriteString(c, body)
		if res, err := http.ReadResponse(br, nil); err != nil || res.StatusCode != 200 {
			t.Fatalf("after the body: %v %v", res, err)
		}
		if got, _ := u.stored(t, 3); got != body {
			t.Errorf("stored %q", got)
		}
	})
}

// TestUploadAfterComplete: once the job's upload was completed, a PUT answers 409 and
// the source stays the bytes complete accepted.
func TestUploadAfterComplete(t *testing.T) {
	u := startUploadServer(t)
	uri := playback.UploadPath(key, 9, time.Now().Add(time.Hour))
	if res, _, _ := u.rawPut(t, uri, "", []byte("the accepted source")); res.StatusCode != 200 {
		t.Fatalf("first PUT: %d", res.StatusCode)
	}
	u.seal(9) // POST /uploads/9/complete accepted it
	res, _, _ := u.rawPut(t, uri, "", []byte("another file"))
	if code := errorCode(t, res); res.StatusCode != 409 || code != videoforge.ECONFLICT {
		t.Errorf("PUT after complete: %d %s, want 409 conflict", res.StatusCode, code)
	}
	if got, _ := u.stored(t, 9); got != "the accepted source" {
		t.Errorf("the source changed after complete: %q", got)
	}
}

// TestUploadBadBody: a body shorter than its Content-Length or with malformed chunks is
// the client's fault (400, not 503), and nothing is stored.
func TestUploadBadBody(t *testing.T) {
	u := startUploadServer(t)
	t.Run("MalformedChunks", func(t *testing.T) {
		res, _, _ := u.rawPut(t, playback.UploadPath(key, 11, time.Now().Add(time.Hour)), "Transfer-Encoding: chunked\r\n",
			[]byte("5\r\nhello\r\nzz-not-a-size\r\nmore\r\n0\r\n\r\n"))
		if code := errorCode(t, res); res.StatusCode != 400 || code != videoforge.EINVALID {
			t.Errorf("answer %d %s, want 400 invalid", res.StatusCode, code)
		}
		if _, ok := u.stored(t, 11); ok {
			t.Error("a malformed body was stored")
		}
	})
	t.Run("Truncated", func(t *testing.T) {
		c, err := net.Dial("tcp", u.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		// More than the server reads ahead with the headers, so that the handler's
		// stream is what finds the body short.
		fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: media\r\nContent-Length: %d\r\n\r\n", playback.UploadPath(key, 12, time.Now().Add(time.Hour)), 2<<20)
		c.Write(make([]byte, 1<<20))
		c.(*net.TCPConn).CloseWrite() // the client gives up mid-body
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		if code := errorCode(t, res); res.StatusCode != 400 || code != videoforge.EINVALID {
			t.Errorf("answer %d %s, want 400 invalid", res.StatusCode, code)
		}
		if _, ok := u.stored(t, 12); ok {
			t.Error("a truncated body was stored")
		}
	})
}
