// Package edge answers players' stream-URL, qualities and thumbnail look-ups from
// memory: a fasthttp server over a ristretto cache of ready-to-send answers, loaded
// from PostgreSQL at start, kept current by the CATALOG stream on NATS JetStream and
// reconciled with PostgreSQL, the source of truth, so that it converges by itself when
// events are lost.
package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/valyala/fasthttp"
	"golang.org/x/sync/singleflight"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/bus"
)

// Edge is one edge node. Build it with New, start it with Run.
type Edge struct {
	cfg   Config
	store *store
	log   *slog.Logger

	cache    *ristretto.Cache[int64, *video]
	neg      *ristretto.Cache[int64, struct{}]
	limiter  *missLimiter
	cors     *cors
	applier  *applier
	views    viewCounter
	flusher  *flusher
	flight   singleflight.Group
	confirmQ chan int64 // ids of widening events, to be read from PostgreSQL
	metrics  *metrics

	verifier auth.TokenVerifier
	media    func(ctx *fasthttp.RequestCtx) bool // the embedded media server, when set

	retryAfter string // of a 429 for too many misses, in seconds

	ready      atomic.Bool
	readyCh    chan struct{}
	reconcileC chan chan struct{}
	server     *fasthttp.Server
}

// New builds an edge over the catalog database, read through cat. verifier checks
// the tokens of private videos' owners; when nil, private videos are not found for
// anybody. Nothing runs until Run.
func New(cfg Config, cat videoforge.EdgeCatalog, verifier auth.TokenVerifier, log *slog.Logger) (*Edge, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	cache, err := ristretto.NewCache(&ristretto.Config[int64, *video]{
		NumCounters:        cfg.CacheEntries * 2,
		MaxCost:            cfg.CacheEntries,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("edge: new cache: %w", err)
	}
	neg, err := ristretto.NewCache(&ristretto.Config[int64, struct{}]{
		NumCounters:        cfg.NegativeEntries * 10,
		MaxCost:            cfg.NegativeEntries,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		cache.Close()
		return nil, fmt.Errorf("edge: new negative cache: %w", err)
	}
	e := &Edge{cfg: cfg, store: &store{EdgeCatalog: cat}, log: log.With("component", "edge"), cache: cache, neg: neg, verifier: verifier,
		readyCh: make(chan struct{}), reconcileC: make(chan chan struct{}), confirmQ: make(chan int64, confirmBacklog)}
	e.cors = newCORS(cfg.CORSOrigins)
	if cfg.MissRate > 0 {
		e.limiter = newMissLimiter(cfg.MissRate, cfg.MissBurst, 100_000)
		e.retryAfter = strconv.Itoa(int(math.Ceil(1 / cfg.MissRate)))
	}
	e.metrics = newMetrics(e)
	e.applier = newApplier(cache, neg, cfg.NegativeTTL, cfg.TombstoneRetention, func(n int) { e.metrics.applied.Add(float64(n)) })
	e.flusher = &flusher{counter: &e.views, store: e.store, interval: cfg.FlushInterval, log: e.log,
		flushed: func(n int64) { e.metrics.viewsFlushed.Add(float64(n)) }, failed: e.metrics.flushFailures.Inc, kick: make(chan chan struct{})}
	e.server = &fasthttp.Server{
		Handler:                       e.Handle,
		Name:                          "videoforge-edge",
		ReadTimeout:                   cfg.ReadTimeout,
		WriteTimeout:                  cfg.WriteTimeout,
		IdleTimeout:                   cfg.IdleTimeout,
		MaxConnsPerIP:                 max(cfg.MaxConnsPerIP, 0),
		NoDefaultDate:                 false,
		NoDefaultContentType:          true,
		DisableHeaderNamesNormalizing: false,
		Logger:                        slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
	}
	return e, nil
}

// Ready reports whether the snapshot is loaded.
func (e *Edge) Ready() bool { return e.ready.Load() }

// WaitReady blocks until the snapshot is loaded or ctx ends.
func (e *Edge) WaitReady(ctx context.Context) error {
	select {
	case <-e.readyCh:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("edge: wait until ready: %w", ctx.Err())
	}
}

// Run serves HTTP on ln (answering /ready with 503 until the snapshot is loaded),
// loads the snapshot, follows the CATALOG stream, reconciles with PostgreSQL and
// flushes views, until ctx ends; then it stops the listener, flushes the last views
// and returns.
func (e *Edge) Run(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	var applierWG, wg sync.WaitGroup
	applierWG.Go(func() { e.applier.run(stop) })
	defer func() {
		cancel()
		wg.Wait()
		close(stop)
		applierWG.Wait()
		// Closing a cache clears its tables, which takes most of a second for millions
		// of entries: it is not worth holding the process's exit for.
		go func() {
			e.cache.Close()
			e.neg.Close()
		}()
	}()

	tl := &trackingListener{Listener: ln, conns: map[net.Conn]struct{}{}}
	serveErr := make(chan error, 1)
	go func() { serveErr <- e.server.Serve(tl) }()

	// The flusher outlives the listener, so that the views of the last requests
	// answered are written too.
	fctx, fcancel := context.WithCancel(context.WithoutCancel(ctx))
	var flushWG sync.WaitGroup
	flushWG.Go(func() { e.flusher.run(fctx) })
	defer func() { fcancel(); flushWG.Wait() }()

	var conn *bus.CatalogFeed
	if e.cfg.NATSURL != "" {
		var err error
		if conn, err = bus.DialCatalog(e.cfg.NATSURL, "videoforge-edge", e.log); err != nil {
			e.server.Shutdown()
			return fmt.Errorf("edge: %w", err)
		}
		defer conn.Close()
	}

	loaded := make(chan error, 1)
	go func() { loaded <- e.start(ctx, conn, &wg) }()

	var err error
	select {
	case err = <-serveErr:
		if err != nil {
			err = fmt.Errorf("edge: serve: %w", err)
		}
	case err = <-loaded:
		if err == nil {
			select {
			case err = <-serveErr:
				if err != nil {
					err = fmt.Errorf("edge: serve: %w", err)
				}
			case <-ctx.Done():
			}
		}
	case <-ctx.Done():
	}
	gctx, gcancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.ShutdownGrace)
	serr := e.server.ShutdownWithContext(gctx)
	gcancel()
	if serr != nil {
		// The grace is over: requests still being read or answered are cut off.
		n := tl.closeAll()
		e.log.Warn("shutdown grace over; connections closed", "connections", n, "grace", e.cfg.ShutdownGrace)
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// trackingListener remembers the connections it accepted until they are closed, so
// that those still open when the shutdown grace is over can be closed.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	return tc, nil
}

// closeAll closes every connection still open and returns how many there were.
func (l *trackingListener) closeAll() int {
	l.mu.Lock()
	cs := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		cs = append(cs, c)
	}
	l.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
	return len(cs)
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// start is the snapshot loader's life: it takes the stream position, loads the catalog,
// declares the edge ready and starts the event follower and the reconciler.
func (e *Edge) start(ctx context.Context, conn *bus.CatalogFeed, wg *sync.WaitGroup) error {
	seq, seqKnown := uint64(0), false
	if conn != nil {
		// The position is taken before the snapshot starts, so that every change the
		// snapshot misses is in the stream after it.
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := conn.LastSeq(pctx)
		cancel()
		if err != nil {
			e.log.Warn("CATALOG stream position unknown; events will be followed from when NATS answers", "err", err)
		} else {
			seq, seqKnown = s, true
		}
	}
	var since time.Time
	for {
		var err error
		since, err = e.loadSnapshot(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e.log.Error("snapshot load failed; retrying", "err", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e.ready.Store(true)
	close(e.readyCh)
	e.log.Info("edge ready", "videos", e.applier.liveCount(), "stream_seq", seq)

	rec := &reconciler{edge: e, watermark: since}
	wg.Go(func() { rec.run(ctx) })
	if conn != nil {
		for range confirmers {
			wg.Go(func() { e.confirm(ctx) })
		}
		f := &follower{edge: e, feed: conn}
		wg.Go(func() { f.run(ctx, seq, seqKnown) })
	}
	return nil
}

// Reconcile runs a reconcile pass now and waits for it, for tests and operators.
func (e *Edge) Reconcile(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case e.reconcileC <- done:
	case <-ctx.Done():
		return fmt.Errorf("edge: reconcile: %w", ctx.Err())
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("edge: reconcile: %w", ctx.Err())
	}
}

// FlushViews writes the views counted so far now and waits for it.
func (e *Edge) FlushViews(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case e.flusher.kick <- done:
	case <-ctx.Done():
		return fmt.Errorf("edge: flush views: %w", ctx.Err())
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("edge: flush views: %w", ctx.Err())
	}
}

// send hands a change to the applier and waits until it is applied.
func (e *Edge) send(ctx context.Context, c change) error {
	c.done = make(chan struct{})
	select {
	case e.applier.mailbox <- c:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
