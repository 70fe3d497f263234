// Package relay publishes the catalog's outbox to NATS JetStream in commit order.
//
// The catalog writes one outbox row per change, in the change's transaction. The relay
// reads the unpublished rows in id order, publishes each on its subject with the
// event id as Nats-Msg-Id, and marks a row published only after JetStream has
// acknowledged it. So nothing committed is lost, and a row published twice (a crash
// between the ack and the mark) is dropped by JetStream's duplicate window.
//
// Any number of relays may run against one schema: they elect one active publisher
// with a PostgreSQL session advisory lock held by a dedicated connection. The lock is
// held as a lease: the active relay runs a statement on its session at least every
// LeaseRenew, and a standby that finds the holder's session silent (pg_stat_activity's
// state_change, on the server's clock) for LeaseTimeout fences it with
// pg_terminate_backend, waiting until that backend has exited, and only then takes the
// lock. So a SIGSTOPped or hung relay, whose session the kernel keeps alive, loses the
// leadership within LeaseTimeout plus LeaseRenew. The active relay reads and marks
// rows through that same session, and its UPDATE checks that the session still holds
// the lock: a fenced relay can no longer mark anything.
//
// A relay also stops publishing on its own once it has not heard from its session for
// LeaseTimeout/2 (by its monotonic clock, counted from when it sent the statement, so
// before the server's count began): it renews first, through a statement that checks
// it still holds the lock, and gives up the session if that fails. A relay woken from
// SIGSTOP therefore publishes nothing of the batch it held, except the messages it was
// stopped in the middle of writing (at most one round, one event per video). Those
// carry event ids the new leader publishes too: JetStream drops the later copy within
// its duplicate window (2 min); after a longer stall such a copy can be stored behind
// newer events of its video, and consumers, which apply events by version, discard it.
//
// One video's events are published strictly one after the other: rows go out in
// rounds holding at most one row per video, sent together, and the next round starts
// only once every ack of the previous one is in. Since a video's changes hold its
// row lock until commit, their outbox ids follow their commit order, and the stream
// receives each video's event k+1 only after k was stored. Events of different videos
// may be stored in a slightly different order than they were committed.
//
// The relay wakes on commit through LISTEN/NOTIFY (channel <schema>_outbox, fed by a
// trigger on the outbox), polls slowly in case a notification was missed, backs off
// while NATS is unreachable and reconnects after PostgreSQL restarts, forever.
// Published rows are deleted after a retention period.
//
// One exception to "marked only once acknowledged": a row NATS refuses for its size
// (over the server's max_payload or the stream's MaxMsgSize) would block every event
// behind it forever, so it is logged, counted and marked without being published.
// Consumers converge from PostgreSQL as they do after any lost event.
//
// The relay runs no SQL itself: it reads and marks the outbox through a
// videoforge.Outbox (postgres.Outbox) and the session it opens on it.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/internal/retry"
	"github.com/videoforge/videoforge/telemetry"
)

