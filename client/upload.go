package client

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/internal/retry"
)

// SinglePutMax is the largest file one PUT takes: S3's limit for a single PUT (5 GiB).
const SinglePutMax = 5 << 30

// DefaultChunkSize is the bytes of a tus PATCH when UploadOptions.ChunkSize is 0:
// under the 10 MB API Gateway takes per request.
const DefaultChunkSize = 8 << 20

// UseTus tells whether UploadFile sends a file of size bytes with tus: when asked, and
// always over SinglePutMax.
func UseTus(asked bool, size int64) bool { return asked || size > SinglePutMax }

// UploadOptions says how UploadFile sends a file.
type UploadOptions struct {
	// Tus sends the file with the tus protocol (resumable, in chunks) instead of one
	// PUT to the upload URL; files over SinglePutMax always go so.
	Tus bool
	// ChunkSize is the bytes per tus PATCH; DefaultChunkSize when 0.
	ChunkSize int64
	// Progress, when set, is told the fraction of the file the server has, from 0 to
	// 1; it may be called from another goroutine, never from two at once.
	Progress func(fraction float64)
}

// tusAttempts is how many failed PATCHes in a row a tus upload survives.
const tusAttempts = 5

// UploadFile sends the size bytes of r as the file of up (from CreateUpload): one PUT
// to up.UploadURL (a presigned URL, sent without the token), or with tus to the
// gallery's /api/gallery/tus as UseTus(opts.Tus, size) says. With tus a PATCH that
// fails (a broken connection or a body cut short, 5xx, 423, or a 409 for an offset the server lacks) is
// retried from the offset the server reports on HEAD, a few times. A refusal is an
// *APIError in the returned error's chain.
func (c *Client) UploadFile(ctx context.Context, up *videoforge.Upload, r io.ReaderAt, size int64, opts UploadOptions) error {
	progress := opts.Progress
	if progress == nil {
		progress = func(float64) {}
	}
	if UseTus(opts.Tus, size) {
		chunk := opts.ChunkSize
		if chunk <= 0 {
			chunk = DefaultChunkSize
		}
		return c.tusUpload(ctx, c.api("/tus"), up.JobID, r, size, chunk, progress)
	}
	body := &countingReader{r: io.NewSectionReader(r, 0, size), total: size, progress: progress}
	req, err := http.NewRequestWithContext(ctx, "PUT", up.UploadURL, body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Expect", "100-continue") // a refused file is not sent
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	rb, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		return apiError(res, rb)
	}
	return nil
}

// tusUpload sends the file to the tus endpoint in chunks; after a failed PATCH it asks
// the server where it got to (HEAD) and resumes from there, a few times.
func (c *Client) tusUpload(ctx context.Context, endpoint string, jobID int64, f io.ReaderAt, size, chunk int64, progress func(float64)) error {
	tusReq := func(method, url string, body io.Reader, hdr map[string]string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, url, body)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Authorization", "Bearer "+c.token)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := c.http.Do(req)
		if err != nil {
			return nil, err
		}
		b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		res.Body.Close()
		if res.StatusCode/100 != 2 {
			return res, fmt.Errorf("%s %s: %w", method, url, apiError(res, b))
		}
		return res, nil
	}
	res, err := tusReq("POST", endpoint, nil, map[string]string{"Upload-Length": strconv.FormatInt(size, 10),
		"Upload-Metadata": "jobId " + base64.StdEncoding.EncodeToString([]byte(strconv.FormatInt(jobID, 10)))})
	if err != nil {
		return err
	}
	loc, err := res.Location()
	if err != nil {
		return fmt.Errorf("tus: no upload location: %w", err)
	}
	var off int64
	failures := 0
	for off < size {
		n := min(chunk, size-off)
		res, err := tusReq("PATCH", loc.String(), io.NewSectionReader(f, off, n), map[string]string{
			"Content-Type": "application/offset+octet-stream", "Upload-Offset": strconv.FormatInt(off, 10)})
		if err == nil {
			off, err = strconv.ParseInt(res.Header.Get("Upload-Offset"), 10, 64)
		}
		if err != nil {
			// 409 is an offset the server does not have (or a job that takes no more
			// bytes), 423 another request still on the upload, and tus's 400
			// ERR_UNEXPECTED_EOF a body cut short on its way (the server keeps what came);
			// other refusals are final.
			cutShort := res != nil && res.StatusCode == http.StatusBadRequest && strings.Contains(err.Error(), "ERR_UNEXPECTED_EOF")
			retryable := res == nil || res.StatusCode/100 == 5 || res.StatusCode == http.StatusConflict ||
				res.StatusCode == http.StatusLocked || cutShort
			if failures++; failures > tusAttempts || ctx.Err() != nil || !retryable {
				return err
			}
			if !retry.Sleep(ctx, time.Duration(failures)*500*time.Millisecond) {
				return err
			}
			// Resume where the server got to.
			if hres, herr := tusReq("HEAD", loc.String(), nil, nil); herr == nil {
				was := off
				off, _ = strconv.ParseInt(hres.Header.Get("Upload-Offset"), 10, 64)
				if res != nil && res.StatusCode == http.StatusConflict && off == was {
					return err // not an offset the server lacks: the job is sealed
				}
			}
			continue
		}
		failures = 0
		progress(float64(off) / float64(size))
	}
	return nil
}

// countingReader reports the fraction of the body read as it is read.
type countingReader struct {
	r        io.Reader
	n        int64
	total    int64
	progress func(float64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.total > 0 {
		c.progress(float64(c.n) / float64(c.total))
	}
	return n, err
}
