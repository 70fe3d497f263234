// Package client is a Go client of VideoForge's HTTP API: videos, uploads (presigned
// PUT or resumable tus), jobs, and stream URLs.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/internal/retry"
)

// Client calls one VideoForge stack's gallery API (and its streaming API, in
// StreamURL) as the user of one Bearer token. It is safe for concurrent use.
type Client struct {
	gallery string // the gallery's origin, without a trailing slash
	token   string
	http    *http.Client
}

// Options holds a Client's optional settings; the zero value is ready to use.
type Options struct {
	// HTTPClient sends every request; http.DefaultClient when nil.
	HTTPClient *http.Client
}

// New returns a client of the gallery at galleryURL (an origin such as
// http://127.0.0.1:8080, the API being under /api/gallery) that sends token as its
// Bearer token.
func New(galleryURL, token string, opts Options) *Client {
	hc := opts.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{gallery: strings.TrimRight(galleryURL, "/"), token: token, http: hc}
}

// APIError is a server's refusal of a request: any answer but 2xx.
type APIError struct {
	Status int // the HTTP status
	// Code is the body's error.code (videoforge.ENOTFOUND, …), "" when the body is not
	// VideoForge's JSON error (a proxy's page, tusd's text).
	Code string
	// Message is the body's error.message, or else the body's text.
	Message string
	// RetryAfter is the server's Retry-After (503, 429), 0 when it sent none.
	RetryAfter time.Duration
}

// Error reads "404 not_found: no such video", or "502 <body>" for a body that is not
// VideoForge's JSON error.
func (e *APIError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

// apiError decodes a refusal: VideoForge's {"error":{"code","message"}} or any text.
func apiError(res *http.Response, body []byte) *APIError {
	e := &APIError{Status: res.StatusCode, RetryAfter: retryAfter(res.Header.Get("Retry-After"), time.Now())}
	var eb struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(body, &eb) == nil && eb.Error.Message != "" {
		e.Code, e.Message = eb.Error.Code, eb.Error.Message
	} else {
		e.Message = strings.TrimSpace(string(body))
	}
	return e
}

// retryAfter reads a Retry-After of seconds or of an HTTP date; 0 when there is none.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// do sends in as JSON (when not nil) and decodes the answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, url string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		return apiError(res, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

func (c *Client) api(path string) string { return c.gallery + "/api/gallery" + path }

// NewUpload describes the video an upload creates.
type NewUpload struct {
	Title       string                `json:"title"`
	Description string                `json:"description,omitempty"`
	Visibility  videoforge.Visibility `json:"visibility,omitempty"` // the gallery's default when empty
}

// CreateUpload creates a pending job and its video (POST /uploads). The answer's
// UploadURL takes the file as one PUT until ExpiresAt; UploadFile sends it there or
// with tus, and CompleteUpload queues the job.
func (c *Client) CreateUpload(ctx context.Context, v NewUpload) (*videoforge.Upload, error) {
	var up videoforge.Upload
	if err := c.do(ctx, "POST", c.api("/uploads"), v, &up); err != nil {
		return nil, err
	}
	return &up, nil
}

// completeAttempts and completeWait bound how long CompleteUpload retries a 503.
const (
	completeAttempts = 20
	completeWait     = 3 * time.Second
)

// CompleteUpload tells the gallery the job's file is uploaded (POST
// /uploads/{jobId}/complete) and returns the job, queued unless the file was refused.
// A 503 (a dependency is down, or a tus upload's last step is still storing the
// source, which complete waits for within bounds) is retried every few seconds, up to
// 20 times or until ctx ends.
func (c *Client) CompleteUpload(ctx context.Context, jobID int64) (*videoforge.JobView, error) {
	var job videoforge.JobView
	for attempt := 1; ; attempt++ {
		err := c.do(ctx, "POST", c.api("/uploads/"+strconv.FormatInt(jobID, 10)+"/complete"), nil, &job)
		var ae *APIError
		if err == nil {
			return &job, nil
		}
		if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || attempt == completeAttempts {
			return nil, err
		}
		if !retry.Sleep(ctx, completeWait) {
			return nil, err
		}
	}
}

// Job returns the job (GET /jobs/{id}), which only its owner sees.
func (c *Client) Job(ctx context.Context, jobID int64) (*videoforge.JobView, error) {
	var j videoforge.JobView
	if err := c.do(ctx, "GET", c.api("/jobs/"+strconv.FormatInt(jobID, 10)), nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// Video returns the video (GET /videos/{id}); its ShareKey is set for its owner only.
func (c *Client) Video(ctx context.Context, videoID int64) (*videoforge.Video, error) {
	var v videoforge.Video
	if err := c.do(ctx, "GET", c.api("/videos/"+strconv.FormatInt(videoID, 10)), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Stream is the streaming API's answer for a video: where a player loads it.
type Stream struct {
	VideoID string `json:"videoId"`
	URL     string `json:"url"`    // the HLS master playlist
	Format  string `json:"format"` // "hls"
	// ExpiresAt is when a URL carrying a token stops playing (as the server wrote
	// it), "" for a public video's URL.
	ExpiresAt string `json:"expiresAt"`
}

// streamPoll is how often StreamURL asks again while the edge does not know the video
// ready.
const streamPoll = 200 * time.Millisecond

// StreamURL returns the video's stream URL from the streaming API at edgeURL (an
// origin, the API being under /api/stream), with the client's token and, for an
// unlisted video, its shareKey ("" for none). The edge learns of a ready video from
// the catalog's events, a moment after the job completed: while it answers 404 or 409
// StreamURL asks again, until ctx ends.
func (c *Client) StreamURL(ctx context.Context, edgeURL string, videoID int64, shareKey string) (*Stream, error) {
	u := strings.TrimRight(edgeURL, "/") + "/api/stream/" + strconv.FormatInt(videoID, 10)
	if shareKey != "" {
		u += "?key=" + url.QueryEscape(shareKey)
	}
	for {
		var s Stream
		err := c.do(ctx, "GET", u, nil, &s)
		if err == nil {
			return &s, nil
		}
		var ae *APIError
		if !errors.As(err, &ae) || (ae.Status != http.StatusConflict && ae.Status != http.StatusNotFound) {
			return nil, err
		}
		if !retry.Sleep(ctx, streamPoll) {
			return nil, err
		}
	}
}