// Config tunes a relay. The zero value gives the defaults shown on each field.
type Config struct {
	// BatchSize is how many unpublished rows one query reads (500).
	BatchSize int
	// PollInterval is how often the outbox is read without a notification (10 s).
	// Notifications wake the relay at once; the poll only guards against a lost one.
	PollInterval time.Duration
	// AckTimeout bounds the wait for JetStream's acks of one round (10 s).
	AckTimeout time.Duration
	// MinBackoff and MaxBackoff bound the capped exponential wait between attempts
	// while NATS or PostgreSQL is unreachable (100 ms and 5 s).
	MinBackoff, MaxBackoff time.Duration
	// QueryTimeout bounds each SQL statement of the relay (10 s).
	QueryTimeout time.Duration
	// Retention is how long published rows are kept before the relay deletes them
	// (24 h); a negative value keeps them forever.
	Retention time.Duration
	// CleanupInterval is how often published rows past Retention are deleted (10 min).
	CleanupInterval time.Duration
	// AppName is the relay session's application_name in pg_stat_activity
	// ("videoforge-relay").
	AppName string
	// LeaseRenew is how often the active relay shows it is alive, and how often a
	// standby checks the lease (1 s).
	LeaseRenew time.Duration
	// LeaseTimeout is how long the active relay's session may stay silent before a
	// standby fences it and takes over (5 s). A statement of the active relay that
	// runs longer than this may cost it the leadership, which is safe.
	LeaseTimeout time.Duration
	// Metrics registers the relay's metrics when not nil.
	Metrics prometheus.Registerer
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	def(&c.PollInterval, 10*time.Second)
	def(&c.AckTimeout, 10*time.Second)
	def(&c.MinBackoff, 100*time.Millisecond)
	def(&c.MaxBackoff, 5*time.Second)
	def(&c.QueryTimeout, 10*time.Second)
	def(&c.Retention, 24*time.Hour)
	def(&c.CleanupInterval, 10*time.Minute)
	def(&c.LeaseRenew, time.Second)
	def(&c.LeaseTimeout, 5*time.Second)
	if c.AppName == "" {
		c.AppName = "videoforge-relay"
	}
	return c
}

// Validate checks the configuration after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.BatchSize < 1:
		return fmt.Errorf("relay: batch size %d: want at least 1", c.BatchSize)
	case c.PollInterval < 0 || c.AckTimeout < 0 || c.QueryTimeout < 0 || c.CleanupInterval < 0:
		return errors.New("relay: intervals and timeouts must be positive")
	case c.MinBackoff < 0 || c.MaxBackoff < c.MinBackoff:
		return fmt.Errorf("relay: backoff %v to %v: want 0 < min <= max", c.MinBackoff, c.MaxBackoff)
	case c.LeaseRenew < 0 || c.LeaseTimeout < 3*c.LeaseRenew:
		return fmt.Errorf("relay: lease renewed every %v, timeout %v: want a timeout of at least three renewals",
			c.LeaseRenew, c.LeaseTimeout)
	}
	return nil
}

// Relay publishes one schema's outbox. Run it once per process; run several processes
// for availability.
type Relay struct {
	outbox videoforge.Outbox
	js     bus.CatalogPublisher
	cfg    Config
	log    *slog.Logger
	m      metrics
}

type metrics struct {
	published prometheus.Counter
	failures  prometheus.Counter
	dropped   prometheus.Counter
	lag       prometheus.Gauge
	active    prometheus.Gauge
	fenced    prometheus.Counter
}

