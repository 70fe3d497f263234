package postgres_test

import (
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/internal/testutil"
	"github.com/videoforge/videoforge/pgcluster"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
)

func openDSN(t *testing.T, dsn string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), postgres.Config{URL: dsn, Schema: schema.DefaultSchema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func replicaVideo(user, title string, vis videoforge.Visibility) *videoforge.Video {
	return &videoforge.Video{UserID: user, Title: title, Visibility: vis, Status: videoforge.StatusReady, S3Key: "videos/k",
		Renditions: []videoforge.Rendition{{Name: "720p", Width: 1280, Height: 720, Bandwidth: 2800000, Playlist: "videos/k/hls/720p/index.m3u8"}}}
}

func titles(vs []*videoforge.Video) map[string]bool {
	m := map[string]bool{}
	for _, v := range vs {
		m[v.Title] = true
	}
	return m
}

// TestReplicaRouting: two databases stand for the primary and a replica that has not
// replayed the latest writes yet, so each answer tells which one gave it. Listings and
// searches (anonymous and signed in) come from the replica; a video by id, updates and
// deletes from the primary.
func TestReplicaRouting(t *testing.T) {
	ctx := context.Background()
	primary, replica := openDSN(t, pgtest.NewDatabase(t)), openDSN(t, pgtest.NewDatabase(t))
	s := postgres.NewReplicaVideoService(primary, replica, nil)

	// What both hold, written to each (the replica "replayed" it).
	old := replicaVideo("alice", "harbour sunrise", videoforge.Public)
	if err := postgres.NewVideoService(replica).CreateVideo(ctx, old); err != nil {
		t.Fatal(err)
	}
	// What the replica has not replayed yet: written through the wrapper.
	fresh := replicaVideo("alice", "lighthouse storm", videoforge.Public)
	if err := s.CreateVideo(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	mine := replicaVideo("alice", "lighthouse private", videoforge.Private)
	if err := s.CreateVideo(ctx, mine); err != nil {
		t.Fatal(err)
	}

	for _, f := range []videoforge.VideoFilter{
		{Limit: 10},
		{Limit: 10, Viewer: "alice"},
		{Limit: 10, Viewer: "alice", UserID: "alice"},
		{Limit: 10, Search: "harbour"},
		{Limit: 10, Search: "harbour", Viewer: "alice"},
	} {
		videos, total, err := s.FindVideos(ctx, f)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		if got := titles(videos); !got["harbour sunrise"] || got["lighthouse storm"] || got["lighthouse private"] || total != 1 {
			t.Errorf("%+v: got %v (total %d), want the replica's one video", f, got, total)
		}
	}
	if videos, _, err := s.FindVideos(ctx, videoforge.VideoFilter{Limit: 10, Search: "lighthouse"}); err != nil || len(videos) != 0 {
		t.Errorf("a search found %d videos the replica lacks (%v)", len(videos), err)
	}

	// By id: the primary, for the owner right after the write and for everybody else.
	if v, err := s.FindVideoByID(ctx, fresh.ID, ""); err != nil || v.Title != "lighthouse storm" {
		t.Fatalf("GET by id of a video the replica lacks: %v %v", v, err)
	}
	if v, err := s.FindVideoByID(ctx, mine.ID, "alice"); err != nil || v.Title != "lighthouse private" {
		t.Fatalf("the owner's private video by id: %v %v", v, err)
	}
	title := "lighthouse at dawn"
	if _, err := s.UpdateVideo(ctx, fresh.ID, "alice", videoforge.VideoUpdate{Title: &title}); err != nil {
		t.Fatal(err)
	}
	if v, err := s.FindVideoByID(ctx, fresh.ID, "alice"); err != nil || v.Title != title {
		t.Fatalf("the owner does not read their update: %v %v", v, err)
	}
	// The ids of the two databases' sequences collide: the replica-only row must not
	// be what a GET by its id answers.
	if v, err := s.FindVideoByID(ctx, old.ID, ""); err == nil && v.Title == "harbour sunrise" {
		t.Errorf("GET by id answered from the replica")
	}
	if err := s.DeleteVideo(ctx, mine.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.NewVideoService(primary).FindVideoByID(ctx, mine.ID, "alice"); videoforge.ErrorCode(err) != videoforge.ENOTFOUND {
		t.Errorf("the delete did not reach the primary: %v", err)
	}
	var n int
	if err := replica.Pool().QueryRow(ctx, `SELECT count(*) FROM videos`).Scan(&n); err != nil || n != 1 {
		t.Errorf("the replica holds %d videos (%v): something wrote to it", n, err)
	}
}

// through returns dsn with its host and port replaced by addr.
func through(t *testing.T, dsn, addr string) (target, via string) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u := url.URL{Scheme: "postgres", Host: addr, Path: "/" + cfg.Database, RawQuery: "sslmode=disable"}
	u.User = url.UserPassword(cfg.User, cfg.Password)
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), u.String()
}

// TestReplicaDown: while the replica cannot be reached, listings come from the primary
// (no error, no 503), the replica is not asked again for ReplicaRetry, and then
// listings return to it.
func TestReplicaDown(t *testing.T) {
	ctx := context.Background()
	primary := openDSN(t, pgtest.NewDatabase(t))
	replicaDSN := pgtest.NewDatabase(t)
	target, _ := through(t, replicaDSN, "")
	p := testutil.NewCutProxy(t, target)
	_, via := through(t, replicaDSN, p.Addr())
	replica := openDSN(t, via)
	s := postgres.NewReplicaVideoService(primary, replica, nil)

	if err := postgres.NewVideoService(replica).CreateVideo(ctx, replicaVideo("bob", "on the replica", videoforge.Public)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateVideo(ctx, replicaVideo("bob", "on the primary", videoforge.Public)); err != nil {
		t.Fatal(err)
	}
	list := func() map[string]bool {
		t.Helper()
		videos, _, err := s.FindVideos(ctx, videoforge.VideoFilter{Limit: 10})
		if err != nil {
			t.Fatalf("listing: %v", err)
		}
		return titles(videos)
	}
	if got := list(); !got["on the replica"] {
		t.Fatalf("before the outage: %v", got)
	}

	p.Cut() // the pool's open connections break, new ones are refused
	began := time.Now()
	if got := list(); !got["on the primary"] || got["on the replica"] {
		t.Fatalf("replica down: got %v, want the primary's listing", got)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("the fallback took %v", took)
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	// Within ReplicaRetry the replica is not tried, though it is back.
	if got := list(); !got["on the primary"] {
		t.Errorf("the replica was tried again before ReplicaRetry: %v", got)
	}
	deadline := began.Add(postgres.ReplicaRetry + 10*time.Second)
	for !list()["on the replica"] {
		if time.Now().After(deadline) {
			t.Fatalf("listings did not return to the replica %v after it came back", postgres.ReplicaRetry)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Both down: the primary's failure is the answer (503 at the gallery).
	p.Cut()
	primary.Close()
	_, _, err := s.FindVideos(ctx, videoforge.VideoFilter{Limit: 10})
	if err == nil {
		t.Fatal("a listing with both databases down succeeded")
	}
}

// TestReplicaLagStreaming measures the staleness a listing from a real streaming
// replica has: a private primary, a standby made from it with pg_basebackup (-R writes
// standby.signal and primary_conninfo), and the catalog's store over both. Each new
// video is read back by id at once (the primary) and polled for in the listing (the
// standby) until it shows; the test logs the lags and holds the worst to a bound.
func TestReplicaLagStreaming(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL servers")
	}
	bin, err := pgcluster.BinDir()
	if err != nil {
		t.Skip(err)
	}
	if _, err := os.Stat(filepath.Join(bin, "pg_basebackup")); err != nil {
		t.Skip("no pg_basebackup beside the server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	primaryCl, err := pgcluster.Start(ctx, filepath.Join(dir, "primary"), pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer primaryCl.Kill()
	admin, err := pgx.Connect(ctx, primaryCl.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `CREATE DATABASE vfrepl`); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	if err := schema.Migrate(ctx, primaryCl.DSN("vfrepl"), schema.DefaultSchema); err != nil {
		t.Fatal(err)
	}

	standbyDir := filepath.Join(dir, "standby")
	if err := os.Mkdir(standbyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	argv := []string{filepath.Join(bin, "pg_basebackup"), "-D", standbyDir, "-h", "127.0.0.1", "-p", strconv.Itoa(primaryCl.Port),
		"-U", "postgres", "-R", "-X", "stream", "--no-sync"}
	if os.Geteuid() == 0 { // as pgcluster does: the server's files belong to postgres
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(standbyDir, uid, gid); err != nil {
			t.Fatal(err)
		}
		argv = append([]string{"runuser", "-u", "postgres", "--"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_basebackup: %v\n%s", err, out)
	}
	standbyCl, err := pgcluster.Start(ctx, standbyDir, pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer standbyCl.Kill()

	primary, standby := openDSN(t, primaryCl.DSN("vfrepl")), openDSN(t, standbyCl.DSN("vfrepl"))
	var inRecovery bool
	if err := standby.Pool().QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil || !inRecovery {
		t.Fatalf("the standby is not in recovery: %v %v", inRecovery, err)
	}
	s := postgres.NewReplicaVideoService(primary, standby, nil)

	const n = 40
	var lags []time.Duration
	var missed int
	for i := range n {
		v := replicaVideo("carol", "streaming "+strconv.Itoa(i), videoforge.Public)
		if err := s.CreateVideo(ctx, v); err != nil {
			t.Fatal(err)
		}
		written := time.Now()
		if got, err := s.FindVideoByID(ctx, v.ID, ""); err != nil || got.Title != v.Title {
			t.Fatalf("GET by id right after the write: %v %v", got, err)
		}
		for first := true; ; first = false {
			videos, _, err := s.FindVideos(ctx, videoforge.VideoFilter{Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(videos) == 1 && videos[0].ID == v.ID {
				lags = append(lags, time.Since(written))
				break
			}
			if first {
				missed++ // the listing right after the write did not have it yet
			}
			if time.Since(written) > 30*time.Second {
				t.Fatalf("video %d not on the standby after 30 s", v.ID)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// The standby takes no writes: the wrapper never sends it one.
	if _, err := postgres.NewVideoService(standby).UpdateVideo(ctx, newestID(t, primary), "carol", videoforge.VideoUpdate{}); err == nil {
		t.Errorf("the standby took a write")
	}
	slices.Sort(lags)
	var lagText string
	_ = primary.Pool().QueryRow(ctx, `SELECT coalesce(max(replay_lag)::text, 'none') FROM pg_stat_replication`).Scan(&lagText)
	t.Logf("streaming replica, %d new videos: listing stale for p50 %v, p99 %v, max %v after the commit; %d of %d listings right after the write missed it; pg_stat_replication replay_lag %s; load %s",
		n, lags[n/2], lags[n*99/100], lags[n-1], missed, n, lagText, loadavg())
	if lags[n-1] > 5*time.Second {
		t.Errorf("a listing lagged %v behind its write", lags[n-1])
	}
}

func newestID(t *testing.T, db *postgres.DB) int64 {
	var id int64
	if err := db.Pool().QueryRow(context.Background(), `SELECT max(id) FROM videos`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
