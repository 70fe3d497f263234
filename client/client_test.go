package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/client"
)

// writeError answers as VideoForge's servers do: the code's status and
// {"error":{"code","message"}}, with Retry-After for an unavailable dependency.
func writeError(w http.ResponseWriter, code, msg string) {
	if code == videoforge.EUNAVAILABLE {
		w.Header().Set("Retry-After", "5")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(videoforge.HTTPStatus(code))
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// TestAPIErrors: every refusal is an *APIError with the status, the body's code and
// message, and the server's Retry-After.
func TestAPIErrors(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+aliceToken {
			writeError(w, videoforge.EUNAUTHORIZED, "this needs a Bearer token")
			return
		}
		switch r.URL.Path {
		case "/api/gallery/jobs/1":
			writeError(w, videoforge.EINVALID, "bad job id")
		case "/api/gallery/jobs/2":
			writeError(w, videoforge.EUNAVAILABLE, "the database is down")
		case "/api/gallery/jobs/3":
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway) // a proxy's page
		default:
			writeError(w, videoforge.ENOTFOUND, "job not found")
		}
	}))
	t.Cleanup(hs.Close)
	for _, tc := range []struct {
		name       string
		token      string
		job        int64
		status     int
		code, msg  string
		retryAfter time.Duration
		text       string
	}{
		{"Invalid", aliceToken, 1, 400, videoforge.EINVALID, "bad job id", 0, "400 invalid: bad job id"},
		{"Unauthorized", "someone", 1, 401, videoforge.EUNAUTHORIZED, "this needs a Bearer token", 0, "401 unauthorized: this needs a Bearer token"},
		{"NotFound", aliceToken, 9, 404, videoforge.ENOTFOUND, "job not found", 0, "404 not_found: job not found"},
		{"Unavailable", aliceToken, 2, 503, videoforge.EUNAVAILABLE, "the database is down", 5 * time.Second, "503 unavailable: the database is down"},
		{"NotJSON", aliceToken, 3, 502, "", "<html>bad gateway</html>", 0, "502 <html>bad gateway</html>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := client.New(hs.URL+"/", tc.token, client.Options{})
			j, err := c.Job(context.Background(), tc.job)
			var ae *client.APIError
			if j != nil || !errors.As(err, &ae) {
				t.Fatalf("got %v, %v; want an *APIError", j, err)
			}
			want := client.APIError{Status: tc.status, Code: tc.code, Message: tc.msg, RetryAfter: tc.retryAfter}
			if *ae != want {
				t.Errorf("got %+v, want %+v", *ae, want)
			}
			if err.Error() != tc.text {
				t.Errorf("error %q, want %q", err, tc.text)
			}
		})
	}
}

// TestCompleteUploadRetriesUnavailable: a 503 from complete (the source is still being
// stored) is asked again, and any other refusal is not.
func TestCompleteUploadRetriesUnavailable(t *testing.T) {
	var calls atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n := calls.Add(1); {
		case r.Method != "POST" || r.URL.Path != "/api/gallery/uploads/4/complete":
			writeError(w, videoforge.ENOTFOUND, "no such route")
		case n == 1:
			writeError(w, videoforge.EUNAVAILABLE, "the source is still being stored")
		default:
			w.WriteHeader(http.StatusAccepted)
			json.NewEncoder(w).Encode(videoforge.JobView{Job: videoforge.Job{ID: 4, Status: videoforge.JobQueued}})
		}
	}))
	t.Cleanup(hs.Close)
	c := client.New(hs.URL, aliceToken, client.Options{})
	j, err := c.CompleteUpload(context.Background(), 4)
	if err != nil || j.ID != 4 || j.Status != videoforge.JobQueued || calls.Load() != 2 {
		t.Fatalf("got %+v, %v after %d calls; want job 4 queued after 2", j, err, calls.Load())
	}
	_, err = c.CompleteUpload(context.Background(), 5)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != 404 || calls.Load() != 3 {
		t.Errorf("got %v after %d calls; want one 404", err, calls.Load())
	}
}

