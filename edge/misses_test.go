package edge_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
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

// clientFrom is an HTTP client whose connections come from the loopback address ip.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16}}
}

// TestMissesBounded: many random ids from one client cost at most the client's miss
// budget of PostgreSQL reads and are answered 429 with Retry-After beyond it, while
// held videos keep being served to that client and other clients' misses are still
// read.
func TestMissesBounded(t *testing.T) {
	dsn, _, vs := catalogDB(t)
	known := []*videoforge.Video{
		create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady)),
		create(t, vs, newVideo("alice", videoforge.Unlisted, videoforge.StatusReady)),
	}
	const rate, burst = 50, 20
	e := startEdge(t, edgeCatalog(t, dsn), "", nil, func(c *edge.Config) {
		c.MissRate, c.MissBurst, c.NegativeEntries, c.NegativeTTL = rate, burst, 1000, time.Hour
	})
	reg := e.Registry()
	before := testutil.Metric(t, reg, "videoforge_edge_reads_total")
	client := clientFrom("127.0.0.1")
	var statuses [600]atomic.Int64
	var retryAfter atomic.Value
	var knownAsked atomic.Int64
	start := time.Now()
	const n = 5000
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range n / 8 {
				path := fmt.Sprintf("%s/%d", e.url, 1_000_000+r.Int64N(1<<40))
				if i%10 == 0 {
					path = e.url + "/" + id(known[i%len(known)]) + keyOf(known[i%len(known)])
					knownAsked.Add(1)
				}
				res, err := client.Get(path)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				statuses[res.StatusCode].Add(1)
				if i%10 == 0 && res.StatusCode != 200 {
					t.Errorf("known video %s: %d", path, res.StatusCode)
				}
				if res.StatusCode == 429 {
					retryAfter.Store(res.Header.Get("Retry-After"))
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	reads := testutil.Metric(t, reg, "videoforge_edge_reads_total") - before
	limit := burst + rate*elapsed.Seconds() + 2
	t.Logf("%d requests in %v: %d 200, %d 404, %d 429; %v PostgreSQL reads (bound %.0f)",
		n, elapsed.Round(time.Millisecond), statuses[200].Load(), statuses[404].Load(), statuses[429].Load(), reads, limit)
	if reads > limit {
		t.Errorf("%v reads, want at most %.0f", reads, limit)
	}
	if statuses[429].Load() == 0 || retryAfter.Load() != "1" {
		t.Errorf("no 429 with Retry-After: 1 (%v)", retryAfter.Load())
	}
	if statuses[200].Load() != knownAsked.Load() {
		t.Errorf("%d known videos served, want %d", statuses[200].Load(), knownAsked.Load())
	}
	// Another client has its own budget.
	res, err := clientFrom("127.0.0.2").Get(e.url + "/123456789")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Fatalf("another client's miss: %d", res.StatusCode)
	}
}

