package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/storage/s3gw"
	"github.com/videoforge/videoforge/storage/s3test"
)

// fleet is two `videoforge catalog` instances as they run in AWS (one database, one
// bucket, a job queue), here over PostgreSQL, the embedded S3 gateway and NATS.
type fleet struct {
	galleries  [2]string
	store      *storage.Store
	dsn        string
	alice, bob string
	tmp        string // TUS_TEMP_DIR: where a PATCH's bytes wait for S3
}

func startFleet(t *testing.T) *fleet {
	t.Helper()
	ctx := context.Background()
	fl := &fleet{dsn: pgtest.NewDatabase(t), tmp: t.TempDir()}
	ns, err := bus.Start(ctx, bus.ServerConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	s3Cfg := startObjectStore(t)
	if fl.store, err = storage.New(ctx, s3Cfg); err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	issuer, err := auth.LoadOrCreateIssuer(keys)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(issuer.JWKSHandler())
	t.Cleanup(jwks.Close)
	for _, u := range []struct {
		name string
		tok  *string
	}{{"alice", &fl.alice}, {"bob", &fl.bob}} {
		if *u.tok, err = issuer.Mint(u.name, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"DATABASE_URL": fl.dsn, "MIGRATE_ON_START": "true", "NATS_URL": ns.ClientURL(), "CATALOG_RELAY": "false",
		"JWKS_URL": jwks.URL, "JWT_ISSUER": auth.DevIssuer, "COGNITO_CLIENT_ID": auth.DevClientID, "COGNITO_USER_POOL_ID": "",
		"SQS_QUEUE_URL": "", "TUS_PART_SIZE": strconv.Itoa(5 << 20), "TUS_TEMP_DIR": fl.tmp, "PLAYBACK_BASE_URL": "",
	}
	for _, kv := range s3test.Env(s3Cfg) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	for i := range fl.galleries {
		fl.galleries[i] = startStack(t, "catalog", "-gallery-addr", "127.0.0.1:0").Gallery
	}
	return fl
}

// tusCall sends one tus request to base+path (path may be a Location) and returns the
// answer with its body read.
func tusCall(t *testing.T, method, base, path, token string, body []byte, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/offset+octet-stream")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func offsetOf(t *testing.T, res *http.Response) int {
	t.Helper()
	n, err := strconv.Atoi(res.Header.Get("Upload-Offset"))
	if err != nil {
		t.Fatalf("%d without an Upload-Offset: %v", res.StatusCode, res.Header)
	}
	return n
}

// rawPatch starts a PATCH of length bytes at offset on a connection of its own and
// sends the first part of them; the caller decides how it ends.
func rawPatch(t *testing.T, base, loc, token string, offset, length int, part []byte) net.Conn {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(time.Minute))
	fmt.Fprintf(c, "PATCH %s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: 1.0.0\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: %d\r\nContent-Length: %d\r\n\r\n", loc, u.Host, token, offset, length)
	if _, err := c.Write(part); err != nil {
		t.Fatal(err)
	}
	return c
}

func (fl *fleet) startUpload(t *testing.T, gallery string) int64 { return fl.start(t, gallery).JobID }

func (fl *fleet) start(t *testing.T, gallery string) videoforge.Upload {
	t.Helper()
	code, body := call(t, "POST", gallery+"/api/gallery/uploads", fl.alice, `{"title":"big one","visibility":"private"}`)
	var up videoforge.Upload
	if code != 201 || json.Unmarshal([]byte(body), &up) != nil {
		t.Fatalf("start upload: %d %s", code, body)
	}
	return up
}

func (fl *fleet) openParts(t *testing.T, jobID int64) int {
	t.Helper()
	open, err := fl.store.ListMultipartUploads(context.Background(), fmt.Sprintf("uploads/%d/", jobID))
	if err != nil {
		t.Fatal(err)
	}
	return len(open)
}

// TestCatalogResumableUploadsInBucket: with S3_BUCKET_NAME set, the catalog takes tus
// uploads into the bucket (S3 multipart uploads of 5 MiB parts here): a 12 MiB file
// in several PATCHes spread over two instances, resumed from the server's offset after
// a broken connection and after another instance took the upload over mid-PATCH,
// lands whole at the job's source key; another user is refused as in dev; complete
// seals it; and an upload given up has its multipart upload aborted.
func TestCatalogResumableUploadsInBucket(t *testing.T) {
	fl := startFleet(t)
	a, b := fl.galleries[0], fl.galleries[1]
	const MiB = 1 << 20
	file := make([]byte, 12*MiB)
	rand.Read(file)
	jobID := fl.startUpload(t, a)
	meta := "jobId " + base64.StdEncoding.EncodeToString([]byte(strconv.FormatInt(jobID, 10)))
	create := []string{"Upload-Length", strconv.Itoa(len(file)), "Upload-Metadata", meta}

	// Another user is refused, as in dev.
	if res, body := tusCall(t, "POST", a, "/api/gallery/tus", fl.bob, nil, create...); res.StatusCode != 403 {
		t.Errorf("bob creates an upload for alice's job: %d %s", res.StatusCode, body)
	}
	res, body := tusCall(t, "POST", a, "/api/gallery/tus", fl.alice, nil, create...)
	loc := res.Header.Get("Location")
	want := fmt.Sprintf("/api/gallery/tus/%d/source+", jobID)
	if res.StatusCode != 201 || !strings.HasPrefix(loc, want) {
		t.Fatalf("create: %d %q %s, want a Location under %s", res.StatusCode, loc, body, want)
	}
	// The first 3 MiB on instance a.
	if res, body := tusCall(t, "PATCH", a, loc, fl.alice, file[:3*MiB], "Upload-Offset", "0"); res.StatusCode != 204 || offsetOf(t, res) != 3*MiB {
		t.Fatalf("first PATCH: %d %s", res.StatusCode, body)
	}
	for _, method := range []string{"HEAD", "PATCH", "DELETE"} {
		if res, _ := tusCall(t, method, b, loc, fl.bob, nil, "Upload-Offset", strconv.Itoa(3*MiB)); res.StatusCode != 403 {
			t.Errorf("bob's %s of alice's upload: %d", method, res.StatusCode)
		}
	}

	// A PATCH to instance b whose connection breaks after 4 of its 6 MiB: the server
	// keeps what came, and says so.
	c := rawPatch(t, b, loc, fl.alice, 3*MiB, 6*MiB, file[3*MiB:7*MiB])
	c.(*net.TCPConn).CloseWrite()
	if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
		t.Fatalf("the broken PATCH got no answer: %v", err)
	}
	res, _ = tusCall(t, "HEAD", a, loc, fl.alice, nil)
	off := offsetOf(t, res)
	if res.StatusCode != 200 || off != 7*MiB {
		t.Fatalf("HEAD after the broken PATCH: %d offset %d, want %d", res.StatusCode, off, 7*MiB)
	}

	// A PATCH on instance a that stalls after 1 MiB; a request on instance b for the
	// same upload makes a let go (the lock is shared through PostgreSQL), and b has the
	// offset a got to.
	c = rawPatch(t, a, loc, fl.alice, off, len(file)-off, file[off:off+MiB])
	// Once a's PATCH buffers bytes for S3, it is reading its body.
	eventually(t, 10*time.Second, "a's PATCH reads its body", func() bool {
		m, _ := filepath.Glob(filepath.Join(fl.tmp, "tusd-s3-tmp-*"))
		return len(m) > 0
	})
	start := time.Now()
	res, _ = tusCall(t, "HEAD", b, loc, fl.alice, nil)
	t.Logf("instance b took the upload over from a's stalled PATCH in %v", time.Since(start).Round(time.Millisecond))
	if interrupted, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || interrupted.StatusCode/100 == 2 {
		t.Errorf("the stalled PATCH on a: %v %v, want an error answer", interrupted, err)
	}
	off = offsetOf(t, res)
	if res.StatusCode != 200 || off < 7*MiB || off > 8*MiB {
		t.Fatalf("HEAD on b during a's PATCH: %d offset %d", res.StatusCode, off)
	}
	// The rest on b, from the server's offset.
	if res, body := tusCall(t, "PATCH", b, loc, fl.alice, file[off:], "Upload-Offset", strconv.Itoa(off)); res.StatusCode != 204 || offsetOf(t, res) != len(file) {
		t.Fatalf("last PATCH: %d %s", res.StatusCode, body)
	}

	// The object at the job's source key is the file, and no multipart upload is left.
	r, err := fl.store.Get(context.Background(), layout.UploadKey(jobID))
	if err != nil {
		t.Fatalf("source object: %v", err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, file) {
		t.Fatalf("source object: %d bytes, not the file's %d", len(got), len(file))
	}
	if n := fl.openParts(t, jobID); n != 0 {
		t.Errorf("%d multipart uploads left open", n)
	}

	// complete accepts it (random bytes sniff as application/octet-stream); then the
	// upload takes nothing more, and the source stays.
	if code, body := call(t, "POST", a+"/api/gallery/uploads/"+strconv.FormatInt(jobID, 10)+"/complete", fl.alice, ""); code != 202 {
		t.Fatalf("complete: %d %s", code, body)
	}
	if res, body := tusCall(t, "PATCH", b, loc, fl.alice, []byte{}, "Upload-Offset", strconv.Itoa(len(file))); res.StatusCode != 409 {
		t.Errorf("PATCH after complete: %d %s", res.StatusCode, body)
	}
	if res, body := tusCall(t, "POST", b, "/tus", fl.alice, nil, create...); res.StatusCode != 409 {
		t.Errorf("new upload after complete (without the prefix): %d %s", res.StatusCode, body)
	}
	if res, body := tusCall(t, "DELETE", a, loc, fl.alice, nil); res.StatusCode != 409 {
		t.Errorf("DELETE after complete: %d %s", res.StatusCode, body)
	}
	if sz, err := fl.store.Size(context.Background(), layout.UploadKey(jobID)); err != nil || sz != int64(len(file)) {
		t.Errorf("source after complete: %d, %v", sz, err)
	}

	// The last bytes of a tus upload that come after complete accepted a PUT's file
	// (the PATCH began before) do not replace it.
	t.Run("LastBytesAfterComplete", func(t *testing.T) {
		up := fl.start(t, a)
		id := strconv.FormatInt(up.JobID, 10)
		meta := "jobId " + base64.StdEncoding.EncodeToString([]byte(id))
		res, _ := tusCall(t, "POST", a, "/api/gallery/tus", fl.alice, nil, "Upload-Length", strconv.Itoa(6*MiB), "Upload-Metadata", meta)
		loc := res.Header.Get("Location")
		if res, body := tusCall(t, "PATCH", a, loc, fl.alice, file[:MiB], "Upload-Offset", "0"); res.StatusCode != 204 {
			t.Fatalf("PATCH: %d %s", res.StatusCode, body)
		}
		c := rawPatch(t, b, loc, fl.alice, MiB, 5*MiB, file[MiB:5*MiB])
		// Once instance b holds the upload's lock, the PATCH was let in: the job
		// was pending then.
		db, err := postgres.Open(context.Background(), postgres.Config{URL: fl.dsn, Schema: schema.DefaultSchema})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		eventually(t, 10*time.Second, "the PATCH holds the upload", func() bool {
			var n int
			err := db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted`).Scan(&n)
			return err == nil && n == 1
		})
		// Meanwhile the presigned PUT and complete.
		put := file[6*MiB : 8*MiB]
		if code, body := putPlain(t, up.UploadURL, put); code != 200 {
			t.Fatalf("presigned PUT: %d %s", code, body)
		}
		if code, body := call(t, "POST", a+"/api/gallery/uploads/"+id+"/complete", fl.alice, ""); code != 202 {
			t.Fatalf("complete: %d %s", code, body)
		}
		if _, err := c.Write(file[5*MiB : 6*MiB]); err != nil {
			t.Fatal(err)
		}
		last, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(last.Body)
		if last.StatusCode != 409 || !strings.Contains(string(msg), "takes no more bytes") {
			t.Errorf("the last bytes after complete: %d %s, want 409", last.StatusCode, msg)
		}
		r, err := fl.store.Get(context.Background(), layout.UploadKey(up.JobID))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(got, put) {
			t.Errorf("the source changed after complete: %d bytes", len(got))
		}
		if n := fl.openParts(t, up.JobID); n != 0 {
			t.Errorf("%d multipart uploads left open", n)
		}
	})

	t.Run("Abandoned", func(t *testing.T) {
		id := fl.startUpload(t, b)
		meta := "jobId " + base64.StdEncoding.EncodeToString([]byte(strconv.FormatInt(id, 10)))
		res, _ := tusCall(t, "POST", b, "/api/gallery/tus", fl.alice, nil, "Upload-Length", strconv.Itoa(len(file)), "Upload-Metadata", meta)
		loc := res.Header.Get("Location")
		if res, body := tusCall(t, "PATCH", b, loc, fl.alice, file[:6*MiB], "Upload-Offset", "0"); res.StatusCode != 204 {
			t.Fatalf("PATCH: %d %s", res.StatusCode, body)
		}
		if n := fl.openParts(t, id); n != 1 {
			t.Fatalf("%d multipart uploads open, want 1", n)
		}
		// The janitor gives the job up (its cutoff: now); the multipart sweeper's
		// part is uploads.TestSweepMultipart.
		db, err := postgres.Open(context.Background(), postgres.Config{URL: fl.dsn, Schema: schema.DefaultSchema})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		jobs := postgres.NewJobService(db)
		if ids, err := jobs.ExpireUploads(context.Background(), time.Now().Add(time.Second), "not completed in time"); err != nil || len(ids) != 1 || ids[0] != id {
			t.Fatalf("expired %v, %v", ids, err)
		}
		if res, _ := tusCall(t, "PATCH", a, loc, fl.alice, file[6*MiB:7*MiB], "Upload-Offset", strconv.Itoa(6*MiB)); res.StatusCode != 409 {
			t.Errorf("PATCH of a given-up upload: %d", res.StatusCode)
		}
	})

	// The command, with tus in 2 MB chunks against production.
	t.Run("UploadCommand", func(t *testing.T) {
		name := filepath.Join(t.TempDir(), "big.bin")
		if err := os.WriteFile(name, file[:6*MiB], 0o644); err != nil {
			t.Fatal(err)
		}
		var out syncBuffer
		err := run(context.Background(), []string{"upload", "-tus", "-chunk", "2000000", "-no-wait", "-token", fl.alice,
			"-gallery", a, "-nats-url", "", "-file", name, "-title", "tus in AWS"}, &out)
		if err != nil || !strings.Contains(out.String(), "queued") {
			t.Fatalf("upload -tus: %v\n%s", err, out.String())
		}
	})
}

func TestTusSettings(t *testing.T) {
	t.Setenv("TUS_PART_SIZE", "1000000")
	if err := run(context.Background(), []string{"catalog"}, io.Discard); err == nil || !strings.Contains(err.Error(), "TUS_PART_SIZE") {
		t.Errorf("a part under S3's smallest: %v, want an error naming TUS_PART_SIZE", err)
	}
}

// putPlain PUTs body to url, as a browser or curl would a presigned URL.
func putPlain(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest("PUT", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// startObjectStore serves a folder over the S3 API with one bucket, until the test
// ends. The gateway runs once per process at a time, as the dev stack's does.
func startObjectStore(t *testing.T) storage.Config {
	t.Helper()
	cfg := storage.Config{Bucket: "videoforge", Region: s3gw.Region, AccessKey: "videoforge-test", SecretKey: "videoforge-test-secret"}
	g, err := s3gw.Start(t.TempDir(), cfg.AccessKey, cfg.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Stop() })
	cfg.Endpoint = g.Endpoint
	st, err := storage.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	return cfg
}