// TestCreateUploadAndStreamURL: the request bodies and paths the servers expect, and
// StreamURL asking again while the edge does not know the video ready.
func TestCreateUploadAndStreamURL(t *testing.T) {
	var streamCalls atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "POST /api/gallery/uploads":
			var in map[string]any
			if json.NewDecoder(r.Body).Decode(&in) != nil || fmt.Sprint(in) != "map[title:Clip visibility:unlisted]" {
				writeError(w, videoforge.EINVALID, fmt.Sprintf("body %v", in))
				return
			}
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(videoforge.Upload{JobID: 6, VideoID: 2, UploadURL: "http://media/uploads/6/source"})
		case "GET /api/stream/2":
			if r.URL.Query().Get("key") != "k/y+" {
				writeError(w, videoforge.ENOTFOUND, "video not found: key "+r.URL.RawQuery)
				return
			}
			if streamCalls.Add(1) < 3 {
				writeError(w, videoforge.ENOTFOUND, "video not found") // not yet known ready
				return
			}
			w.Write([]byte(`{"videoId":"2","url":"http://edge/videos/2/hls/master.m3u8","format":"hls","expiresAt":"2030-01-01T00:00:00Z"}`))
		default:
			writeError(w, videoforge.ENOTFOUND, "no such route")
		}
	}))
	t.Cleanup(hs.Close)
	c := client.New(hs.URL, aliceToken, client.Options{})
	ctx := context.Background()
	up, err := c.CreateUpload(ctx, client.NewUpload{Title: "Clip", Visibility: videoforge.Unlisted})
	if err != nil || up.JobID != 6 || up.VideoID != 2 {
		t.Fatalf("create upload: %+v, %v", up, err)
	}
	s, err := c.StreamURL(ctx, hs.URL, 2, "k/y+")
	want := client.Stream{VideoID: "2", URL: "http://edge/videos/2/hls/master.m3u8", Format: "hls", ExpiresAt: "2030-01-01T00:00:00Z"}
	if err != nil || *s != want || streamCalls.Load() != 3 {
		t.Fatalf("stream URL: %+v, %v after %d calls; want %+v after 3", s, err, streamCalls.Load(), want)
	}
	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	var ae *client.APIError
	if _, err := c.StreamURL(ctx, hs.URL, 3, ""); !errors.As(err, &ae) || ae.Status != 404 {
		t.Errorf("stream URL of a video never ready: %v, want the last 404 once ctx ends", err)
	}
}

// TestUploadFilePut: without tus the file goes as one PUT to the upload URL, without
// the gallery's token; a refusal (a sealed upload's 409) is an *APIError.
func TestUploadFilePut(t *testing.T) {
	file := randomFile(300_000)
	var got []byte
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "PUT" || r.Header.Get("Authorization") != "" || r.ContentLength != int64(len(file)) {
			writeError(w, videoforge.EINVALID, fmt.Sprintf("%s with Authorization %q, %d bytes", r.Method, r.Header.Get("Authorization"), r.ContentLength))
			return
		}
		if r.URL.Path == "/uploads/2/source" {
			writeError(w, videoforge.ECONFLICT, "the upload is sealed")
			return
		}
		got, _ = io.ReadAll(r.Body)
	}))
	t.Cleanup(hs.Close)
	c := client.New("http://127.0.0.1:1", aliceToken, client.Options{})
	var last float64
	up := &videoforge.Upload{JobID: 1, UploadURL: hs.URL + "/uploads/1/source"}
	if err := c.UploadFile(context.Background(), up, bytes.NewReader(file), int64(len(file)), client.UploadOptions{Progress: func(f float64) { last = f }}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, file) || last != 1 {
		t.Errorf("stored %d bytes, progress %v; want the file's %d and 1", len(got), last, len(file))
	}
	up = &videoforge.Upload{JobID: 2, UploadURL: hs.URL + "/uploads/2/source"}
	err := c.UploadFile(context.Background(), up, bytes.NewReader(file), int64(len(file)), client.UploadOptions{})
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != 409 || ae.Code != videoforge.ECONFLICT {
		t.Errorf("PUT to a sealed upload: %v, want a 409 *APIError", err)
	}
}

// TestUseTus: files over S3's largest single PUT always go with tus.
func TestUseTus(t *testing.T) {
	for _, tc := range []struct {
		asked bool
		size  int64
		want  bool
	}{{false, 1 << 20, false}, {true, 1 << 20, true}, {false, 5 << 30, false}, {false, 5<<30 + 1, true}, {false, 20 << 30, true}} {
		if got := client.UseTus(tc.asked, tc.size); got != tc.want {
			t.Errorf("UseTus(%v, %d) = %v", tc.asked, tc.size, got)
		}
	}
}
