package postgres_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
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

// proxy forwards TCP connections to a server and can be cut (every connection closed,
// none accepted) and restored on the same port: a replica that goes down and returns.
type proxy struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
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
	p := newProxy(t, target)
	_, via := through(t, replicaDSN, p.addr)
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

	p.cut() // the pool's open connections break, new ones are refused
	began := time.Now()
	if got := list(); !got["on the primary"] || got["on the replica"] {
		t.Fatalf("replica down: got %v, want the primary's listing", got)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("the fallback took %v", took)
	}
	p.restore(t)
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
	p.cut()
	primary.Close()
	_, _, err := s.FindVideos(ctx, videoforge.VideoFilter{Limit: 10})
	if err == nil {
		t.Fatal("a listing with both databases down succeeded")
	}
}
