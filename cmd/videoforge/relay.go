package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/catalog/relay"
)

// natsFlags are the settings of the roles that publish to NATS.
type natsFlags struct {
	url      *string
	replicas *int
}

func (f *flags) nats(defaultURL, usage string) *natsFlags {
	return &natsFlags{
		url:      f.string("nats-url", "NATS_URL", defaultURL, usage),
		replicas: f.int("nats-replicas", "NATS_STREAM_REPLICAS", 1, "copies of the CATALOG and JOBS streams in a NATS cluster"),
	}
}

func (n *natsFlags) streams() (bus.StreamOptions, error) {
	if *n.replicas < 1 || *n.replicas > 5 {
		return bus.StreamOptions{}, fmt.Errorf("NATS_STREAM_REPLICAS=%d: want 1 to 5", *n.replicas)
	}
	return bus.StreamOptions{Replicas: *n.replicas}, nil
}

func runRelay(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("relay", "Publishes the catalog's outbox to NATS JetStream (stream CATALOG) in commit order, and pushes\n"+
		"playback-token revocations to CloudFront's KeyValueStore (REVOCATION_KVS_ARN).\n"+
		"Run as many as you like: one publishes, the others stand by and take over when it stops;\n"+
		"every relay pushes revocations, each taking the ones no other has in hand.")
	dbf := f.database()
	nf := f.nats("nats://127.0.0.1:4222", "NATS server(s) to publish to, comma-separated")
	metricsAddr := f.string("metrics-addr", "RELAY_METRICS_ADDR", "", "address to serve Prometheus metrics on (/metrics); empty serves none")
	leaseTimeout := f.duration("lease-timeout", "RELAY_LEASE_TIMEOUT", 5*time.Second,
		"how long the active relay's PostgreSQL session may stay silent before a standby fences it and takes over")
	leaseRenew := f.duration("lease-renew", "RELAY_LEASE_RENEW", time.Second,
		"how often the active relay renews its lease and standbys check it (at most a third of the timeout)")
	rf := f.revocation()
	if err := f.parse(args); err != nil {
		return err
	}
	revCfg, err := rf.config()
	if err != nil {
		return err
	}
	rc := relay.Config{LeaseTimeout: *leaseTimeout, LeaseRenew: *leaseRenew}
	if *leaseTimeout <= 0 || *leaseRenew <= 0 || rc.Validate() != nil {
		return fmt.Errorf("RELAY_LEASE_TIMEOUT=%v, RELAY_LEASE_RENEW=%v: want positive durations, the timeout at least three renewals",
			*leaseTimeout, *leaseRenew)
	}
	dbCfg, err := dbf.config("videoforge-relay")
	if err != nil {
		return err
	}
	if *nf.url == "" {
		return errors.New("NATS_URL is empty: the relay needs a NATS server to publish to")
	}
	streams, err := nf.streams()
	if err != nil {
		return err
	}
	var reg prometheus.Registerer = prometheus.NewRegistry()
	if *metricsAddr != "" {
		r, stop, err := serveMetrics(*metricsAddr, "RELAY_METRICS_ADDR", "relay")
		if err != nil {
			return err
		}
		defer stop()
		reg = r
	}
	rc.Metrics = reg
	return relayAndPush(ctx, dbCfg, *nf.url, streams, rc, revCfg, reg, slog.Default())
}

// relayAndPush runs the relay role and the revocation pusher side by side until ctx
// ends or one of them fails, and then stops both.
func relayAndPush(ctx context.Context, dbCfg postgres.Config, natsURL string, streams bus.StreamOptions, rc relay.Config,
	revCfg revocationConfig, reg prometheus.Registerer, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- publishOutbox(ctx, dbCfg, natsURL, streams, rc, log) }()
	go func() { errs <- pushRevocations(ctx, dbCfg, revCfg, reg, log) }()
	err := <-errs
	cancel()
	return errors.Join(err, <-errs)
}

// publishOutbox is the relay role: it connects to NATS (waiting for it as long as it
// takes), declares the streams and publishes the outbox until ctx ends.
func publishOutbox(ctx context.Context, dbCfg postgres.Config, natsURL string, streams bus.StreamOptions, rc relay.Config, log *slog.Logger) error {
	dbCfg.MaxConns = 2 // the relay's own session is separate; the pool only deletes old rows
	db, err := postgres.Open(ctx, dbCfg)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := bus.Connect(ctx, natsURL, "videoforge-relay", log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer conn.Close() // after the relay: its last acks are in
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := bus.EnsureStreams(ctx, conn.JetStream(), streams)
		if err == nil {
			break
		}
		log.Warn("declaring the NATS streams failed; retrying", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
	r, err := relay.New(postgres.NewOutbox(db), conn, rc, log)
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// inProcessRelay is the relay running beside another role (catalog, dev).
type inProcessRelay struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startRelay runs the relay role in the background, with the revocation pusher beside
// it. It has its own context, so that the caller stops it after the gallery: changes
// the gallery commits while it shuts down are still published.
//
// The pusher runs with revCfg, which the role's flags gave.
func startRelay(ctx context.Context, dbCfg postgres.Config, natsURL string, streams bus.StreamOptions, revCfg revocationConfig,
	reg prometheus.Registerer) *inProcessRelay {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &inProcessRelay{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		pushed := make(chan struct{})
		go func() {
			defer close(pushed)
			if err := pushRevocations(rctx, dbCfg, revCfg, reg, slog.Default()); err != nil {
				slog.Error("revocation pusher stopped: revocations stay in PostgreSQL until a relay runs", "err", err)
			}
		}()
		// The lease takes its defaults: in-process relays stand by for one another too.
		if err := publishOutbox(rctx, dbCfg, natsURL, streams, relay.Config{Metrics: reg}, slog.Default()); err != nil {
			slog.Error("relay stopped: catalog events stay in the outbox until a relay runs", "err", err)
		}
		<-pushed
	}()
	return p
}

// stop ends the relay, waiting for its round in flight and for its NATS connection
// to drain. Calling it on nil does nothing.
func (p *inProcessRelay) stop() {
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
}
