package edge_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/edge"
	"github.com/videoforge/videoforge/internal/testutil"
)

// halfRequests opens n connections to addr that each send the start of a request
// and never finish it.
func halfRequests(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: edge\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	return conns
}

// TestSlowClients: 500 connections that trickle a request in do not slow the edge
// down and are closed after the read timeout; more connections from one address
// than the limit are refused.
func TestSlowClients(t *testing.T) {
	dsn, _, vs := catalogDB(t)
	v := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	e := startEdge(t, edgeCatalog(t, dsn), "", nil, func(c *edge.Config) {
		c.ReadTimeout, c.MaxConnsPerIP = 500*time.Millisecond, 600
	})
	addr := e.url[len("http://"):]
	start := time.Now()
	conns := halfRequests(t, addr, 500)
	t.Run("HealthAnswers", func(t *testing.T) {
		var worst time.Duration
		for range 20 {
			s := time.Now()
			if a := e.get(t, "/health", ""); a.status != 200 {
				t.Fatal(a)
			}
			if a := e.get(t, "/"+id(v), ""); a.status != 200 {
				t.Fatal(a)
			}
			worst = max(worst, time.Since(s))
		}
		t.Logf("slowest health and stream answers beside 500 half-requests: %v", worst)
	})
	t.Run("HalfRequestsClosed", func(t *testing.T) {
		for i, c := range conns {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := io.ReadAll(c) // the server closes: EOF (or a reset), not our deadline
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection %d still open after %v", i, time.Since(start))
			}
		}
		t.Logf("500 half-requests closed within %v (read timeout 500ms)", time.Since(start).Round(time.Millisecond))
	})
}

func TestConnectionsPerAddress(t *testing.T) {
	dsn, _, _ := catalogDB(t)
	e := startEdge(t, edgeCatalog(t, dsn), "", nil, func(c *edge.Config) { c.MaxConnsPerIP = 10 })
	addr := e.url[len("http://"):]
	halfRequests(t, addr, 10)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /health HTTP/1.1\r\nHost: edge\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 429 {
		t.Fatalf("the 11th connection: %d", res.StatusCode)
	}
	// Another address is not limited.
	res2, err := clientFrom("127.0.0.2").Get(e.url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != 200 {
		t.Fatalf("another address: %d", res2.StatusCode)
	}
}

// TestShutdownBounded: with a client in the middle of a request and the read timeout
// longer than the grace, Run returns within the grace (and the views counted before
// are flushed).
func TestShutdownBounded(t *testing.T) {
	dsn, db, vs := catalogDB(t)
	v := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const grace = 500 * time.Millisecond
	e, err := edge.New(edge.Config{BaseURL: "https://cdn.example", TokenKey: tokenKey, Staleness: time.Hour,
		ReadTimeout: time.Hour, IdleTimeout: time.Hour, FlushInterval: time.Hour, ShutdownGrace: grace}, edgeCatalog(t, dsn), nil,
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, ln) }()
	if err := e.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	r := &running{Edge: e, url: "http://" + ln.Addr().String()}
	for range 3 {
		if a := r.get(t, "/"+id(v), ""); a.status != 200 {
			t.Fatal(a)
		}
	}
	halfRequests(t, ln.Addr().String(), 3)
	idle, err := net.Dial("tcp", ln.Addr().String()) // connected, nothing sent
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(grace + 10*time.Second):
		t.Fatal("Run did not return after the grace")
	}
	took := time.Since(start)
	t.Logf("Run returned %v after its context ended (grace %v)", took.Round(time.Millisecond), grace)
	if took > grace+time.Second {
		t.Fatalf("Run took %v, grace %v", took, grace)
	}
	var views int64
	if err := db.Pool().QueryRow(context.Background(), `SELECT views FROM videos WHERE id = $1`, v.ID).Scan(&views); err != nil || views != 3 {
		t.Fatalf("views %d, %v: want 3 flushed at shutdown", views, err)
	}
}

// TestHeadCountsNoView: HEAD is answered like GET but counts no view.
func TestHeadCountsNoView(t *testing.T) {
	dsn, db, vs := catalogDB(t)
	v := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	e := startEdge(t, edgeCatalog(t, dsn), "", nil, func(c *edge.Config) { c.FlushInterval = time.Hour })
	for range 5 {
		res, err := http.Head(e.url + "/" + id(v))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("HEAD: %d", res.StatusCode)
		}
	}
	for range 2 {
		e.get(t, "/"+id(v), "")
	}
	if err := e.FlushViews(context.Background()); err != nil {
		t.Fatal(err)
	}
	var views int64
	if err := db.Pool().QueryRow(context.Background(), `SELECT views FROM videos WHERE id = $1`, v.ID).Scan(&views); err != nil || views != 2 {
		t.Fatalf("views %d, %v: want the 2 GETs only", views, err)
	}
}

