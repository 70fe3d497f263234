// Package revoke pushes the catalog's playback-token revocations to the verifiers that
// cannot ask PostgreSQL: the CloudFront Function and its KeyValueStore in AWS.
//
// The catalog writes a row into revocations in the same transaction as a change that
// narrows a video's access (made unlisted or private: its token generation grew) or
// deletes it (its generation is one past the last one signed), with pushed_at NULL.
// A Pusher reads those rows, puts "revoked/<id>" = <generation> into the Store,
// invalidates a deleted video's cached objects, and sets pushed_at only if the row's
// revoked_at is still the one it pushed: a row revoked again meanwhile stays
// unpushed and goes out again in the next round.
//
// Any number of pushers may run against one schema. Each round is one transaction that
// first takes a transaction-scoped advisory lock per video it will push (skipping the
// videos another pusher holds), and only then reads those rows, in a statement of its
// own, so that it always pushes the newest generation committed before it held the
// lock. The store's writes of one video are therefore ordered like its revocations,
// while the catalog's own writes never wait for a pusher (no row lock is taken). The
// AWS store also never lowers a key it holds (see AWS.Put), which covers the one case
// the locks cannot: a pusher whose session died while its request was on the way.
//
// Rows older than TokenLife, the longest life of a playback token, protect nothing any
// more: the pusher removes their keys from the store and then the rows, again only if
// revoked_at did not change. Without a store (the embedded media server asks the
// catalog itself), the pusher only deletes the old rows no store has taken, so that
// the table stays small.
//
// PostgreSQL or the store being down is never fatal: the pusher logs it, backs off and
// tries again, until its context ends.
//
// The pusher runs no SQL itself: it works through a videoforge.RevocationLog
// (postgres.RevocationLog) and its transactions.
package revoke

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/internal/retry"
	"github.com/videoforge/videoforge/layout"
)

// Entry is one video's revocation as a verifier holds it: tokens of VideoID signed at
// a generation below Gen are refused.
type Entry struct {
	VideoID int64
	Gen     int64
}

// Key is the name of a video's entry in the verifier's key store, as the CloudFront
// Function reads it: revoked/<id>. Its value is the generation in decimal.
func Key(videoID int64) string { return "revoked/" + strconv.FormatInt(videoID, 10) }

// InvalidationPath is the CDN path pattern covering every object of a video.
func InvalidationPath(videoID int64) string {
	return "/" + layout.VideoPrefix(videoID) + "*"
}

// Store is the verifier's store outside PostgreSQL. Each call is all or nothing from
// the pusher's view: an error makes it retry the whole round, so every method must be
// safe to repeat.
type Store interface {
	// Put makes each entry's key hold at least its generation.
	Put(ctx context.Context, entries []Entry) error
	// Delete removes the entries' keys, except those holding a generation above the
	// entry's (revoked again since).
	Delete(ctx context.Context, entries []Entry) error
	// Invalidate drops cached objects matching the paths from the CDN.
	Invalidate(ctx context.Context, paths []string) error
}

// Config tunes a Pusher. The zero value of each field but TokenLife takes the default
// shown on it.
type Config struct {
	// TokenLife is the longest a playback token lives: PLAYBACK_TOKEN_TTL plus the
	// window expiries are rounded up to (playback.ExpiryWindow). Entries older than this
	// are removed. Required.
	TokenLife time.Duration
	// Interval is how often the table is read for unpushed rows (5 s).
	Interval time.Duration
	// BatchSize is how many rows one round pushes (100).
	BatchSize int
	// PruneInterval is how often rows past TokenLife are removed (1 min, at most
	// TokenLife).
	PruneInterval time.Duration
	// MinBackoff and MaxBackoff bound the capped exponential wait between failed
	// rounds (200 ms and 30 s).
	MinBackoff, MaxBackoff time.Duration
	// QueryTimeout bounds each SQL statement (10 s).
	QueryTimeout time.Duration
	// StoreTimeout bounds each call to the store (30 s).
	StoreTimeout time.Duration
	// Metrics registers the pusher's metrics when not nil.
	Metrics prometheus.Registerer
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.BatchSize == 0 {
		c.BatchSize = 100
	}
	def(&c.Interval, 5*time.Second)
	def(&c.PruneInterval, min(time.Minute, max(c.TokenLife, time.Millisecond)))
	def(&c.MinBackoff, 200*time.Millisecond)
	def(&c.MaxBackoff, 30*time.Second)
	def(&c.QueryTimeout, 10*time.Second)
	def(&c.StoreTimeout, 30*time.Second)
	return c
}

