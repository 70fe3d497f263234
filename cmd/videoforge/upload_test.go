package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
	"github.com/videoforge/videoforge/stack"
)

// makeClip encodes a small test clip (4 s, 480x360, with sound: two rungs of the ladder).
func makeClip(t *testing.T) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "clip.mp4")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=480x360:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "4", "-c:v", "libx264", "-preset", "ultrafast",
		"-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", name).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg (apt-get install ffmpeg) could not make the test clip: %v\n%s", err, out)
	}
	return name
}

// playable has ffmpeg read an HLS playlist (and every segment it lists) to the end.
func playable(url string) error {
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", url, "-f", "null", "-").CombinedOutput()
	if err != nil {
		return fmt.Errorf("ffmpeg -i %s: %v: %s", url, err, out)
	}
	return nil
}

func get(t *testing.T, url, token string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func put(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest("PUT", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Expect", "100-continue") // refused bodies are then not sent
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// eventually polls cond every 50 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUploadToPlayback goes from a file on disk to a playing stream through the dev
// stack, as a creator and players would, and checks that bad uploads end with clear
// errors and failed jobs, never stuck ones.
func TestUploadToPlayback(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	t.Setenv("DATABASE_URL", dsn)
	t.Setenv("UPLOAD_MAX_SIZE", "3000000")
	data := t.TempDir()
	s := startDev(t, data)
	clip := makeClip(t)
	gallery := s.gallery + "/api/gallery"
	alice := mintToken(t, data, "alice")
	objects := filepath.Join(data, "objects", stack.DevBucket)

	// The creator's command: upload with progress, follow the job, print the URL.
	var out syncBuffer
	start := time.Now()
	err := run(context.Background(), []string{"upload", "-data", data, "-user", "alice", "-gallery", s.gallery, "-edge", s.edge,
		"-nats-url", s.nats, "-file", clip, "-title", "E2E clip", "-timeout", "2m"}, &out)
	if err != nil {
		t.Fatalf("upload: %v\n%s", err, out.String())
	}
	t.Logf("upload to ready in %v", time.Since(start).Round(time.Millisecond))
	m := regexp.MustCompile(`video (\d+), job (\d+)`).FindStringSubmatch(out.String())
	u := regexp.MustCompile(`stream URL: (\S+)`).FindStringSubmatch(out.String())
	if m == nil || u == nil || !strings.Contains(out.String(), "100%") {
		t.Fatalf("upload printed no ids, progress or URL:\n%s", out.String())
	}
	id, jobID := m[1], m[2]
	oldURL := u[1]

	// A repeated complete is harmless.
	if code, body := call(t, "POST", gallery+"/uploads/"+jobID+"/complete", alice, ""); code != 202 || !strings.Contains(body, `"status":"completed"`) {
		t.Errorf("repeated complete: %d %s", code, body)
	}
	if code, body := call(t, "GET", gallery+"/jobs/"+jobID, alice, ""); code != 200 || !strings.Contains(body, `"progress":100`) {
		t.Errorf("job: %d %s", code, body)
	}

	// Every variant plays to the end; images and Range requests are served.
	var qs struct {
		Qualities []struct{ Name, URL string }
	}
	if res, body := get(t, s.edge+"/api/stream/"+id+"/qualities", ""); res.StatusCode != 200 || json.Unmarshal(body, &qs) != nil || len(qs.Qualities) != 2 {
		t.Fatalf("qualities: %d %s", res.StatusCode, body)
	}
	if err := playable(oldURL); err != nil {
		t.Error(err)
	}
	for _, q := range qs.Qualities {
		if err := playable(q.URL); err != nil {
			t.Error(err)
		}
	}
	res, body := get(t, oldURL, "")
	if ct, cc := res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"); ct != "application/vnd.apple.mpegurl" || !strings.Contains(cc, "max-age=10") {
		t.Errorf("master playlist: %s, %s", ct, cc)
	}
	seg := strings.TrimSuffix(qs.Qualities[0].URL, "index.m3u8") + "seg_0000.ts"
	res, body = get(t, seg, "", "Range", "bytes=0-187")
	if res.StatusCode != 206 || len(body) != 188 || res.Header.Get("Content-Type") != "video/mp2t" || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("segment range: %d, %d bytes, %v", res.StatusCode, len(body), res.Header)
	}
	var th struct{ URL string }
	if res, body := get(t, s.edge+"/api/stream/"+id+"/thumbnail", ""); res.StatusCode != 200 || json.Unmarshal(body, &th) != nil {
		t.Fatalf("thumbnail: %d %s", res.StatusCode, body)
	}
	folder := strings.TrimSuffix(th.URL, "thumbnail.jpg")
	for name, ct := range map[string]string{"thumbnail.jpg": "image/jpeg", "storyboard.jpg": "image/jpeg", "storyboard.vtt": "text/vtt; charset=utf-8"} {
		if res, body := get(t, folder+name, ""); res.StatusCode != 200 || res.Header.Get("Content-Type") != ct || len(body) == 0 {
			t.Errorf("%s: %d %s", name, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
	if res, _ := get(t, s.edge+"/videos/"+id+"/hls/../../../uploads/"+jobID+"/source", ""); res.StatusCode == 200 {
		t.Error("a path out of the video folder was served")
	}

	// Private: the old URL and unsigned URLs are refused, the owner's new URL plays.
	if code, body := call(t, "PUT", gallery+"/videos/"+id, alice, `{"visibility":"private"}`); code != 200 {
		t.Fatalf("make private: %d %s", code, body)
	}
	// Refused as "not found", the answer for a video that does not exist.
	eventually(t, 10*time.Second, "old URL refused", func() bool {
		res, _ := get(t, oldURL, "")
		return res.StatusCode == 404
	})
	if res, _ := get(t, s.edge+"/videos/"+id+"/thumbnail.jpg", ""); res.StatusCode != 404 {
		t.Errorf("unsigned thumbnail of a private video: %d", res.StatusCode)
	}
	if res, _ := get(t, s.edge+"/api/stream/"+id, ""); res.StatusCode != 404 {
		t.Errorf("stream URL of a private video for anybody: %d", res.StatusCode)
	}
	var priv struct{ URL string }
	if res, body := get(t, s.edge+"/api/stream/"+id, alice); res.StatusCode != 200 || json.Unmarshal(body, &priv) != nil || !strings.Contains(priv.URL, "/t/") {
		t.Fatalf("owner's stream URL: %d %s", res.StatusCode, body)
	}
	if err := playable(priv.URL); err != nil {
		t.Error(err)
	}
	forged := regexp.MustCompile(`/t/([0-9.]+)/[^/]+/`).ReplaceAllString(priv.URL, "/t/$1/"+strings.Repeat("A", 43)+"/")
	if res, _ := get(t, forged, ""); res.StatusCode != 403 {
		t.Errorf("forged token: %d", res.StatusCode)
	}

	// Delete: the edge answers 404 and the objects are gone.
	if code, body := call(t, "DELETE", gallery+"/videos/"+id, alice, ""); code != 204 {
		t.Fatalf("delete: %d %s", code, body)
	}
	eventually(t, 10*time.Second, "edge 404 after delete", func() bool {
		res, _ := get(t, s.edge+"/api/stream/"+id, alice)
		return res.StatusCode == 404
	})
	if res, _ := get(t, priv.URL, ""); res.StatusCode != 404 {
		t.Errorf("media after delete: %d", res.StatusCode)
	}
	for _, dir := range []string{filepath.Join(objects, "videos", id), filepath.Join(objects, "uploads", jobID)} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s still exists after delete: %v", dir, err)
		}
	}

	t.Run("PipedOutput", func(t *testing.T) { pipedOutput(t, s, data, clip) })
	t.Run("TerminalOutput", func(t *testing.T) { terminalOutput(t, s, alice, clip) })
	t.Run("Resumable", func(t *testing.T) { resumable(t, s, data, clip) })
	t.Run("BadUploads", func(t *testing.T) { badUploads(t, s, data, dsn, clip) })
}

// pipedOutput runs upload with its output into a pipe, as `videoforge upload … | tee
// log` does: plain lines, no carriage return, a few of them per step, and the stream
// URL at the end.
func pipedOutput(t *testing.T, s running, data, clip string) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	read := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(r)
		read <- string(b)
	}()
	err = run(context.Background(), []string{"upload", "-data", data, "-user", "alice", "-gallery", s.gallery, "-edge", s.edge,
		"-nats-url", s.nats, "-file", clip, "-title", "Piped clip", "-timeout", "2m"}, w)
	w.Close()
	out := <-read
	r.Close()
	if err != nil {
		t.Fatalf("upload: %v\n%s", err, out)
	}
	t.Logf("piped output:\n%s", out)
	if strings.Contains(out, "\r") || !strings.HasSuffix(out, "\n") {
		t.Fatalf("piped output is not plain lines: %q", out)
	}
	uploadLine := regexp.MustCompile(`^upload \d+% [0-9.]+/[0-9.]+ (B|KiB|MiB)( [0-9.]+ (KiB|MiB)/s \d+:\d\d left)?$`)
	jobLine := regexp.MustCompile(`^transcode \d+%$`)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var uploads, jobs []string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "upload "):
			if !uploadLine.MatchString(l) {
				t.Errorf("upload line %q", l)
			}
			uploads = append(uploads, l)
		case strings.HasPrefix(l, "transcode "):
			if !jobLine.MatchString(l) {
				t.Errorf("transcode line %q", l)
			}
			jobs = append(jobs, l)
		}
	}
	// One line per 10 % at most, and one more every few seconds of a slow step.
	if len(uploads) == 0 || len(uploads) > 12 || !strings.HasPrefix(uploads[len(uploads)-1], "upload 100% ") ||
		!strings.HasSuffix(uploads[len(uploads)-1], " 0:00 left") {
		t.Errorf("upload lines %q, want a few ending at 100%% with the speed", uploads)
	}
	if len(jobs) == 0 || len(jobs) > 30 || jobs[len(jobs)-1] != "transcode 100%" {
		t.Errorf("transcode lines %q, want a few ending at 100%%", jobs)
	}
	n := len(lines)
	if n < 4 || !regexp.MustCompile(`^video \d+, job \d+: uploading `).MatchString(lines[0]) ||
		!regexp.MustCompile(`^ready: video \d+$`).MatchString(lines[n-3]) || !strings.HasPrefix(lines[n-2], "stream URL: http") ||
		!strings.HasPrefix(lines[n-1], "play it:") {
		t.Errorf("piped output:\n%s", out)
	}
}