// New returns a relay that reads outbox (postgres.NewOutbox), through a session of its
// own named AppName, and publishes it through js. js should fail asynchronous
// publishes that get no ack in time, as bus.Conn's does; log may be nil.
func New(outbox videoforge.Outbox, js bus.CatalogPublisher, cfg Config, log *slog.Logger) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Relay{outbox: outbox, js: js, cfg: cfg, log: log.With("component", "relay")}
	r.m = metrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_relay_published_total",
			Help: "Outbox rows published to JetStream and acknowledged."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_relay_publish_failures_total",
			Help: "Publishing rounds that failed and were retried."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_relay_dropped_total",
			Help: "Outbox rows marked published without publishing because NATS refuses their size."}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "videoforge_relay_lag_seconds",
			Help: "Age of the oldest unpublished outbox row when last read; 0 when none is left."}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "videoforge_relay_active",
			Help: "1 while this relay holds the publisher lock, 0 while it stands by."}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_relay_fenced_total",
			Help: "Stalled active relays this relay fenced (their session terminated) to take over."}),
	}
	if cfg.Metrics != nil {
		for _, c := range []prometheus.Collector{r.m.published, r.m.failures, r.m.dropped, r.m.lag, r.m.active, r.m.fenced} {
			if err := cfg.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("relay: register metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Run publishes until ctx ends, then returns nil once the round in flight is
// acknowledged and marked (or has failed). Losing PostgreSQL or NATS is never fatal:
// the relay logs it, backs off and tries again.
func (r *Relay) Run(ctx context.Context) error {
	bo := r.backoff()
	defer r.log.Info("relay stopped")
	for {
		err := r.session(ctx, bo)
		if ctx.Err() != nil {
			return nil
		}
		d := bo.Next()
		r.log.Warn("relay session ended; reconnecting to PostgreSQL", "err", err, "retry_in", d)
		if !retry.Sleep(ctx, d) {
			return nil
		}
	}
}

// session connects, waits to become the active relay and publishes until the
// connection fails or ctx ends. Failures of NATS are retried inside the session, so
// that the lock stays with this relay while it has rows in flight.
func (r *Relay) session(ctx context.Context, bo *retry.Backoff) error {
	var sess videoforge.OutboxSession
	if err := r.query(ctx, func(ctx context.Context) (err error) {
		sess, err = r.outbox.OpenSession(ctx, r.cfg.AppName)
		return err
	}); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	defer sess.Close() // ends the session, which releases the lock

	log := r.log.With("schema", sess.Schema())
	l := &lease{r: r, sess: sess}
	if err := r.standBy(ctx, l, log, bo); err != nil {
		return err
	}
	channel := Channel(sess.Schema())
	if err := l.do(ctx, sess.Listen); err != nil {
		return fmt.Errorf("relay: listen on %s: %w", channel, err)
	}
	log.Info("relay active: publishing the outbox", "channel", channel)
	r.m.active.Set(1)
	defer func() {
		r.m.active.Set(0)
		r.m.lag.Set(0) // the relay taking over reports it from now on
	}()
	bo.Reset()

	natsBackoff := r.backoff()
	nextCleanup := time.Now()
	for {
		if r.cfg.Retention > 0 && !time.Now().Before(nextCleanup) {
			r.cleanup(ctx, l, log)
			nextCleanup = time.Now().Add(r.cfg.CleanupInterval)
		}
		err := r.drain(ctx, l)
		if ctx.Err() != nil {
			return nil
		}
		var pe *publishError
		if errors.As(err, &pe) {
			r.m.failures.Inc()
			d := natsBackoff.Next()
			log.Warn("publishing to JetStream failed; retrying", "err", err, "retry_in", d)
			if err := l.idle(ctx, d); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			continue
		} else if err != nil {
			return err
		}
		natsBackoff.Reset()

		nextPoll := time.Now().Add(r.cfg.PollInterval)
		for {
			due := nextPoll
			if r.cfg.Retention > 0 && nextCleanup.Before(due) {
				due = nextCleanup
			}
			wait := min(time.Until(due), r.cfg.LeaseRenew)
			notified, err := sess.WaitForNotification(ctx, max(wait, time.Millisecond))
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("relay: wait for notifications: %w", err)
			}
			if notified || !time.Now().Before(due) {
				break
			}
			if err := l.renew(ctx); err != nil {
				return err
			}
		}
	}
}

// standBy returns once this relay holds the publisher lock. While another relay holds
// it, it checks every LeaseRenew whether the holder's session has been silent for
// LeaseTimeout, and if so fences it: its session is terminated, and this relay waits
// until it has ended, which ends its lock and any statement it was running, before
// taking the lock. Each check is a statement of this session, so standbys show up as
// alive too.
func (r *Relay) standBy(ctx context.Context, l *lease, log *slog.Logger, bo *retry.Backoff) error {
	for announced := false; ; {
		var got bool
		if err := l.do(ctx, func(ctx context.Context) (err error) {
			got, err = l.sess.TryLock(ctx)
			return err
		}); err != nil {
			return fmt.Errorf("relay: take the publisher lock: %w", err)
		}
		if got {
			return nil
		}
		if !announced {
			log.Info("another relay is publishing; standing by")
			announced = true
			bo.Reset()
		}
		var pids []int32
		if err := l.do(ctx, func(ctx context.Context) (err error) {
			pids, err = l.sess.FenceStalled(ctx, r.cfg.LeaseTimeout)
			return err
		}); err != nil {
			return fmt.Errorf("relay: check the publisher's lease: %w", err)
		}
		if len(pids) > 0 {
			r.m.fenced.Add(float64(len(pids)))
			log.Warn("the active relay's lease expired: fenced it (its PostgreSQL session terminated); taking over",
				"fenced_pid", pids, "lease_timeout", r.cfg.LeaseTimeout)
			continue // its lock is gone now
		}
		if !retry.Sleep(ctx, r.cfg.LeaseRenew) {
			return ctx.Err()
		}
	}
}

// errLeaseLost says the relay's session no longer holds the publisher lock.
var errLeaseLost = errors.New("relay: lost the publisher lease (another relay fenced this one); standing down")

// lease tracks the active relay's hold on the publisher lock. Every statement of the
// session renews it; valid reports whether the last one was sent recently enough that
// no standby can have fenced this relay yet.
type lease struct {
	r     *Relay
	sess  videoforge.OutboxSession
	until time.Time // by the monotonic clock
}

// do runs fn, a statement on the session, and renews the lease when it succeeds: the
// standbys' count starts when the server finishes it, after it was sent.
func (l *lease) do(ctx context.Context, fn func(ctx context.Context) error) error {
	sent := time.Now()
	if err := l.r.query(ctx, fn); err != nil {
		return err
	}
	l.until = sent.Add(l.r.cfg.LeaseTimeout / 2)
	return nil
}

func (l *lease) valid() bool { return time.Now().Before(l.until) }

// renew checks that the session still holds the publisher lock.
func (l *lease) renew(ctx context.Context) error {
	var held bool
	if err := l.do(ctx, func(ctx context.Context) (err error) {
		held, err = l.sess.HoldsLock(ctx)
		return err
	}); err != nil {
		return fmt.Errorf("relay: renew the publisher lease: %w", err)
	}
	if !held {
		l.until = time.Time{}
		return errLeaseLost
	}
	return nil
}

// check renews the lease when it is no longer known to be valid, so that a relay
// that was stalled publishes nothing more before it knows it still leads.
func (l *lease) check(ctx context.Context) error {
	if l.valid() {
		return nil
	}
	return l.renew(ctx)
}

// renewDue renews the lease when a renewal is due.
func (l *lease) renewDue(ctx context.Context) error {
	if time.Until(l.until) > l.r.cfg.LeaseTimeout/2-l.r.cfg.LeaseRenew {
		return nil
	}
	return l.renew(ctx)
}

// idle waits d, renewing the lease meanwhile.
func (l *lease) idle(ctx context.Context, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		left := time.Until(end)
		if left <= 0 {
			return nil
		}
		if !retry.Sleep(ctx, min(left, l.r.cfg.LeaseRenew)) {
			return ctx.Err()
		}
		if err := l.renewDue(ctx); err != nil {
			return err
		}
	}
}

// Channel returns the notification channel of a schema's outbox, on which the relay
// hears of commits: videoforge.OutboxChannel.
func Channel(schema string) string { return videoforge.OutboxChannel(schema) }

// row is an unpublished outbox row.
type row = videoforge.OutboxRow

// drain publishes unpublished rows until a read finds none. A *publishError says NATS
// failed; any other error is PostgreSQL's.
func (r *Relay) drain(ctx context.Context, l *lease) error {
	for ctx.Err() == nil {
		rows, err := r.fetch(ctx, l)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			r.m.lag.Set(0)
			return nil
		}
		r.m.lag.Set(max(time.Since(rows[0].CreatedAt).Seconds(), 0))
		for _, round := range rounds(rows) {
			acked, dropped, perr := r.publish(ctx, l, round)
			if errors.Is(perr, errLeaseLost) {
				return perr // a fenced relay marks nothing
			}
			if len(acked)+len(dropped) > 0 {
				if err := r.mark(ctx, l, append(acked, dropped...)); err != nil {
					return err
				}
				r.m.published.Add(float64(len(acked)))
				r.m.dropped.Add(float64(len(dropped)))
			}
			if perr != nil {
				return perr
			}
			if ctx.Err() != nil {
				return nil
			}
		}
		// Read again even after a short batch: rows committed meanwhile go out now
		// rather than on their notification, and the lag reads 0 only when it is.
	}
	return nil
}