// Validate checks the configuration after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.TokenLife <= 0:
		return fmt.Errorf("revoke: token life %v: want a positive duration", c.TokenLife)
	case c.BatchSize < 1:
		return fmt.Errorf("revoke: batch size %d: want at least 1", c.BatchSize)
	case c.Interval < 0 || c.PruneInterval < 0 || c.QueryTimeout < 0 || c.StoreTimeout < 0:
		return errors.New("revoke: intervals and timeouts must be positive")
	case c.MinBackoff < 0 || c.MaxBackoff < c.MinBackoff:
		return fmt.Errorf("revoke: backoff %v to %v: want 0 < min <= max", c.MinBackoff, c.MaxBackoff)
	}
	return nil
}

// Pusher moves revocations from PostgreSQL to a Store.
type Pusher struct {
	revs  videoforge.RevocationLog
	store Store
	cfg   Config
	log   *slog.Logger
	m     metrics
}

type metrics struct {
	pushed, pruned, failures prometheus.Counter
	lag                      prometheus.Gauge
}

// New returns a pusher for the revocation log log (postgres.NewRevocationLog). A nil
// store runs only the pruning of old rows. logger may be nil.
func New(log videoforge.RevocationLog, store Store, cfg Config, logger *slog.Logger) (*Pusher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Pusher{revs: log, store: store, cfg: cfg.withDefaults(), log: logger.With("component", "revoke")}
	p.m = metrics{
		pushed: prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_revocations_pushed_total",
			Help: "Revocations written to the verifiers' store and marked pushed."}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_revocations_pruned_total",
			Help: "Revocations older than the longest token life removed from the store and the table."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_revocations_failures_total",
			Help: "Rounds that failed (PostgreSQL or the store) and were retried."}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "videoforge_revocations_lag_seconds",
			Help: "Age of the oldest unpushed revocation when last read; 0 when none is left."}),
	}
	if cfg.Metrics != nil {
		for _, c := range []prometheus.Collector{p.m.pushed, p.m.pruned, p.m.failures, p.m.lag} {
			if err := cfg.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("revoke: register metrics: %w", err)
			}
		}
	}
	return p, nil
}

