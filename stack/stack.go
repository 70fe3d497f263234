// Package stack composes VideoForge: it builds the shared parts once (database pool,
// NATS connections and streams, object store, token verifier, playback signing) from
// one Options and runs the chosen roles under one lifecycle.
package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/internal/retry"
	"github.com/videoforge/videoforge/schema"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/telemetry"
)

// A role is one long-running part: it runs until its context ends, then shuts down
// within grace. ready, when set, returns once the role serves.
type role struct {
	name  string
	run   func(ctx context.Context) error
	ready func(ctx context.Context) error
	grace time.Duration
}

// defaultStopMargin is added to a role's grace before the stack stops waiting for it.
const defaultStopMargin = 5 * time.Second

// Addrs are where a running stack answers.
type Addrs struct {
	Gallery string // the gallery's origin (http://host:port); empty without one
	Edge    string // the edge's origin
	// NATS is the URL a reader connects with: the read-only user's credentials are in
	// it for dev's embedded server.
	NATS string
	// NATSServer is the embedded server's URL without credentials; empty otherwise.
	NATSServer string
	Data       string // dev's data folder
	NATSKeys   string // where dev keeps the NATS users' passwords
	// TranscoderEnv is the file of variables with which `videoforge transcoder`
	// joins dev's stack (its database, NATS, bucket); empty outside dev.
	TranscoderEnv string
}

// Stack is a set of roles over their shared parts.
type Stack struct {
	opts Options
	log  *slog.Logger

	db       *postgres.DB
	dbCfg    postgres.Config
	store    *storage.Store
	s3Cfg    storage.Config
	verifier *auth.Verifier
	// dev's embedded parts
	devIssuer  *auth.Issuer
	objectRoot string // the folder of the embedded bucket
	playback   *catalog.Playback
	natsURLs   map[bus.Role]string // the URL each NATS role connects with
	streams    bus.StreamOptions
	conns      map[string]*busConn

	stopMargin time.Duration

	mu      sync.Mutex
	roles   []role
	closers []func() // shared parts, closed in reverse
	addrs   Addrs
	ready   chan struct{}
	runErr  error
	ended   chan struct{}
}

// New validates the options, builds the shared parts and the roles of o.Command, and
// opens their listeners, so that Addrs is known before Run. Nothing runs until Run.
func New(ctx context.Context, o Options) (*Stack, error) {
	s := newStack(o)
	if err := s.tracing(ctx); err != nil {
		return nil, err
	}
	if err := s.build(ctx); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *Stack) build(ctx context.Context) error {
	var err error
	if s.streams, err = s.opts.streams(); err != nil {
		return err
	}
	switch s.opts.Command {
	case "dev":
		return s.buildDev(ctx)
	case "catalog":
		return s.buildCatalog(ctx)
	case "edge":
		return s.buildEdge(ctx)
	case "relay":
		return s.buildRelay(ctx)
	case "transcoder":
		return s.buildTranscoder(ctx)
	}
	return fmt.Errorf("stack: no roles for command %q", s.opts.Command)
}

func newStack(o Options) *Stack {
	return &Stack{opts: o, log: slog.Default(), conns: map[string]*busConn{}, stopMargin: defaultStopMargin,
		ready: make(chan struct{}), ended: make(chan struct{})}
}

// tracing starts the OpenTelemetry exporter when the OTEL_* variables name an
// endpoint (telemetry.Start), as the service videoforge-<command> unless
// OTEL_SERVICE_NAME says otherwise. The spans still buffered are flushed last, after
// every role has stopped, within the shutdown grace.
func (s *Stack) tracing(ctx context.Context) error {
	shutdown, err := telemetry.Start(ctx, "videoforge-"+s.opts.Command)
	if err != nil {
		return err
	}
	if telemetry.Enabled() {
		s.log.Info("traces exported over OTLP/HTTP", "service", "videoforge-"+s.opts.Command)
	}
	grace := s.opts.ShutdownGrace
	s.onClose(func() {
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			s.log.Warn("traces not all exported at shutdown", "err", err)
		}
	})
	return nil
}

// Addrs returns where the stack answers.
func (s *Stack) Addrs() Addrs { return s.addrs }