// terminalOutput sends the clip as upload does on a terminal (the decision given, the
// output kept): bars redrawn in place, each step's line ended once.
func terminalOutput(t *testing.T, s running, token, clip string) {
	o := stack.DefaultOptions().Client
	o.Gallery, o.Edge, o.Token, o.File, o.Title, o.Timeout = s.gallery, s.edge, token, clip, "On a terminal", 2*time.Minute
	var out syncBuffer
	if err := sendAndFollow(context.Background(), o, s.nats, display{terminal: true}, &out); err != nil {
		t.Fatalf("upload: %v\n%s", err, out.String())
	}
	lines := strings.Split(out.String(), "\n")
	bar := regexp.MustCompile(`^(\r(upload   |transcode) \[[#.]{30}\] +\d+%(  [0-9.]+ (KiB|MiB)/s, \d+:\d\d left)?\x1b\[K)+$`)
	var bars []string
	for _, l := range lines {
		if strings.HasPrefix(l, "\r") {
			if !bar.MatchString(l) {
				t.Errorf("bar line %q", l)
			}
			bars = append(bars, l)
		}
	}
	last := func(bar string) string { return bar[strings.LastIndex(bar, "\r")+1:] }
	if len(bars) != 2 || !regexp.MustCompile(`^upload    \[#{30}\] 100%  [0-9.]+ (KiB|MiB)/s, 0:00 left\x1b\[K$`).MatchString(last(bars[0])) ||
		last(bars[1]) != "transcode [##############################] 100%\x1b[K" {
		t.Errorf("want an upload bar ending at 100%% with its speed, then a transcode bar ending at 100%%:\n%q", bars)
	}
	if !strings.Contains(out.String(), "\nready: video ") || !strings.Contains(out.String(), "\nstream URL: http") {
		t.Errorf("output:\n%q", out.String())
	}
}