// TestUploadKeepsItsLongRead: the media server's upload PUT may take longer than the
// read timeout to send its body; any other request may not.
func TestUploadKeepsItsLongRead(t *testing.T) {
	dsn, _, _ := catalogDB(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const readTimeout = 300 * time.Millisecond
	e, err := edge.New(edge.Config{BaseURL: "https://cdn.example", TokenKey: tokenKey, Staleness: time.Hour,
		ReadTimeout: readTimeout, UploadTimeout: time.Minute}, edgeCatalog(t, dsn), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e.SetMedia(func(ctx *fasthttp.RequestCtx) bool {
		if !bytes.HasPrefix(ctx.Path(), []byte("/uploads/")) {
			return false
		}
		n, err := io.Copy(io.Discard, ctx.RequestBodyStream())
		if err != nil {
			ctx.SetStatusCode(400)
			return true
		}
		ctx.SetBodyString(strconv.FormatInt(n, 10))
		return true
	}, 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := e.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	const chunks, size = 5, 1000
	fmt.Fprintf(c, "PUT /uploads/1/source HTTP/1.1\r\nHost: edge\r\nContent-Length: %d\r\n\r\n", chunks*size)
	start := time.Now()
	for range chunks {
		time.Sleep(readTimeout / 2) // the client's pace: the whole body takes longer than the read timeout
		if _, err := c.Write(bytes.Repeat([]byte("x"), size)); err != nil {
			t.Fatalf("upload cut off after %v: %v", time.Since(start), err)
		}
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("upload cut off after %v: %v", time.Since(start), err)
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || string(b) != strconv.Itoa(chunks*size) {
		t.Fatalf("upload: %d %s", res.StatusCode, b)
	}
	// A request trickling its header in is cut off after the read timeout.
	slow := halfRequests(t, ln.Addr().String(), 1)[0]
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadAll(slow)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("a half request outlived the read timeout")
	}
}

// TestConcurrentFlushesDoNotDeadlock: two edges flushing views of the same videos at
// the same time wait for each other's row locks instead of deadlocking, and every
// view is written.
func TestConcurrentFlushesDoNotDeadlock(t *testing.T) {
	dsn, db, vs := catalogDB(t)
	var videos []*videoforge.Video
	for range 200 {
		videos = append(videos, create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady)))
	}
	cat := edgeCatalog(t, dsn)
	edges := []*running{
		startEdge(t, cat, "", nil, func(c *edge.Config) { c.FlushInterval = time.Hour }),
		startEdge(t, cat, "", nil, func(c *edge.Config) { c.FlushInterval = time.Hour }),
	}
	const rounds = 5
	for range rounds {
		for _, e := range edges {
			for _, v := range videos {
				if a := e.get(t, "/"+id(v), ""); a.status != 200 {
					t.Fatal(a)
				}
			}
		}
		errs := make(chan error, len(edges))
		for _, e := range edges {
			go func() { errs <- e.FlushViews(context.Background()) }()
		}
		for range edges {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, e := range edges {
		if n := testutil.Metric(t, e.Registry(), "videoforge_edge_view_flush_failures_total"); n != 0 {
			t.Errorf("edge %d: %v failed flushes", i, n)
		}
	}
	var total int64
	if err := db.Pool().QueryRow(context.Background(), `SELECT sum(views) FROM videos`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if want := int64(rounds * len(edges) * len(videos)); total != want {
		t.Fatalf("%d views written, want %d", total, want)
	}
}

// TestViewsOfLastRequestsFlushed: stream hits under way when the edge is stopped are
// all either answered 200 and counted, or refused: the views written equal the 200
// answers.
func TestViewsOfLastRequestsFlushed(t *testing.T) {
	dsn, db, vs := catalogDB(t)
	v := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e, err := edge.New(edge.Config{BaseURL: "https://cdn.example", TokenKey: tokenKey, Staleness: time.Hour,
		FlushInterval: time.Hour, ShutdownGrace: 5 * time.Second}, edgeCatalog(t, dsn), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, ln) }()
	if err := e.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/api/stream/" + id(v)
	var ok, sent atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{}}
			for sent.Add(1) <= 1000 {
				res, err := client.Get(url)
				if err != nil {
					continue // refused once the listener is closed
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == 200 {
					ok.Add(1)
				}
			}
		})
	}
	checkFor(t, 10*time.Second, func() error {
		if ok.Load() < 300 {
			return errNotYet
		}
		return nil
	})
	cancel() // SIGTERM, mid-traffic
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var views int64
	if err := db.Pool().QueryRow(context.Background(), `SELECT views FROM videos WHERE id = $1`, v.ID).Scan(&views); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d requests, %d answered 200, %d views written", min(sent.Load(), 1000), ok.Load(), views)
	if views != ok.Load() {
		t.Fatalf("%d views written, %d answered 200", views, ok.Load())
	}
}