func (r *Relay) fetch(ctx context.Context, l *lease) ([]row, error) {
	var out []row
	if err := l.do(ctx, func(ctx context.Context) (err error) {
		out, err = l.sess.Unpublished(ctx, r.cfg.BatchSize)
		return err
	}); err != nil {
		return nil, fmt.Errorf("relay: read outbox: %w", err)
	}
	return out, nil
}

// mark records rows as published. It runs even when ctx has ended, so that the acks
// of the last round are not thrown away at shutdown. The UPDATE is fenced: it changes
// nothing unless this session still holds the publisher lock.
func (r *Relay) mark(ctx context.Context, l *lease, ids []int64) error {
	err := l.do(context.WithoutCancel(ctx), func(ctx context.Context) error {
		return l.sess.MarkPublished(ctx, ids)
	})
	if err != nil {
		return fmt.Errorf("relay: mark %d outbox rows published: %w", len(ids), err)
	}
	return nil
}

// rounds splits rows, in id order, into rounds holding at most one row per video: a
// video's n-th row goes into round n, so each video's rows stay in order across rounds.
func rounds(rows []row) [][]row {
	var out [][]row
	seen := make(map[int64]int, len(rows))
	for _, x := range rows {
		n := seen[x.VideoID]
		seen[x.VideoID] = n + 1
		if n == len(out) {
			out = append(out, nil)
		}
		out[n] = append(out[n], x)
	}
	return out
}