// TestTombstonesPruned: a deleted video's version is forgotten after the retention,
// and the video stays 404, also when an old event for it arrives afterwards.
func TestTombstonesPruned(t *testing.T) {
	dsn, db, vs := catalogDB(t)
	ns := startNATS(t)
	js := ns.js()
	v := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	relay(t, db, js)
	e := startEdge(t, edgeCatalog(t, dsn), ns.url(), nil, func(c *edge.Config) { c.TombstoneRetention = 50 * time.Millisecond })
	if err := vs.DeleteVideo(context.Background(), v.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	relay(t, db, js)
	checkFor(t, 5*time.Second, statusIs(t, e, "/"+id(v), "", 404))
	checkFor(t, 5*time.Second, func() error {
		if n := testutil.Metric(t, e.Registry(), "videoforge_edge_tombstones"); n != 0 {
			return fmt.Errorf("%v tombstones", n)
		}
		return nil
	})
	publish(t, js, "late", videoforge.EventUpdated, v.Version, v)
	m := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	relay(t, db, js)
	checkFor(t, 5*time.Second, statusIs(t, e, "/"+id(m), "", 200))
	if err := statusIs(t, e, "/"+id(v), "", 404)(); err != nil {
		t.Fatal(err)
	}
}

// TestMissesBehindProxies: behind a trusted proxy, misses are counted per address in
// X-Forwarded-For, and entries a client adds on the left change nothing.
func TestMissesBehindProxies(t *testing.T) {
	dsn, _, _ := catalogDB(t)
	e := startEdge(t, edgeCatalog(t, dsn), "", nil, func(c *edge.Config) {
		c.TrustedProxies, c.MissRate, c.MissBurst = 1, 0.5, 2
	})
	miss := func(xff string, n int) int {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/%d", e.url, 5_000_000+n), nil)
		req.Header.Set("X-Forwarded-For", xff)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == 429 && res.Header.Get("Retry-After") != "2" {
			t.Fatalf("Retry-After %q, want 2", res.Header.Get("Retry-After"))
		}
		return res.StatusCode
	}
	for i, c := range []struct {
		xff  string
		want int
	}{
		{"203.0.113.1", 404},
		{"203.0.113.1", 404},
		{"203.0.113.1", 429},
		{"198.51.100.9, 203.0.113.1", 429}, // a forged entry on the left
		{"203.0.113.2", 404},
	} {
		if got := miss(c.xff, i); got != c.want {
			t.Fatalf("%d, X-Forwarded-For %q: %d, want %d", i, c.xff, got, c.want)
		}
	}
}

// TestHundredThousandRandomIDs: 100 000 look-ups of random ids from 2 000 client
// addresses, one in ten of a known video, cost PostgreSQL at most every client's miss
// budget, leave the edge's memory where it was (the negative cache and the limiter are
// bounded), and every known video is still served. The requests go to the edge's
// handler directly, with their client addresses set, so that the figure is the edge's
// and 2 000 addresses need no network setup; TestMissesBounded does the same over HTTP.
func TestHundredThousandRandomIDs(t *testing.T) {
	dsn, _, vs := catalogDB(t)
	known := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	const rate, burst, negEntries = 1, 3, 2000
	e := startEdge(t, edgeCatalog(t, dsn), "", nil, func(c *edge.Config) {
		c.MissRate, c.MissBurst, c.NegativeEntries, c.NegativeTTL = rate, burst, negEntries, time.Hour
	})
	reg := e.Registry()
	before := testutil.Metric(t, reg, "videoforge_edge_reads_total")
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)

	const n, clients, workers = 100_000, 2_000, 4
	var statuses [600]atomic.Int64
	var knownBad atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 2))
			var req fasthttp.Request
			var ctx fasthttp.RequestCtx
			for i := w; i < n; i += workers {
				c := i % clients
				addr := &net.TCPAddr{IP: net.IPv4(10, 0, byte(c>>8), byte(c)), Port: 40000}
				id := 1_000_000 + r.Int64N(1<<40)
				if i%10 == 0 {
					id = known.ID
				}
				req.Reset()
				req.SetRequestURI("/api/stream/" + strconv.FormatInt(id, 10))
				ctx.Init(&req, addr, nil)
				ctx.Response.Reset()
				e.Handle(&ctx)
				code := ctx.Response.StatusCode()
				statuses[code].Add(1)
				if id == known.ID && code != 200 {
					knownBad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	reads := testutil.Metric(t, reg, "videoforge_edge_reads_total") - before
	bound := clients * (burst + rate*elapsed.Seconds() + 1)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	grown := int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
	t.Logf("%d look-ups from %d clients in %v (%.0f/s): %d 200, %d 404, %d 429; %v PostgreSQL reads (%.0f/s, bound %.0f); heap %+.1f MiB",
		n, clients, elapsed.Round(time.Millisecond), n/elapsed.Seconds(), statuses[200].Load(), statuses[404].Load(),
		statuses[429].Load(), reads, reads/elapsed.Seconds(), bound, float64(grown)/(1<<20))
	if reads > bound {
		t.Errorf("%v PostgreSQL reads, want at most %.0f", reads, bound)
	}
	if knownBad.Load() != 0 || statuses[200].Load() != n/10 {
		t.Errorf("known video: %d of %d answers were not 200", knownBad.Load(), n/10)
	}
	if statuses[429].Load() == 0 || statuses[200].Load()+statuses[404].Load()+statuses[429].Load() != n {
		t.Errorf("answers other than 200, 404 and 429, or no 429 at all")
	}
	if grown > 4<<20 {
		t.Errorf("the heap grew by %.1f MiB over 100 000 unknown ids, want at most 4 MiB", float64(grown)/(1<<20))
	}
}
