package revoke_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/catalog/revoke"
	"github.com/videoforge/videoforge/internal/testutil"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
)

func TestMain(m *testing.M) {
	pgtest.Main(m, func(ctx context.Context, dsn string) error {
		return schema.Migrate(ctx, dsn, schema.DefaultSchema)
	})
}

// testConfig notices failures quickly; TokenLife is long unless a test prunes.
var testConfig = revoke.Config{
	TokenLife:    time.Hour,
	Interval:     20 * time.Millisecond,
	MinBackoff:   10 * time.Millisecond,
	MaxBackoff:   100 * time.Millisecond,
	QueryTimeout: 5 * time.Second,
	StoreTimeout: 5 * time.Second,
}

// env is a migrated catalog database.
type env struct {
	t   testing.TB
	dsn string
	db  *postgres.DB
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, dsn: pgtest.NewDatabase(t)}
	e.db = e.open("revoke-test")
	return e
}

func (e *env) open(app string) *postgres.DB {
	e.t.Helper()
	db, err := postgres.Open(context.Background(), postgres.Config{URL: e.dsn, Schema: schema.DefaultSchema,
		StatementTimeout: 10 * time.Second, AppName: app})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(db.Close)
	return db
}

// revoke records a revocation as the catalog does (catalog/postgres's revoke).
func (e *env) revoke(id, gen int64, deleted bool) {
	e.t.Helper()
	if _, err := e.db.Pool().Exec(context.Background(), `INSERT INTO revocations (video_id, token_gen, deleted) VALUES ($1, $2, $3)
		ON CONFLICT (video_id) DO UPDATE SET token_gen = excluded.token_gen, deleted = excluded.deleted,
			revoked_at = now(), pushed_at = NULL`, id, gen, deleted); err != nil {
		e.t.Fatal(err)
	}
}

// table returns the rows of revocations: video id → generation, and the ids not pushed.
func (e *env) table() (gens map[int64]int64, unpushed []int64) {
	e.t.Helper()
	rows, err := e.db.Pool().Query(context.Background(), `SELECT video_id, token_gen, pushed_at IS NULL FROM revocations ORDER BY video_id`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	gens = map[int64]int64{}
	for rows.Next() {
		var id, gen int64
		var open bool
		if err := rows.Scan(&id, &gen, &open); err != nil {
			e.t.Fatal(err)
		}
		gens[id] = gen
		if open {
			unpushed = append(unpushed, id)
		}
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return gens, unpushed
}

// runningPusher is a pusher with its own pool and metrics.
type runningPusher struct {
	reg  *prometheus.Registry
	stop func()
}

// start runs a pusher on store (nil for none) until stop is called or the test ends.
func (e *env) start(name string, store revoke.Store, cfg revoke.Config) *runningPusher {
	e.t.Helper()
	db := e.open(name)
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	p, err := revoke.New(postgres.NewRevocationLog(db), store, cfg, testLogger(e.t).With("pusher", name))
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("pusher %s: Run: %v", name, err)
			}
		case <-time.After(10 * time.Second):
			e.t.Errorf("pusher %s: Run did not return within 10s of its context's end", name)
		}
	})
	e.t.Cleanup(stop)
	return &runningPusher{reg: reg, stop: stop}
}

// recorder is the verifiers' store outside PostgreSQL, standing in for the
// KeyValueStore and the CDN. It applies every call as it comes (last write wins, as
// a plain key store would), so that the order of the pusher's writes shows in its
// state, and it records every generation each video was given.
type recorder struct {
	mu          sync.Mutex
	keys        map[int64]int64
	history     map[int64][]int64 // generations put, in order
	invalidated []string
	deletes     int
	fail        error         // returned by every call while set
	block       chan struct{} // calls wait for it to close while set
	entered     chan struct{} // signalled when a call starts waiting on block
	calls       atomic.Int64
	jitter      time.Duration // each Put takes up to this long, so that pushers overlap
}

func newRecorder() *recorder {
	return &recorder{keys: map[int64]int64{}, history: map[int64][]int64{}}
}

