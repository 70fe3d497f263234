package stack

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
)

// TestReadURLSetting: DATABASE_READ_URL is one row of the table, read by the catalog
// command only, given directly or as a file (DATABASE_READ_URL_FILE), and a secret.
func TestReadURLSetting(t *testing.T) {
	for _, c := range Commands() {
		if got := slices.Contains(Variables(c), "DATABASE_READ_URL"); got != (c == "catalog") {
			t.Errorf("%s reads DATABASE_READ_URL: %v", c, got)
		}
	}
	if s := lookup("DATABASE_READ_URL"); !s.secret || s.flag != "database-read-url" {
		t.Errorf("the row: %+v", s)
	}
	t.Setenv("DATABASE_READ_URL", "postgres://reader@replica.example:5432/videoforge")
	o, err := Parse("catalog", "", nil)
	if err != nil || o.DB.ReadURL != "postgres://reader@replica.example:5432/videoforge" {
		t.Fatalf("from the variable: %q %v", o.DB.ReadURL, err)
	}
	if o, err := Parse("catalog", "", []string{"-database-read-url", "postgres://r@flag.example/db"}); err != nil || o.DB.ReadURL != "postgres://r@flag.example/db" {
		t.Errorf("the flag loses: %q %v", o.DB.ReadURL, err)
	}
	os.Unsetenv("DATABASE_READ_URL")
	file := filepath.Join(t.TempDir(), "read-url")
	if err := os.WriteFile(file, []byte("postgres://reader:s3cr3t@replica.example/videoforge\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATABASE_READ_URL_FILE", file)
	if o, err = Parse("catalog", "", nil); err != nil || o.DB.ReadURL != "postgres://reader:s3cr3t@replica.example/videoforge" {
		t.Errorf("from the file: %q %v", o.DB.ReadURL, err)
	}
	if o, err := Parse("edge", "", nil); err != nil || o.DB.ReadURL != "" {
		t.Errorf("the edge took the read URL: %q %v", o.DB.ReadURL, err)
	}
	t.Setenv("DATABASE_READ_URL_FILE", filepath.Join(t.TempDir(), "missing"))
	if _, err := Parse("catalog", "", nil); err == nil || !strings.Contains(err.Error(), "DATABASE_READ_URL_FILE") {
		t.Errorf("a missing file: %v", err)
	}
}

// TestReadDatabase: the replica's configuration takes the primary's schema, statement
// timeout and, when it names none, password; a bad URL's error does not repeat it.
func TestReadDatabase(t *testing.T) {
	o := DefaultOptions()
	o.DB.Host, o.DB.Name, o.DB.User, o.DB.Password = "primary.example", "videoforge", "videoforge", "pa ss'w\\d"
	o.DB.Schema, o.DB.StatementTimeout = "vf", 3*time.Second
	primary, err := o.database("videoforge-catalog")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := o.readDatabase(primary, "r"); ok || err != nil {
		t.Fatalf("no read URL: %v %v", ok, err)
	}
	for _, c := range []struct{ url, password, host string }{
		{"postgres://videoforge@replica.example:5432/videoforge?sslmode=require", o.DB.Password, "replica.example"},

		{"postgres://reader:own@replica.example/videoforge", "own", "replica.example"},
		{"host=replica.example user=videoforge dbname=videoforge", o.DB.Password, "replica.example"},
	} {
		o.DB.ReadURL = c.url
		rc, ok, err := o.readDatabase(primary, "videoforge-catalog-read")
		if err != nil || !ok {
			t.Fatalf("%s: %v %v", c.url, ok, err)
		}
		if rc.Schema != "vf" || rc.StatementTimeout != 3*time.Second || rc.AppName != "videoforge-catalog-read" {
			t.Errorf("%s: %+v", c.url, rc)
		}
		pc, err := pgconn.ParseConfig(rc.URL)
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if pc.Password != c.password || pc.Host != c.host {
			t.Errorf("%s: password %q host %q, want %q %q", c.url, pc.Password, pc.Host, c.password, c.host)
		}
	}
	// Several replicas: every process starts at a random one, and has them all.
	o.DB.ReadURL = "postgres://videoforge@r1.example:5432,r2.example:5432,r3.example:5432/videoforge?sslmode=require"
	first := map[string]int{}
	for range 200 {
		rc, _, err := o.readDatabase(primary, "")
		if err != nil {
			t.Fatal(err)
		}
		pc, err := pgconn.ParseConfig(rc.URL)
		if err != nil {
			t.Fatal(err)
		}
		hosts := []string{pc.Host}
		for _, f := range pc.Fallbacks {
			hosts = append(hosts, f.Host)
		}
		slices.Sort(hosts)
		if !slices.Equal(hosts, []string{"r1.example", "r2.example", "r3.example"}) || pc.Password != o.DB.Password || pc.Database != "videoforge" {
			t.Fatalf("hosts %v", hosts)
		}
		first[pc.Host]++
	}
	if len(first) != 3 {
		t.Errorf("the first host over 200 starts: %v, want each of the three", first)
	}

	o.DB.ReadURL = "postgres://reader:s3cr3t@replica.example:port/videoforge"
	if _, _, err := o.readDatabase(primary, ""); err == nil || !strings.Contains(err.Error(), "DATABASE_READ_URL") || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("a bad URL: %v", err)
	}
	o.Command = "catalog"
	if _, err := New(context.Background(), o); err == nil || !strings.Contains(err.Error(), "DATABASE_READ_URL") {
		t.Errorf("the catalog starts with a bad read URL: %v", err)
	}
}

// TestGalleryReadsReplica: a stack whose DATABASE_READ_URL names a second database
// answers GET /videos from it and GET /videos/{id} from the primary.
func TestGalleryReadsReplica(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := devOptions(t)
	o.DB.ReadURL = pgtest.NewDatabase(t)
	if err := schema.Migrate(ctx, o.DB.ReadURL, schema.DefaultSchema); err != nil {
		t.Fatal(err)
	}
	replica, err := postgres.Open(ctx, postgres.Config{URL: o.DB.ReadURL, Schema: schema.DefaultSchema})
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	v := &videoforge.Video{UserID: "alice", Title: "only on the replica", Visibility: videoforge.Public, Status: videoforge.StatusReady, S3Key: "videos/k"}
	if err := postgres.NewVideoService(replica).CreateVideo(ctx, v); err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if err := s.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(s.Addrs().Gallery + "/api/gallery/videos")
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Videos []videoforge.Video `json:"videos"`
	}
	err = json.NewDecoder(res.Body).Decode(&page)
	res.Body.Close()
	if err != nil || len(page.Videos) != 1 || page.Videos[0].Title != "only on the replica" {
		t.Fatalf("GET /videos: %d %+v %v", res.StatusCode, page.Videos, err)
	}
	if code, err := get(s.Addrs().Gallery + "/api/gallery/videos/" + strconv.FormatInt(v.ID, 10)); err != nil || code != http.StatusNotFound {
		t.Errorf("GET /videos/%d answered %d (%v), want the primary's 404", v.ID, code, err)
	}
}
