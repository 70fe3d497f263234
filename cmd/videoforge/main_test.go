package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
	"github.com/videoforge/videoforge/stack"
	"github.com/videoforge/videoforge/stack/stacktest"
)

func TestMain(m *testing.M) {
	pgtest.Main(m, func(ctx context.Context, dsn string) error { return nil })
}

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// running is a dev stack's base URLs.
type running struct{ gallery, edge, nats string }

// startDev runs the dev stack in-process on free ports, as `videoforge dev -data data`
// does, and returns its base URLs once it serves; it stops when the test ends.
func startDev(t *testing.T, data string) running {
	t.Helper()
	t.Setenv("NATS_PORT", "0")
	a := stacktest.Start(t, "dev", "-data", data, "-gallery-addr", "127.0.0.1:0", "-edge-addr", "127.0.0.1:0")
	return running{gallery: a.Gallery, edge: a.Edge, nats: a.NATS}
}

// startStack is stacktest.Start, by the name tus_test.go calls it.
func startStack(t *testing.T, command string, args ...string) stack.Addrs {
	t.Helper()
	return stacktest.Start(t, command, args...)
}

func mintToken(t *testing.T, data, user string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"token", "-data", data, "-user", user}, &out); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out.String())
}

func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestSeedExamples runs the seed's curl examples against `videoforge dev` on the
// database at DATABASE_URL and checks the seed's answers.
func TestSeedExamples(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	t.Setenv("DATABASE_URL", dsn)
	data := t.TempDir()
	st := startDev(t, data)
	base := st.gallery + "/api/gallery"

	// The dev stack migrated the database; add a video as the upload flow would.
	db, err := postgres.Open(context.Background(), postgres.Config{URL: dsn, Schema: schema.DefaultSchema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v := &videoforge.Video{UserID: "alice", Title: "Keyword in the title", Visibility: videoforge.Public,
		Status: videoforge.StatusReady, S3Key: "videos/1"}
	if err := postgres.NewVideoService(db).CreateVideo(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	alice := mintToken(t, data, "alice")

	if code, body := call(t, "GET", base+"/health", "", ""); code != 200 || body != `{"status":"ok","service":"gallery-service","runtime":"go"}`+"\n" {
		t.Errorf("health: %d %s", code, body)
	}
	for _, q := range []string{"/videos", "/videos?page=1&limit=20", "/videos?search=keyword"} {
		code, body := call(t, "GET", base+q, "", "")
		var l struct {
			Videos     []videoforge.Video
			Pagination map[string]int
		}
		if err := json.Unmarshal([]byte(body), &l); code != 200 || err != nil || len(l.Videos) != 1 || l.Pagination["total"] != 1 {
			t.Errorf("GET %s: %d %s", q, code, body)
		}
	}
	id := fmt.Sprint(v.ID)
	if code, body := call(t, "GET", base+"/videos/"+id, "", ""); code != 200 || !strings.Contains(body, `"title":"Keyword in the title"`) {
		t.Errorf("get: %d %s", code, body)
	}
	if code, body := call(t, "PUT", base+"/videos/"+id, alice, `{"title":"New Title","visibility":"public"}`); code != 200 || !strings.Contains(body, `"title":"New Title"`) {
		t.Errorf("update: %d %s", code, body)
	}
	// The edge follows the catalog: a public video has a plain URL, a private one is
	// gone for everybody but its owner within moments of the change.
	if code, body := call(t, "GET", st.edge+"/api/stream/"+id, "", ""); code != 200 || !strings.Contains(body, "/videos/"+id+"/hls/master.m3u8") {
		t.Errorf("edge stream URL: %d %s", code, body)
	}
	if code, body := call(t, "PUT", base+"/videos/"+id, alice, `{"visibility":"private"}`); code != 200 {
		t.Fatalf("make private: %d %s", code, body)
	}
	waitFor(t, "the edge to hide the private video", func() bool {
		code, _ := call(t, "GET", st.edge+"/api/stream/"+id, "", "")
		return code == 404
	})
	if code, body := call(t, "GET", st.edge+"/api/stream/"+id, alice, ""); code != 200 || !strings.Contains(body, "/t/") {
		t.Errorf("owner's signed URL: %d %s", code, body)
	}
	if code, body := call(t, "PUT", base+"/videos/"+id, mintToken(t, data, "bob"), `{"title":"x"}`); code != 404 {
		t.Errorf("update of another user's private video: %d %s", code, body)
	}
	if code, body := call(t, "DELETE", base+"/videos/"+id, alice, ""); code != 204 {
		t.Errorf("delete: %d %s", code, body)
	}
	if code, _ := call(t, "GET", base+"/videos/"+id, "", ""); code != 404 {
		t.Errorf("get after delete: %d", code)
	}
	waitFor(t, "the edge to forget the deleted video", func() bool {
		code, _ := call(t, "GET", st.edge+"/api/stream/"+id, alice, "")
		return code == 404
	})
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDevPrivateCluster: without DATABASE_URL the dev stack starts its own PostgreSQL
// under the data folder, keeps its data across restarts and stops it on exit.
func TestDevPrivateCluster(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	data := t.TempDir()
	t.Run("First", func(t *testing.T) {
		base := startDev(t, data).gallery
		if code, body := call(t, "GET", base+"/videos", "", ""); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	})
	if _, err := os.Stat(filepath.Join(data, "postgres", "postmaster.pid")); !os.IsNotExist(err) {
		t.Errorf("PostgreSQL still running after dev stopped: %v", err)
	}
	t.Run("Again", func(t *testing.T) {
		base := startDev(t, data).gallery
		if code, body := call(t, "GET", base+"/api/gallery/health", "", ""); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	})
}

func TestBadConfiguration(t *testing.T) {
	cases := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"DATABASE_URL": "", "DB_HOST": ""}, []string{"catalog"}, "DATABASE_URL"},
		{map[string]string{"DATABASE_URL": "", "DB_HOST": "db", "DB_NAME": ""}, []string{"catalog"}, "DB_NAME"},
		{map[string]string{"DATABASE_URL": "", "DB_HOST": "db", "DB_NAME": "x", "DB_PORT": "54x"}, []string{"migrate"}, "DB_PORT"},
		{map[string]string{"DATABASE_URL": "postgres://x/y", "DB_SCHEMA": "Bad-Name"}, []string{"migrate"}, "DB_SCHEMA"},
		{map[string]string{"DATABASE_URL": "postgres://x/y", "COGNITO_USER_POOL_ID": "", "JWKS_URL": ""}, []string{"catalog"}, "COGNITO_USER_POOL_ID"},
		{map[string]string{"DATABASE_URL": "postgres://x/y", "COGNITO_USER_POOL_ID": "nonsense"}, []string{"catalog"}, "COGNITO_USER_POOL_ID"},
		{map[string]string{"DB_STATEMENT_TIMEOUT": "soon"}, []string{"migrate"}, "DB_STATEMENT_TIMEOUT"},
		{nil, []string{"token", "-data", t.TempDir()}, "-user"},
		{nil, []string{"token", "-data", t.TempDir(), "-user", "a"}, "videoforge dev"},
		{nil, []string{"nope"}, "unknown command"},
		{nil, []string{"dev", "-data", t.TempDir(), "-transcoder-workers", "-1"}, "TRANSCODER_WORKERS"},
		{map[string]string{"REVOCATION_KVS_ARN": "arn:aws:cloudfront::1:key-value-store/x", "REVOCATION_DISTRIBUTION_ID": ""}, []string{"relay"}, "REVOCATION_DISTRIBUTION_ID"},
		{map[string]string{"REVOCATION_KVS_ARN": "", "REVOCATION_DISTRIBUTION_ID": "E1"}, []string{"relay"}, "REVOCATION_KVS_ARN"},
		{map[string]string{"REVOCATION_KVS_ARN": "nonsense", "REVOCATION_DISTRIBUTION_ID": "E1"}, []string{"relay"}, "REVOCATION_KVS_ARN"},
		{map[string]string{"REVOCATION_INTERVAL": "1ms"}, []string{"relay"}, "REVOCATION_INTERVAL"},
		{map[string]string{"REVOCATION_KVS_ARN": "arn:aws:cloudfront::1:key-value-store/x", "REVOCATION_DISTRIBUTION_ID": ""}, []string{"catalog"}, "REVOCATION_DISTRIBUTION_ID"},
		{map[string]string{"REVOCATION_INTERVAL": "soon"}, []string{"relay"}, "REVOCATION_INTERVAL"},
		{map[string]string{"PLAYBACK_TOKEN_TTL": "10s"}, []string{"relay"}, "PLAYBACK_TOKEN_TTL"},
		{map[string]string{"DATABASE_URL": "postgres://x/y", "JWKS_URL": "http://127.0.0.1:1/jwks", "JWT_ISSUER": "https://issuer.example", "PLAYBACK_BASE_URL": "https://cdn.example",
			"PLAYBACK_TOKEN_KEY": "base64:AAEC"}, []string{"catalog"}, "PLAYBACK_TOKEN_KEY"},
		{map[string]string{"DATABASE_URL": "postgres://x/y", "PLAYBACK_TOKEN_KEY": "base64:***"}, []string{"edge"}, "PLAYBACK_TOKEN_KEY"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " ")+" "+c.want, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			err := run(context.Background(), c.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error naming %s", err, c.want)
			}
		})
	}
}