type upload struct {
	videoforge.Upload
	id string
}

func startUpload(t *testing.T, gallery, token, title string) upload {
	t.Helper()
	code, body := call(t, "POST", gallery+"/uploads", token, `{"title":"`+title+`","visibility":"unlisted"}`)
	var u upload
	if code != 201 || json.Unmarshal([]byte(body), &u.Upload) != nil || u.UploadURL == "" {
		t.Fatalf("start upload: %d %s", code, body)
	}
	u.id = fmt.Sprint(u.JobID)
	return u
}

func badUploads(t *testing.T, s running, data, dsn, clip string) {
	gallery := s.gallery + "/api/gallery"
	alice, bob := mintToken(t, data, "alice"), mintToken(t, data, "bob")
	src, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	jobState := func(u upload) videoforge.JobView {
		t.Helper()
		var j videoforge.JobView
		code, body := call(t, "GET", gallery+"/jobs/"+u.id, alice, "")
		if code != 200 || json.Unmarshal([]byte(body), &j) != nil {
			t.Fatalf("job %s: %d %s", u.id, code, body)
		}
		return j
	}
	failed := func(t *testing.T, u upload, want string) {
		t.Helper()
		var j videoforge.JobView
		eventually(t, 30*time.Second, "job "+u.id+" failed", func() bool {
			j = jobState(u)
			return j.Status == videoforge.JobFailed
		})
		if j.Error == nil || !strings.Contains(*j.Error, want) {
			t.Errorf("job error %v, want it to say %q", j.Error, want)
		}
		if code, body := call(t, "GET", gallery+"/videos/"+fmt.Sprint(u.VideoID), alice, ""); code != 200 || !strings.Contains(body, `"status":"failed"`) {
			t.Errorf("video of a failed job: %d %s", code, body)
		}
	}
	rejected := func(t *testing.T, body []byte, status int, msg string) {
		u := startUpload(t, gallery, alice, t.Name())
		if code, b := put(t, u.UploadURL, body); code != 200 {
			t.Fatalf("PUT: %d %s", code, b)
		}
		code, b := call(t, "POST", gallery+"/uploads/"+u.id+"/complete", alice, "")
		if code != status || !strings.Contains(b, msg) {
			t.Errorf("complete: %d %s, want %d saying %q", code, b, status, msg)
		}
		failed(t, u, msg)
		if code, b := call(t, "POST", gallery+"/uploads/"+u.id+"/complete", alice, ""); code != 409 || !strings.Contains(b, msg) {
			t.Errorf("complete again: %d %s", code, b)
		}
	}
	t.Run("Empty", func(t *testing.T) { rejected(t, nil, 400, "empty") })
	t.Run("TextRenamedMP4", func(t *testing.T) {
		rejected(t, []byte("just some text, renamed to clip.mp4\n"), 400, "not a video")
	})
	t.Run("Truncated", func(t *testing.T) {
		u := startUpload(t, gallery, alice, "truncated")
		if code, b := put(t, u.UploadURL, src[:len(src)/3]); code != 200 {
			t.Fatalf("PUT: %d %s", code, b)
		}
		if code, b := call(t, "POST", gallery+"/uploads/"+u.id+"/complete", alice, ""); code != 202 {
			t.Fatalf("complete: %d %s", code, b)
		}
		failed(t, u, "")
	})
	t.Run("OverSizeLimit", func(t *testing.T) {
		u := startUpload(t, gallery, alice, "too big")
		if code, b := put(t, u.UploadURL, make([]byte, 3000001)); code != 413 {
			t.Errorf("PUT: %d %s", code, b)
		}
		if code, b := call(t, "POST", gallery+"/uploads/"+u.id+"/complete", alice, ""); code != 409 {
			t.Errorf("complete: %d %s", code, b)
		}
	})
	t.Run("CompleteBeforePUT", func(t *testing.T) {
		u := startUpload(t, gallery, alice, "early")
		code, b := call(t, "POST", gallery+"/uploads/"+u.id+"/complete", alice, "")
		if code != 409 || !strings.Contains(b, "PUT the file") {
			t.Errorf("complete: %d %s", code, b)
		}
		if j := jobState(u); j.Status != videoforge.JobPending {
			t.Errorf("job %s after an early complete", j.Status)
		}
	})
	t.Run("SomeoneElsesJob", func(t *testing.T) {
		u := startUpload(t, gallery, alice, "alice's")
		if code, b := call(t, "POST", gallery+"/uploads/"+u.id+"/complete", bob, ""); code != 403 {
			t.Errorf("bob completes alice's job: %d %s", code, b)
		}
		if code, b := call(t, "GET", gallery+"/jobs/"+u.id, bob, ""); code != 403 {
			t.Errorf("bob reads alice's job: %d %s", code, b)
		}
		if code, b := put(t, strings.Replace(u.UploadURL, "/uploads/"+u.id+"/", "/uploads/"+fmt.Sprint(u.JobID+1000)+"/", 1), src); code != 403 {
			t.Errorf("PUT with another job's token: %d %s", code, b)
		}
		if code, b := call(t, "GET", gallery+"/jobs/"+u.id, "", ""); code != 401 {
			t.Errorf("anonymous job: %d %s", code, b)
		}
	})
	// complete seals the upload: the upload URL answers 409 and stores nothing.
	t.Run("PutAfterComplete", func(t *testing.T) {
		u := startUpload(t, gallery, alice, "sealed")
		if code, b := put(t, u.UploadURL, src); code != 200 {
			t.Fatalf("PUT: %d %s", code, b)
		}
		if code, b := call(t, "POST", gallery+"/uploads/"+u.id+"/complete", alice, ""); code != 202 {
			t.Fatalf("complete: %d %s", code, b)
		}
		code, b := put(t, u.UploadURL, []byte("another file, sent after complete"))
		if code != 409 || !strings.Contains(b, `"code":"conflict"`) {
			t.Errorf("PUT after complete: %d %s, want 409 conflict", code, b)
		}
		// Without asking first too: the answer comes whole, not as a reset.
		req, _ := http.NewRequest("PUT", u.UploadURL, bytes.NewReader(src))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("PUT after complete without Expect: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != 409 {
			t.Errorf("PUT after complete without Expect: %d", res.StatusCode)
		}
		got, err := os.ReadFile(filepath.Join(data, "objects", stack.DevBucket, "uploads", u.id, "source"))
		if err != nil || !bytes.Equal(got, src) {
			t.Errorf("the source changed after complete (%d bytes, %v)", len(got), err)
		}
		eventually(t, 30*time.Second, "job "+u.id+" completes", func() bool {
			code, body := call(t, "GET", gallery+"/jobs/"+u.id, alice, "")
			return code == 200 && strings.Contains(body, `"status":"completed"`)
		})
	})
	// Uploads never completed are given up after their lifetime (here: now) by the
	// janitor's query, and their bytes removed; none stays pending.
	t.Run("Abandoned", func(t *testing.T) {
		db, err := postgres.Open(context.Background(), postgres.Config{URL: dsn, Schema: schema.DefaultSchema})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ids, err := postgres.NewJobService(db).ExpireUploads(context.Background(), time.Now().Add(time.Hour), "not completed in time")
		if err != nil || len(ids) < 3 {
			t.Fatalf("expired %v, %v; want the three pending uploads", ids, err)
		}
		var pending int
		if err := db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM jobs WHERE status IN ('pending', 'queued', 'processing')`).Scan(&pending); err != nil || pending != 0 {
			t.Errorf("%d jobs still pending or running (%v)", pending, err)
		}
	})
}

// resumable uploads the clip with tus in several PATCHes, checks that another user
// cannot touch the upload, and that it plays like any other.
func resumable(t *testing.T, s running, data, clip string) {
	gallery := s.gallery + "/api/gallery"
	alice, bob := mintToken(t, data, "alice"), mintToken(t, data, "bob")

	// By hand: the first half, a resume from the server's offset, another user refused.
	u := startUpload(t, gallery, alice, "tus by hand")
	src, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	tus := func(method, url, token string, body []byte, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		req.Header.Set("Tus-Resumable", "1.0.0")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	meta := "jobId " + base64.StdEncoding.EncodeToString([]byte(u.id))
	if res := tus("POST", gallery+"/tus/", bob, nil, "Upload-Length", fmt.Sprint(len(src)), "Upload-Metadata", meta); res.StatusCode != 403 {
		t.Errorf("bob creates a tus upload for alice's job: %d", res.StatusCode)
	}
	res := tus("POST", gallery+"/tus/", alice, nil, "Upload-Length", fmt.Sprint(len(src)), "Upload-Metadata", meta)
	loc := res.Header.Get("Location")
	if res.StatusCode != 201 || !strings.HasPrefix(loc, "/api/gallery/tus/") {
		t.Fatalf("create: %d %q", res.StatusCode, loc)
	}
	loc = s.gallery + loc // a path, right behind any proxy
	half := len(src) / 2
	if res := tus("PATCH", loc, alice, src[:half], "Content-Type", "application/offset+octet-stream", "Upload-Offset", "0"); res.StatusCode != 204 {
		t.Fatalf("first PATCH: %d", res.StatusCode)
	}
	if res := tus("HEAD", loc, bob, nil); res.StatusCode != 403 {
		t.Errorf("bob HEADs alice's upload: %d", res.StatusCode)
	}
	res = tus("HEAD", loc, alice, nil)
	if res.StatusCode != 200 || res.Header.Get("Upload-Offset") != fmt.Sprint(half) {
		t.Fatalf("HEAD: %d offset %q", res.StatusCode, res.Header.Get("Upload-Offset"))
	}
	if code, b := call(t, "POST", gallery+"/uploads/"+u.id+"/complete", alice, ""); code != 409 {
		t.Errorf("complete before the last PATCH: %d %s", code, b)
	}
	if res := tus("PATCH", loc, alice, src[half:], "Content-Type", "application/offset+octet-stream", "Upload-Offset", fmt.Sprint(half)); res.StatusCode != 204 {
		t.Fatalf("second PATCH: %d", res.StatusCode)
	}
	if code, b := call(t, "POST", gallery+"/uploads/"+u.id+"/complete", alice, ""); code != 202 {
		t.Errorf("complete: %d %s", code, b)
	}

	// A tus upload whose last bytes come after complete accepted a PUT's file does not
	// replace it: its PATCH is refused, and so is a new tus upload of the job.
	t.Run("PatchAfterComplete", func(t *testing.T) {
		u := startUpload(t, gallery, alice, "tus after complete")
		other := bytes.Repeat([]byte("not the video "), 1000)
		meta := "jobId " + base64.StdEncoding.EncodeToString([]byte(u.id))
		res := tus("POST", gallery+"/tus", alice, nil, "Upload-Length", fmt.Sprint(len(other)), "Upload-Metadata", meta)
		loc := res.Header.Get("Location")
		if res.StatusCode != 201 || !strings.HasPrefix(loc, "/api/gallery/tus/") {
			t.Fatalf("create: %d %q", res.StatusCode, loc)
		}
		loc = s.gallery + loc
		if res := tus("PATCH", loc, alice, other[:100], "Content-Type", "application/offset+octet-stream", "Upload-Offset", "0"); res.StatusCode != 204 {
			t.Fatalf("first PATCH: %d", res.StatusCode)
		}
		if code, b := put(t, u.UploadURL, src); code != 200 {
			t.Fatalf("PUT: %d %s", code, b)
		}
		if code, b := call(t, "POST", gallery+"/uploads/"+u.id+"/complete", alice, ""); code != 202 {
			t.Fatalf("complete: %d %s", code, b)
		}
		if res := tus("PATCH", loc, alice, other[100:], "Content-Type", "application/offset+octet-stream", "Upload-Offset", "100"); res.StatusCode != 409 {
			t.Errorf("last PATCH after complete: %d, want 409", res.StatusCode)
		}
		if res := tus("POST", gallery+"/tus", alice, nil, "Upload-Length", fmt.Sprint(len(other)), "Upload-Metadata", meta); res.StatusCode != 409 {
			t.Errorf("new tus upload after complete: %d, want 409", res.StatusCode)
		}
		if res := tus("HEAD", loc, alice, nil); res.StatusCode != 200 || res.Header.Get("Upload-Offset") != "100" {
			t.Errorf("HEAD after complete: %d offset %q", res.StatusCode, res.Header.Get("Upload-Offset"))
		}
		got, err := os.ReadFile(filepath.Join(data, "objects", stack.DevBucket, "uploads", u.id, "source"))
		if err != nil || !bytes.Equal(got, src) {
			t.Errorf("the source changed after complete (%d bytes, %v)", len(got), err)
		}
		eventually(t, 30*time.Second, "job "+u.id+" completes", func() bool {
			code, body := call(t, "GET", gallery+"/jobs/"+u.id, alice, "")
			return code == 200 && strings.Contains(body, `"status":"completed"`)
		})
	})

	// The command, in 200 kB chunks, to a playing stream.
	var out syncBuffer
	err = run(context.Background(), []string{"upload", "-tus", "-chunk", "200000", "-data", data, "-user", "alice",
		"-gallery", s.gallery, "-edge", s.edge, "-nats-url", s.nats, "-file", clip, "-title", "tus clip", "-timeout", "2m"}, &out)
	u2 := regexp.MustCompile(`stream URL: (\S+)`).FindStringSubmatch(out.String())
	if err != nil || u2 == nil {
		t.Fatalf("upload -tus: %v\n%s", err, out.String())
	}
	if err := playable(u2[1]); err != nil {
		t.Error(err)
	}
	var j videoforge.JobView
	eventually(t, 30*time.Second, "the hand-made tus upload's job completes", func() bool {
		code, body := call(t, "GET", gallery+"/jobs/"+u.id, alice, "")
		return code == 200 && json.Unmarshal([]byte(body), &j) == nil && j.Status == videoforge.JobCompleted
	})
}