// Run pushes and prunes until ctx ends, then returns nil once the round in flight has
// finished or failed.
func (p *Pusher) Run(ctx context.Context) error {
	p.log.Info("revocation pusher started", "store", p.store != nil, "token_life", p.cfg.TokenLife, "interval", p.cfg.Interval)
	defer p.log.Info("revocation pusher stopped")
	bo := retry.Backoff{Min: p.cfg.MinBackoff, Max: p.cfg.MaxBackoff}
	nextPrune := time.Now()
	for {
		var err error
		if !time.Now().Before(nextPrune) {
			if err = p.prune(ctx); err == nil {
				nextPrune = time.Now().Add(p.cfg.PruneInterval)
			}
		}
		if err == nil && p.store != nil {
			err = p.drain(ctx)
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := p.cfg.Interval
		if err != nil {
			p.m.failures.Inc()
			wait = bo.Next()
			p.log.Warn("pushing revocations failed; retrying", "err", err, "retry_in", wait)
		} else {
			bo.Reset()
			wait = min(wait, max(time.Until(nextPrune), 0))
		}
		if !retry.Sleep(ctx, wait) {
			return nil
		}
	}
}

// drain pushes rounds until one finds nothing it may push.
func (p *Pusher) drain(ctx context.Context) error {
	for ctx.Err() == nil {
		n, err := p.push(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
	return nil
}

// push runs one round: it locks up to BatchSize unpushed rows, reads them afresh,
// writes them to the store and marks them pushed. It reports how many rows it locked.
func (p *Pusher) push(ctx context.Context) (int, error) {
	var n int
	err := p.inTx(ctx, func(tx videoforge.RevocationTx) error {
		var oldest time.Time
		var found bool
		if err := p.query(ctx, func(ctx context.Context) (err error) {
			oldest, found, err = tx.OldestUnpushed(ctx)
			return err
		}); err != nil {
			return fmt.Errorf("revoke: read the oldest unpushed revocation: %w", err)
		}
		if !found {
			p.m.lag.Set(0)
			return nil
		}
		p.m.lag.Set(max(time.Since(oldest).Seconds(), 0))
		revs, err := p.lockAndRead(ctx,
			func(ctx context.Context) ([]int64, error) { return tx.LockUnpushed(ctx, p.cfg.BatchSize) },
			tx.Unpushed)
		if err != nil {
			return err
		}
		n = len(revs)
		if n == 0 {
			return nil
		}
		entries := make([]Entry, 0, len(revs))
		var paths []string
		for _, r := range revs {
			entries = append(entries, Entry{VideoID: r.VideoID, Gen: r.TokenGen})
			if r.Deleted {
				paths = append(paths, InvalidationPath(r.VideoID))
			}
		}
		if err := p.call(ctx, func(ctx context.Context) error { return p.store.Put(ctx, entries) }); err != nil {
			return fmt.Errorf("revoke: put %d entries: %w", len(entries), err)
		}
		if len(paths) > 0 {
			if err := p.call(ctx, func(ctx context.Context) error { return p.store.Invalidate(ctx, paths) }); err != nil {
				return fmt.Errorf("revoke: invalidate %d deleted videos: %w", len(paths), err)
			}
		}
		var marked int64
		if err := p.query(ctx, func(ctx context.Context) (err error) {
			marked, err = tx.MarkPushed(ctx, revs)
			return err
		}); err != nil {
			return fmt.Errorf("revoke: mark %d revocations pushed: %w", len(revs), err)
		}
		p.m.pushed.Add(float64(marked))
		p.log.Debug("pushed revocations", "entries", len(entries), "invalidated", len(paths), "marked", marked)
		return nil
	})
	return n, err
}

// prune removes entries older than TokenLife: from the store, then from the table.
func (p *Pusher) prune(ctx context.Context) error {
	life := p.cfg.TokenLife
	if p.store == nil {
		// Only rows no store has taken: a row some other pusher put into its store is
		// left to that pusher, which removes the key before the row. Otherwise the key
		// would stay in the store forever.
		var n int64
		err := p.query(ctx, func(ctx context.Context) (err error) {
			n, err = p.revs.DeleteUnpushed(ctx, life)
			return err
		})
		if err != nil {
			return fmt.Errorf("revoke: delete old revocations: %w", err)
		}
		p.m.pruned.Add(float64(n))
		return nil
	}
	for ctx.Err() == nil {
		var n int
		err := p.inTx(ctx, func(tx videoforge.RevocationTx) error {
			revs, err := p.lockAndRead(ctx,
				func(ctx context.Context) ([]int64, error) { return tx.LockExpired(ctx, life, p.cfg.BatchSize) },
				func(ctx context.Context, ids []int64) ([]videoforge.Revocation, error) {
					return tx.Expired(ctx, ids, life)
				})
			if err != nil || len(revs) == 0 {
				return err
			}
			n = len(revs)
			entries := make([]Entry, 0, len(revs))
			for _, r := range revs {
				entries = append(entries, Entry{VideoID: r.VideoID, Gen: r.TokenGen})
			}
			if err := p.call(ctx, func(ctx context.Context) error { return p.store.Delete(ctx, entries) }); err != nil {
				return fmt.Errorf("revoke: delete %d old entries: %w", len(entries), err)
			}
			var deleted int64
			if err := p.query(ctx, func(ctx context.Context) (err error) {
				deleted, err = tx.Delete(ctx, revs)
				return err
			}); err != nil {
				return fmt.Errorf("revoke: delete %d old revocations: %w", len(revs), err)
			}
			p.m.pruned.Add(float64(deleted))
			return nil
		})
		if err != nil || n < p.cfg.BatchSize {
			return err
		}
	}
	return nil
}

// lockAndRead locks the videos lock selects and then reads their rows with read, in a
// later statement, which sees every commit made before the locks were taken.
func (p *Pusher) lockAndRead(ctx context.Context, lock func(ctx context.Context) ([]int64, error),
	read func(ctx context.Context, ids []int64) ([]videoforge.Revocation, error)) ([]videoforge.Revocation, error) {
	var ids []int64
	if err := p.query(ctx, func(ctx context.Context) (err error) {
		ids, err = lock(ctx)
		return err
	}); err != nil {
		return nil, fmt.Errorf("revoke: lock revocations: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var out []videoforge.Revocation
	if err := p.query(ctx, func(ctx context.Context) (err error) {
		out, err = read(ctx, ids)
		return err
	}); err != nil {
		return nil, fmt.Errorf("revoke: read revocations: %w", err)
	}
	return out, nil
}

// inTx runs fn in a transaction, whose locks hold until it ends. It commits when fn
// succeeds, which releases the locks.
func (p *Pusher) inTx(ctx context.Context, fn func(tx videoforge.RevocationTx) error) error {
	var tx videoforge.RevocationTx
	if err := p.query(ctx, func(ctx context.Context) (err error) {
		tx, err = p.revs.Begin(ctx)
		return err
	}); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	if err := fn(tx); err != nil {
		return err
	}
	// The commit runs even when ctx has ended: what was pushed is marked.
	if err := p.query(context.WithoutCancel(ctx), func(ctx context.Context) error { return tx.Commit(ctx) }); err != nil {
		return fmt.Errorf("revoke: commit: %w", err)
	}
	return nil
}

func (p *Pusher) query(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.QueryTimeout)
	defer cancel()
	return fn(ctx)
}

func (p *Pusher) call(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.StoreTimeout)
	defer cancel()
	return fn(ctx)
}
