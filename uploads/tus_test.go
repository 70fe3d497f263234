package uploads_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/storage/s3test"
	"github.com/videoforge/videoforge/uploads"
)

const MiB = 1 << 20

// bucketEnv is a gallery whose resumable uploads go to the bucket in parts of 5 MiB.
func bucketEnv(t *testing.T) (*env, *uploads.Uploads, *postgres.JobService, *storage.Store) {
	t.Helper()
	st, err := storage.New(context.Background(), s3test.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	var up *uploads.Uploads
	var jobs *postgres.JobService
	e := newEnv(t, func(db *postgres.DB, _ func(context.Context, string) (*auth.User, error)) *catalog.Uploads {
		jobs = postgres.NewJobService(db)
		up, err = uploads.New(uploads.Config{Jobs: jobs, Objects: st, Queue: &sentMessages{}, Limits: uploads.DefaultLimits(), Log: quiet,
			URL: func(_ context.Context, jobID int64, _ string, _ time.Time) (string, error) {
				return "http://uploads.invalid/" + strconv.FormatInt(jobID, 10), nil
			},
			Tus: uploads.Tus{InBucket: true, PartSize: 5 * MiB, TempDir: t.TempDir(), Locker: postgres.NewUploadLocker(db, quiet)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { up.Close() })
		return up.Gallery()
	})
	return e, up, jobs, st
}

// tusCall sends one tus request to the gallery and returns the answer with its body.
func (e *env) tusCall(method, path, token string, body []byte, hdr ...string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/offset+octet-stream")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// resumable starts an upload and a resumable upload of length bytes for it, at prefix
// (the gallery's or none), and sends its first n bytes.
func (e *env) resumable(token, prefix string, length, n int) (jobID int64, loc string) {
	e.t.Helper()
	var u videoforge.Upload
	r := e.do("POST", "/api/gallery/uploads", token, map[string]any{"title": "clip"})
	r.decode(e.t, &u)
	meta := "jobId " + base64.StdEncoding.EncodeToString([]byte(strconv.FormatInt(u.JobID, 10)))
	res, body := e.tusCall("POST", prefix+"/tus", token, nil, "Upload-Length", strconv.Itoa(length), "Upload-Metadata", meta)
	if res.StatusCode != http.StatusCreated {
		e.t.Fatalf("POST %s/tus: %d %s", prefix, res.StatusCode, body)
	}
	loc = res.Header.Get("Location")
	if res, body := e.tusCall("PATCH", loc, token, make([]byte, n), "Upload-Offset", "0"); res.StatusCode != http.StatusNoContent {
		e.t.Fatalf("PATCH: %d %s", res.StatusCode, body)
	}
	return u.JobID, loc
}

func openParts(t *testing.T, st *storage.Store, jobID int64) int {
	t.Helper()
	open, err := st.ListMultipartUploads(context.Background(), layout.UploadFolder(jobID))
	if err != nil {
		t.Fatal(err)
	}
	return len(open)
}

// TestSweepMultipart: the multipart uploads of jobs given up by the janitor are
// aborted, with the objects the tus upload kept beside them; those of pending jobs,
// young ones and completed jobs' sources stay.
func TestSweepMultipart(t *testing.T) {
	e, up, jobs, st := bucketEnv(t)
	ctx := context.Background()
	token := e.token("alice")
	given, loc := e.resumable(token, catalog.Prefix, 7*MiB, 6*MiB)
	if n := openParts(t, st, given); n != 1 {
		t.Fatalf("%d multipart uploads open, want 1", n)
	}
	// The janitor gives the job up (its cutoff: now).
	if ids, err := jobs.ExpireUploads(ctx, time.Now().Add(time.Second), "not completed in time"); err != nil || len(ids) != 1 || ids[0] != given {
		t.Fatalf("expired %v, %v", ids, err)
	}
	pending, _ := e.resumable(token, "", 7*MiB, 6*MiB)
	var done videoforge.Upload
	e.do("POST", "/api/gallery/uploads", token, map[string]any{"title": "done"}).decode(t, &done)
	if err := st.Put(ctx, layout.UploadKey(done.JobID), bytes.NewReader(bytes.Repeat([]byte{0, 1, 2, 3}, 1000))); err != nil {
		t.Fatal(err)
	}
	if r := e.do("POST", fmt.Sprintf("/api/gallery/uploads/%d/complete", done.JobID), token, nil); r.status != http.StatusAccepted {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}

	if n, err := up.SweepMultipart(ctx, time.Hour); err != nil || n != 0 {
		t.Errorf("swept %d younger than an hour, %v; want 0", n, err)
	}
	n, err := up.SweepMultipart(ctx, 0)
	if err != nil || n != 1 {
		t.Fatalf("swept %d, %v; want 1", n, err)
	}
	if n := openParts(t, st, given); n != 0 {
		t.Errorf("%d multipart uploads still open", n)
	}
	left, err := st.List(ctx, layout.UploadFolder(given))
	if err != nil || len(left) != 0 {
		t.Errorf("left in the job's folder: %v %v", left, err)
	}
	if n := openParts(t, st, pending); n != 1 {
		t.Errorf("the pending job has %d multipart uploads open, want 1", n)
	}
	// The completed job's source is not touched by the sweep.
	if _, err := st.Size(ctx, layout.UploadKey(done.JobID)); err != nil {
		t.Errorf("the completed job's source: %v", err)
	}
	if res, _ := e.tusCall("PATCH", loc, token, make([]byte, MiB), "Upload-Offset", strconv.Itoa(6*MiB)); res.StatusCode != http.StatusConflict {
		t.Errorf("PATCH of a given-up upload: %d", res.StatusCode)
	}
}