func (r *recorder) enter(ctx context.Context) error {
	r.calls.Add(1)
	r.mu.Lock()
	block, entered, fail := r.block, r.entered, r.fail
	r.mu.Unlock()
	if block != nil {
		if entered != nil {
			select {
			case entered <- struct{}{}:
			default:
			}
		}
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fail
}

func (r *recorder) Put(ctx context.Context, entries []revoke.Entry) error {
	if err := r.enter(ctx); err != nil {
		return err
	}
	if r.jitter > 0 {
		time.Sleep(rand.N(r.jitter))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range entries {
		r.keys[e.VideoID] = e.Gen
		r.history[e.VideoID] = append(r.history[e.VideoID], e.Gen)
	}
	return nil
}

func (r *recorder) Delete(ctx context.Context, entries []revoke.Entry) error {
	if err := r.enter(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range entries {
		delete(r.keys, e.VideoID)
		r.deletes++
	}
	return nil
}

func (r *recorder) Invalidate(ctx context.Context, paths []string) error {
	if err := r.enter(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invalidated = append(r.invalidated, paths...)
	return nil
}

// hold makes the next calls wait until the returned release is called; entered
// receives once a call is waiting.
func (r *recorder) hold() (entered <-chan struct{}, release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	block, ent := make(chan struct{}), make(chan struct{}, 1)
	r.block, r.entered = block, ent
	return ent, sync.OnceFunc(func() {
		r.mu.Lock()
		r.block, r.entered = nil, nil
		r.mu.Unlock()
		close(block)
	})
}

func (r *recorder) setFail(err error) {
	r.mu.Lock()
	r.fail = err
	r.mu.Unlock()
}

func (r *recorder) state() map[int64]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.keys)
}

// waitPushed waits until every row is pushed and the store holds exactly want.
func (e *env) waitPushed(store *recorder, want map[int64]int64) {
	e.t.Helper()
	testutil.WaitFor(e.t, 15*time.Second, "every revocation pushed", func() error {
		if _, open := e.table(); len(open) > 0 {
			return fmt.Errorf("%d rows unpushed, e.g. video %d", len(open), open[0])
		}
		if got := store.state(); !maps.Equal(got, want) {
			return fmt.Errorf("store holds %v, want %v", got, want)
		}
		return nil
	})
}

func TestPush(t *testing.T) {
	e := newEnv(t)
	e.revoke(1, 3, false)
	e.revoke(2, 8, true)
	store := newRecorder()
	p := e.start("p", store, testConfig)
	e.waitPushed(store, map[int64]int64{1: 3, 2: 8})
	e.revoke(1, 4, false) // narrowed again later
	e.waitPushed(store, map[int64]int64{1: 4, 2: 8})
	store.mu.Lock()
	inv := slices.Clone(store.invalidated)
	store.mu.Unlock()
	if !slices.Equal(inv, []string{"/videos/2/*"}) {
		t.Errorf("invalidated %q, want only the deleted video's folder /videos/2/*", inv)
	}
	if got := testutil.Metric(t, p.reg, "videoforge_revocations_pushed_total"); got != 3 {
		t.Errorf("pushed_total = %v, want 3", got)
	}
	testutil.WaitFor(t, 5*time.Second, "lag back to 0", func() error {
		if v := testutil.Metric(t, p.reg, "videoforge_revocations_lag_seconds"); v != 0 {
			return fmt.Errorf("lag %v", v)
		}
		return nil
	})
}

// TestRacingPushers runs three pushers while revocations keep coming, some of them
// raising the generation of a video pushed before: each revocation's generation is
// pushed, the store ends up holding each video's last one, and no video's generation
// in the store ever went down (which a pusher writing an older read after a newer
// one would cause).
func TestRacingPushers(t *testing.T) {
	e := newEnv(t)
	store := newRecorder()
	store.jitter = 5 * time.Millisecond
	cfg := testConfig
	cfg.BatchSize = 7 // several rounds per pusher, so that they interleave
	var pushers []*runningPusher
	for i := range 3 {
		pushers = append(pushers, e.start(fmt.Sprintf("p%d", i), store, cfg))
	}
	want := map[int64]int64{}
	var pushedSomewhere sync.Map
	for i := range 300 {
		id := int64(1 + rand.N(60))
		want[id]++
		e.revoke(id, want[id], want[id]%5 == 0)
		pushedSomewhere.Store([2]int64{id, want[id]}, true)
		if i%20 == 0 {
			time.Sleep(time.Duration(rand.N(30)) * time.Millisecond)
		}
	}
	e.waitPushed(store, want)
	for i, p := range pushers {
		t.Logf("pusher %d marked %v rows pushed", i, testutil.Metric(t, p.reg, "videoforge_revocations_pushed_total"))
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	for id, h := range store.history {
		if !slices.IsSorted(h) {
			t.Errorf("video %d: generations put in the order %v: a newer one was overwritten by an older one", id, h)
		}
		if h[len(h)-1] != want[id] {
			t.Errorf("video %d: last put %d, want %d", id, h[len(h)-1], want[id])
		}
	}
	if gens, _ := e.table(); !maps.Equal(gens, want) {
		t.Errorf("table %v, want %v", gens, want)
	}
}

// TestRevokedWhilePushing revokes a video again while its first revocation is on the
// way to the store: the catalog's write does not wait for the pusher, the first
// round does not mark the newer row pushed, and the newer generation goes out next.
func TestRevokedWhilePushing(t *testing.T) {
	e := newEnv(t)
	store := newRecorder()
	entered, release := store.hold()
	defer release()
	e.revoke(7, 1, false)
	p := e.start("p", store, testConfig)
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the pusher never called the store")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.revoke(7, 2, true) // deleted meanwhile
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the catalog's revocation waited for the pusher's round")
	}
	release()
	e.waitPushed(store, map[int64]int64{7: 2})
	store.mu.Lock()
	h, inv := slices.Clone(store.history[7]), slices.Clone(store.invalidated)
	store.mu.Unlock()
	if !slices.Equal(h, []int64{1, 2}) {
		t.Errorf("generations put %v, want [1 2]", h)
	}
	if !slices.Equal(inv, []string{"/videos/7/*"}) {
		t.Errorf("invalidated %q, want /videos/7/*", inv)
	}
	if got := testutil.Metric(t, p.reg, "videoforge_revocations_pushed_total"); got != 1 {
		t.Errorf("pushed_total = %v, want 1 (the first round's row was revoked again, so it marked nothing)", got)
	}
}

// TestStoreDown keeps the store failing: nothing is marked pushed, the pusher keeps
// retrying, and once the store is back everything goes out.
func TestStoreDown(t *testing.T) {
	e := newEnv(t)
	store := newRecorder()
	store.setFail(errors.New("KeyValueStore unreachable"))
	e.revoke(1, 1, false)
	e.revoke(2, 1, true)
	p := e.start("p", store, testConfig)
	testutil.WaitFor(t, 10*time.Second, "several failed rounds", func() error {
		if n := testutil.Metric(t, p.reg, "videoforge_revocations_failures_total"); n < 3 {
			return fmt.Errorf("%v failures", n)
		}
		return nil
	})
	if _, open := e.table(); len(open) != 2 {
		t.Fatalf("unpushed rows %v while the store fails, want both", open)
	}
	store.setFail(nil)
	e.waitPushed(store, map[int64]int64{1: 1, 2: 1})
}

// TestPostgresKilled terminates the pusher's PostgreSQL sessions in the middle of a
// round, after the store took its entries but before they were marked: the pusher
// pushes them again on a new connection and goes on with later revocations.
func TestPostgresKilled(t *testing.T) {
	e := newEnv(t)
	store := newRecorder()
	entered, release := store.hold()
	defer release()
	e.revoke(1, 1, false)
	p := e.start("victim", store, testConfig)
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the pusher never called the store")
	}
	var killed int
	if err := e.db.Pool().QueryRow(context.Background(), `WITH v AS MATERIALIZED (
		SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'victim')
		SELECT count(*) FROM v WHERE pg_terminate_backend(pid)`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatal("no session of the pusher to terminate")
	}
	release()
	e.waitPushed(store, map[int64]int64{1: 1})
	if testutil.Metric(t, p.reg, "videoforge_revocations_failures_total") < 1 {
		t.Error("the round cut off by the terminated session did not count as failed")
	}
	e.revoke(2, 5, false)
	e.waitPushed(store, map[int64]int64{1: 1, 2: 5})
}

// TestPrune removes entries past TokenLife from the store and then the table, but
// keeps a row revoked again while its old entry was being removed, and pushes it.
func TestPrune(t *testing.T) {
	e := newEnv(t)
	store := newRecorder()
	cfg := testConfig
	cfg.TokenLife = 300 * time.Millisecond
	cfg.PruneInterval = 20 * time.Millisecond
	e.revoke(1, 2, false)
	e.revoke(2, 3, true)
	p := e.start("p", store, cfg)
	testutil.WaitFor(t, 10*time.Second, "old entries pruned", func() error {
		if gens, _ := e.table(); len(gens) > 0 {
			return fmt.Errorf("rows left: %v", gens)
		}
		if s := store.state(); len(s) > 0 {
			return fmt.Errorf("store holds %v", s)
		}
		return nil
	})
	if got := testutil.Metric(t, p.reg, "videoforge_revocations_pruned_total"); got != 2 {
		t.Errorf("pruned_total = %v, want 2", got)
	}
	store.mu.Lock()
	if len(store.history[1]) == 0 || len(store.history[2]) == 0 {
		t.Errorf("entries were pruned without being pushed first: %v", store.history)
	}
	store.mu.Unlock()

	// Revoked again while the store removes its old entry.
	e.revoke(3, 1, false)
	testutil.WaitFor(t, 10*time.Second, "video 3 pushed", func() error {
		if _, open := e.table(); len(open) > 0 {
			return errors.New("not yet")
		}
		return nil
	})
	entered, release := store.hold()
	defer release()
	select {
	case <-entered: // the prune's Delete (nothing else is left to push)
	case <-time.After(10 * time.Second):
		t.Fatal("the pusher never pruned video 3")
	}
	e.revoke(3, 2, false)
	release()
	testutil.WaitFor(t, 10*time.Second, "video 3's newer revocation pushed", func() error {
		gens, open := e.table()
		if gens[3] != 2 || len(open) > 0 {
			return fmt.Errorf("table %v, unpushed %v", gens, open)
		}
		if s := store.state(); s[3] != 2 {
			return fmt.Errorf("store holds %v", s)
		}
		return nil
	})
}

// TestNoStore only prunes: unpushed rows older than TokenLife go, younger ones stay,
// and so does an old row another pusher put into its store.
func TestNoStore(t *testing.T) {
	e := newEnv(t)
	if _, err := e.db.Pool().Exec(context.Background(), `INSERT INTO revocations (video_id, token_gen, revoked_at)
		VALUES (1, 1, now() - interval '2 hours'), (2, 1, now())`); err != nil {
		t.Fatal(err)
	}
	// Pushed by a pusher with a store: the key is that pusher's to remove first.
	if _, err := e.db.Pool().Exec(context.Background(), `INSERT INTO revocations (video_id, token_gen, revoked_at, pushed_at)
		VALUES (3, 1, now() - interval '2 hours', now() - interval '2 hours')`); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig
	cfg.PruneInterval = 20 * time.Millisecond
	e.start("p", nil, cfg)
	testutil.WaitFor(t, 10*time.Second, "the old row pruned", func() error {
		gens, open := e.table()
		if _, ok := gens[1]; ok || gens[3] != 1 {
			return fmt.Errorf("table %v, want videos 2 and 3", gens)
		}
		if !slices.Equal(open, []int64{2}) {
			return fmt.Errorf("unpushed %v, want [2]", open)
		}
		return nil
	})
}

func TestConfigValidate(t *testing.T) {
	for name, c := range map[string]struct {
		cfg revoke.Config
		ok  bool
	}{
		"OK":             {revoke.Config{TokenLife: time.Hour}, true},
		"NoTokenLife":    {revoke.Config{}, false},
		"NegativeLife":   {revoke.Config{TokenLife: -time.Second}, false},
		"BadBatch":       {revoke.Config{TokenLife: time.Hour, BatchSize: -1}, false},
		"BadBackoff":     {revoke.Config{TokenLife: time.Hour, MinBackoff: time.Second, MaxBackoff: time.Millisecond}, false},
		"NegativeInterv": {revoke.Config{TokenLife: time.Hour, Interval: -time.Second}, false},
	} {
		t.Run(name, func(t *testing.T) {
			if err := c.cfg.Validate(); (err == nil) != c.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() || os.Getenv("REVOKE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