// Run runs every role until ctx ends or one of them stops, and then shuts them down in
// order (the gallery first, so that the relay publishes its last changes; the shared
// parts last), each within its grace. A role that fails stops the stack with its error.
func (s *Stack) Run(ctx context.Context) error {
	defer close(s.ended)
	defer s.close()
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(s.roles))
	cancels := make([]context.CancelFunc, len(s.roles))
	for i, r := range s.roles {
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		cancels[i] = cancel
		go func() { results <- result{i, r.run(rctx)} }()
	}
	wctx, stopWaiting := context.WithCancel(ctx)
	defer stopWaiting()
	go s.waitRoles(wctx)
	stopped := make([]bool, len(s.roles))
	var failure error
	select {
	case <-ctx.Done():
	case r := <-results:
		stopped[r.i] = true
		failure = fmt.Errorf("%s stopped", s.roles[r.i].name)
		if r.err != nil {
			failure = fmt.Errorf("%s: %w", s.roles[r.i].name, r.err)
		}
		s.log.Error("a role stopped; stopping the stack", "role", s.roles[r.i].name, "err", r.err)
	}
	s.mu.Lock()
	s.runErr = failure
	s.mu.Unlock()
	var errs []error
	for i, r := range s.roles {
		cancels[i]()
		for !stopped[i] {
			select {
			case res := <-results:
				stopped[res.i] = true
				// A role stopped while it was still starting may say so; that is no failure.
				if res.err != nil && !errors.Is(res.err, context.Canceled) {
					errs = append(errs, fmt.Errorf("%s: %w", s.roles[res.i].name, res.err))
				}
			case <-time.After(r.grace + s.stopMargin):
				s.log.Error("a role did not stop within its grace; going on without it", "role", r.name, "grace", r.grace)
				stopped[i] = true
			}
		}
	}
	if failure != nil {
		return failure
	}
	return errors.Join(errs...)
}

// waitRoles closes ready once every role is ready.
func (s *Stack) waitRoles(ctx context.Context) {
	for _, r := range s.roles {
		if r.ready == nil {
			continue
		}
		if err := r.ready(ctx); err != nil {
			return
		}
	}
	close(s.ready)
}

// WaitReady returns once every role serves (the edge has loaded the catalog), or with
// an error when the stack stopped first or ctx ended.
func (s *Stack) WaitReady(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case <-s.ended:
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.runErr != nil {
			return s.runErr
		}
		return errors.New("stack: stopped before it was ready")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// add appends a role; roles stop in the order they were added.
func (s *Stack) add(r role) {
	if r.grace == 0 {
		r.grace = s.opts.ShutdownGrace
	}
	s.roles = append(s.roles, r)
}

// onClose registers what closes a shared part, after every role has stopped.
func (s *Stack) onClose(f func()) { s.closers = append(s.closers, f) }

func (s *Stack) close() {
	s.mu.Lock()
	closers := s.closers
	s.closers = nil
	s.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}

// listen opens a role's listener; env names the setting in errors.
func (s *Stack) listen(addr, env string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env, err)
	}
	s.onClose(func() { ln.Close() })
	return ln, nil
}

// database opens the shared pool (once), migrating first when migrate is set.
func (s *Stack) database(ctx context.Context, migrate bool) (*postgres.DB, error) {
	if s.db != nil {
		return s.db, nil
	}
	if migrate {
		if err := schema.Migrate(ctx, s.dbCfg.URL, s.dbCfg.Schema); err != nil {
			return nil, err
		}
	}
	db, err := postgres.Open(ctx, s.dbCfg)
	if err != nil {
		return nil, err
	}
	s.db = db
	s.onClose(db.Close)
	return db, nil
}

// objects opens the shared object store (once).
func (s *Stack) objects(ctx context.Context) (*storage.Store, error) {
	if s.store != nil {
		return s.store, nil
	}
	st, err := storage.New(ctx, s.s3Cfg)
	if err != nil {
		return nil, err
	}
	s.store = st
	return st, nil
}

// busConn is one NATS connection of the stack, with the streams declared on it.
type busConn struct {
	once sync.Once
	conn *bus.Conn
	err  error
}

// conn returns the connection of a NATS role, connecting (and waiting for NATS as long
// as ctx allows) and declaring the streams the first time a URL is asked for. A nil
// connection with a nil error means ctx ended first.
func (s *Stack) conn(ctx context.Context, r bus.Role) (*bus.Conn, error) {
	url := s.natsURLs[r]
	if url == "" {
		return nil, fmt.Errorf("stack: no NATS URL for the %s role", r)
	}
	s.mu.Lock()
	bc := s.conns[url]
	if bc == nil {
		bc = &busConn{}
		s.conns[url] = bc
	}
	s.mu.Unlock()
	bc.once.Do(func() { bc.conn, bc.err = s.connect(ctx, url, r) })
	if bc.conn == nil && bc.err == nil {
		return nil, nil
	}
	return bc.conn, bc.err
}

func (s *Stack) connect(ctx context.Context, url string, r bus.Role) (*bus.Conn, error) {
	conn, err := bus.Connect(ctx, url, "videoforge-"+s.opts.Command+"-"+string(r), s.log)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, err
	}
	s.mu.Lock()
	s.closers = append(s.closers, conn.Close)
	s.mu.Unlock()
	b := retry.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		err := bus.EnsureStreams(ctx, conn.JetStream(), s.streams)
		if err == nil {
			return conn, nil
		}
		wait := b.Next()
		s.log.Warn("declaring the NATS streams failed; retrying", "err", err, "retry_in", wait)
		if !retry.Sleep(ctx, wait) {
			return nil, nil
		}
	}
}