// shutdownGrace bounds the wait for a round's acks once ctx has ended.
const shutdownGrace = 2 * time.Second

// publishError is a failure to get a round into JetStream.
type publishError struct{ err error }

func (e *publishError) Error() string { return e.err.Error() }
func (e *publishError) Unwrap() error { return e.err }

// publish sends one round asynchronously and waits for its acks. It returns the ids
// of the rows JetStream acknowledged (stored now or before, as a duplicate), those it
// can never take (bus.TooLarge: retrying such a row would block every event behind it
// forever, so the relay marks it published without publishing it; edges reconcile with
// PostgreSQL), and an error if any other row was not acknowledged.
//
// Before each message it makes sure the lease is still known to be valid, renewing it
// if not, and it renews the lease while it waits for the acks.
func (r *Relay) publish(ctx context.Context, l *lease, round []row) (acked, dropped []int64, err error) {
	var errs []error
	type pending struct {
		row  row
		f    bus.PubAck
		span trace.Span
	}
	fail := func(x row, err error) {
		if bus.TooLarge(err) {
			r.log.Error("dropping an event NATS can never take: consumers converge from PostgreSQL instead",
				"outbox_id", x.ID, "event_id", x.EventID, "subject", x.Subject, "bytes", len(x.Payload), "err", err)
			dropped = append(dropped, x.ID)
			return
		}
		errs = append(errs, fmt.Errorf("publish outbox row %d on %s: %w", x.ID, x.Subject, err))
	}
	sent := make([]pending, 0, len(round))
	for _, x := range round {
		if err := l.check(ctx); err != nil {
			return nil, nil, errors.Join(errLeaseLost, err)
		}
		pctx, span := r.publishSpan(ctx, x)
		f, err := r.js.PublishCatalogAsync(pctx, x.Subject, x.EventID, x.Version, x.Payload)
		if err != nil {
			telemetry.Fail(span, err)
			span.End()
			fail(x, err)
			if len(errs) > 0 {
				break // the connection is in trouble: wait for what was sent, retry the rest
			}
			continue
		}
		sent = append(sent, pending{x, f, span})
	}
	// Spans of publishes not acknowledged end with the round, failed.
	defer func() {
		for _, p := range sent {
			p.span.End()
		}
	}()
	deadline := time.Now().Add(r.cfg.AckTimeout)
	timer := time.NewTimer(r.cfg.AckTimeout)
	defer timer.Stop()
	renew := time.NewTicker(r.cfg.LeaseRenew)
	defer renew.Stop()
	done := ctx.Done()
wait:
	for i := 0; i < len(sent); {
		select {
		case <-sent[i].f.Ok():
			acked = append(acked, sent[i].row.ID)
			sent[i].span.End()
			i++
		case err := <-sent[i].f.Err():
			fail(sent[i].row, err)
			telemetry.Fail(sent[i].span, err)
			sent[i].span.End()
			i++
		case <-timer.C:
			errs = append(errs, fmt.Errorf("%d of %d publishes not acknowledged within %v", len(sent)-i, len(round), r.cfg.AckTimeout))
			for _, p := range sent[i:] {
				p.span.SetStatus(codes.Error, "not acknowledged in time")
			}
			break wait
		case <-renew.C:
			if err := l.renewDue(context.WithoutCancel(ctx)); err != nil {
				return nil, nil, errors.Join(errLeaseLost, err)
			}
		case <-done:
			done = nil
			timer.Reset(min(time.Until(deadline), shutdownGrace))
		}
	}
	if len(errs) > 0 {
		return acked, dropped, &publishError{fmt.Errorf("relay: %w", errors.Join(errs...))}
	}
	return acked, dropped, nil
}

// publishSpan starts the span of one row's publish, a child of the change that wrote
// the row (its stored traceparent), ended once JetStream acknowledges the message,
// whose headers carry its context on to the edges. A row written without a trace
// context starts no trace: its span is the no-op one.
func (r *Relay) publishSpan(ctx context.Context, x row) (context.Context, trace.Span) {
	if x.TraceParent == "" || !telemetry.Enabled() {
		return ctx, trace.SpanFromContext(context.Background())
	}
	return telemetry.Tracer().Start(telemetry.WithTraceParent(ctx, x.TraceParent), "relay publish",
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
			attribute.String("messaging.system", "nats"), attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", x.Subject), attribute.String("messaging.message.id", x.EventID),
			attribute.Int64(telemetry.VideoIDKey, x.VideoID), attribute.Int64("videoforge.version", x.Version),
			attribute.Int64("videoforge.outbox_id", x.ID)))
}

// cleanup deletes published rows older than the retention, in slices so that no
// statement holds many locks for long. Failures are logged: the next cleanup retries.
func (r *Relay) cleanup(ctx context.Context, l *lease, log *slog.Logger) {
	const slice = 10000
	var total int64
	for ctx.Err() == nil {
		var n int64
		err := r.query(ctx, func(ctx context.Context) (err error) {
			n, err = r.outbox.DeletePublished(ctx, r.cfg.Retention, slice)
			return err
		})
		if err != nil {
			log.Warn("deleting published outbox rows failed", "err", err)
			break
		}
		total += n
		if n < slice {
			break
		}
		if err := l.renewDue(ctx); err != nil {
			log.Warn("renewing the publisher lease failed", "err", err)
			break // the session's next statement finds out
		}
	}
	if total > 0 {
		log.Info("deleted published outbox rows", "rows", total, "older_than", r.cfg.Retention)
	}
}

// query runs fn with the statement bound of QueryTimeout.
func (r *Relay) query(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.QueryTimeout)
	defer cancel()
	return fn(ctx)
}

func (r *Relay) backoff() *retry.Backoff {
	return &retry.Backoff{Min: r.cfg.MinBackoff, Max: r.cfg.MaxBackoff}
}
