package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/catalog/relay"
	"github.com/videoforge/videoforge/internal/testutil"
	"github.com/videoforge/videoforge/pgcluster"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	pgtest.Main(m, func(ctx context.Context, dsn string) error {
		return schema.Migrate(ctx, dsn, schema.DefaultSchema)
	})
}

// testConfig is quick to notice failures and never polls, so that every publication
// after start-up proves the relay woke on a notification.
var testConfig = relay.Config{
	PollInterval: time.Hour,
	AckTimeout:   time.Second,
	MinBackoff:   20 * time.Millisecond,
	MaxBackoff:   200 * time.Millisecond,
	LeaseRenew:   100 * time.Millisecond,
	LeaseTimeout: time.Second,
}

// env is a catalog database, an embedded NATS server with the streams declared, and a
// connection for the test to read the stream.
type env struct {
	t      testing.TB
	dsn    string
	db     *postgres.DB
	videos *postgres.VideoService
	log    *slog.Logger

	natsDir  string
	natsPort int
	nats     *bus.Server
	js       jetstream.JetStream
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvOn(t, pgtest.NewDatabase(t))
}

func newEnvOn(t testing.TB, dsn string) *env {
	t.Helper()
	e := &env{t: t, dsn: dsn, log: testLogger(t), natsDir: t.TempDir()}
	e.db = e.open()
	e.videos = postgres.NewVideoService(e.db)
	e.startNATS()
	t.Cleanup(func() {
		if e.nats != nil {
			e.nats.Shutdown()
		}
	})
	c := e.connect("test-reader")
	e.js = c.JetStream()
	if err := bus.EnsureStreams(context.Background(), e.js, bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) open() *postgres.DB {
	e.t.Helper()
	db, err := postgres.Open(context.Background(), postgres.Config{URL: e.dsn, Schema: schema.DefaultSchema,
		StatementTimeout: 10 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(db.Close)
	return db
}

// startNATS starts the embedded server, on the same port and store as before when it
// was started already.
func (e *env) startNATS() {
	e.t.Helper()
	srv, err := bus.Start(context.Background(), bus.ServerConfig{StoreDir: e.natsDir, Port: e.natsPort})
	if err != nil {
		e.t.Fatal(err)
	}
	e.nats, e.natsPort = srv, srv.Port()
}

func (e *env) stopNATS() {
	e.nats.Shutdown()
	e.nats = nil
}

func (e *env) connect(name string) *bus.Conn {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := bus.Connect(ctx, fmt.Sprintf("nats://127.0.0.1:%d", e.natsPort), name, e.log)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Close)
	return c
}

// runningRelay is a relay with its own pool, NATS connection and metrics.
type runningRelay struct {
	reg  *prometheus.Registry
	stop func()
}

// startRelay runs a relay until stop is called or the test ends.
func (e *env) startRelay(name string, cfg relay.Config) *runningRelay {
	e.t.Helper()
	db := e.open()
	conn := e.connect(name)
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	r, err := relay.New(postgres.NewOutbox(db), conn, cfg, e.log.With("relay", name))
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("relay %s: Run: %v", name, err)
		}
	})
	e.t.Cleanup(stop)
	return &runningRelay{reg: reg, stop: stop}
}

func (e *env) waitActive(r *runningRelay) {
	e.t.Helper()
	testutil.WaitFor(e.t, 10*time.Second, "relay becomes active", func() error {
		if testutil.Metric(e.t, r.reg, "videoforge_relay_active") != 1 {
			return errors.New("standing by")
		}
		return nil
	})
}

// outboxRow is a row of the outbox as the catalog wrote it.
type outboxRow struct {
	ID        int64
	EventID   string
	Subject   string
	VideoID   int64
	Version   int64
	Payload   []byte
	Published bool
}

func (e *env) outbox() []outboxRow {
	e.t.Helper()
	rows, err := e.db.Pool().Query(context.Background(), `SELECT id, event_id::text, subject, video_id, version,
		payload, published_at IS NOT NULL FROM outbox ORDER BY id`)
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[outboxRow])
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// streamMsg is a message of the CATALOG stream.
type streamMsg struct {
	Seq     uint64
	Subject string
	MsgID   string
	Event   *videoforge.Event
	Data    []byte
}

func (e *env) stream() []streamMsg {
	e.t.Helper()
	ctx := context.Background()
	s, err := e.js.Stream(ctx, bus.CatalogStream)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []streamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			e.t.Fatalf("message %d: %v", seq, err)
		}
		ev, err := bus.ParseEvent(m.Subject, m.Data)
		if err != nil {
			e.t.Fatalf("message %d: %v", seq, err)
		}
		out = append(out, streamMsg{Seq: seq, Subject: m.Subject, MsgID: m.Header.Get(jetstream.MsgIDHeader), Event: ev, Data: m.Data})
	}
	return out
}

// waitAllPublished waits until every outbox row is marked published and the stream
// holds as many messages as the outbox has rows.
func (e *env) waitAllPublished(d time.Duration) {
	e.t.Helper()
	testutil.WaitFor(e.t, d, "every outbox row published", func() error {
		var rows, unpublished int
		if err := e.db.Pool().QueryRow(context.Background(),
			`SELECT count(*), count(*) FILTER (WHERE published_at IS NULL) FROM outbox`).Scan(&rows, &unpublished); err != nil {
			return err
		}
		if unpublished > 0 {
			return fmt.Errorf("%d of %d rows unpublished", unpublished, rows)
		}
		s, err := e.js.Stream(context.Background(), bus.CatalogStream)
		if err != nil {
			return err
		}
		info, err := s.Info(context.Background())
		if err != nil {
			return err
		}
		if info.State.Msgs != uint64(rows) {
			return fmt.Errorf("stream holds %d messages, outbox %d rows", info.State.Msgs, rows)
		}
		return nil
	})
}

// checkExactlyOnceInOrder checks that the stream holds each outbox row exactly once,
// with its subject, its event id as message id and its payload, and each video's
// events in version order.
func (e *env) checkExactlyOnceInOrder() {
	e.t.Helper()
	rows, msgs := e.outbox(), e.stream()
	if len(msgs) != len(rows) {
		e.t.Fatalf("stream holds %d messages, outbox %d rows", len(msgs), len(rows))
	}
	byID := map[string]streamMsg{}
	lastVersion := map[int64]int64{}
	for _, m := range msgs {
		if _, dup := byID[m.MsgID]; dup {
			e.t.Errorf("event %s is in the stream twice", m.MsgID)
		}
		byID[m.MsgID] = m
		if m.Event.ID != m.MsgID {
			e.t.Errorf("message %d: Nats-Msg-Id %s, event id %s", m.Seq, m.MsgID, m.Event.ID)
		}
		v := m.Event.Video.ID
		if m.Event.Version <= lastVersion[v] {
			e.t.Errorf("video %d: version %d (seq %d) after version %d", v, m.Event.Version, m.Seq, lastVersion[v])
		}
		lastVersion[v] = m.Event.Version
	}
	for _, r := range rows {
		m, ok := byID[r.EventID]
		if !ok {
			e.t.Errorf("outbox row %d (event %s, %s) is not in the stream", r.ID, r.EventID, r.Subject)
			continue
		}
		if m.Subject != r.Subject || m.Event.Version != r.Version || m.Event.Video.ID != r.VideoID {
			e.t.Errorf("outbox row %d: stream has %s version %d of video %d, want %s version %d of video %d",
				r.ID, m.Subject, m.Event.Version, m.Event.Video.ID, r.Subject, r.Version, r.VideoID)
		}
		// The body is the catalog's own text, in the contract's key order.
		if string(m.Data) != string(r.Payload) || !strings.HasPrefix(string(m.Data), `{"id":"`) {
			e.t.Errorf("outbox row %d: stream body %.80s…, outbox %.80s…", r.ID, m.Data, r.Payload)
		}
		var want videoforge.Event
		if err := json.Unmarshal(r.Payload, &want); err != nil {
			e.t.Fatal(err)
		}
		a, _ := json.Marshal(&want)
		b, _ := json.Marshal(m.Event)
		if string(a) != string(b) {
			e.t.Errorf("outbox row %d: stream body\n%s\nwant\n%s", r.ID, b, a)
		}
	}
}

func newVideo(user string, n int) *videoforge.Video {
	return &videoforge.Video{UserID: user, Title: fmt.Sprintf("video %d", n), Visibility: videoforge.Public,
		Status: videoforge.StatusReady, S3Key: fmt.Sprintf("videos/%s-%d", user, n),
		Renditions: []videoforge.Rendition{{Name: "720p", Width: 1280, Height: 720, Bandwidth: 2800000,
			Playlist: fmt.Sprintf("videos/%s-%d/hls/720p/index.m3u8", user, n)}}}
}

// change makes n changes through the catalog's store: it creates videos and updates
// them in turn, deleting one now and then, so that events of several videos interleave.
func (e *env) change(user string, n int) {
	e.t.Helper()
	ctx := context.Background()
	var live []int64
	for i := range n {
		switch {
		case len(live) < 3 || i%5 == 0:
			v := newVideo(user, i)
			if err := e.videos.CreateVideo(ctx, v); err != nil {
				e.t.Error(err)
				return
			}
			live = append(live, v.ID)
		case i%11 == 0:
			if err := e.videos.DeleteVideo(ctx, live[0], user); err != nil {
				e.t.Error(err)
				return
			}
			live = live[1:]
		default:
			title := fmt.Sprintf("title %d", i)
			if _, err := e.videos.UpdateVideo(ctx, live[i%len(live)], user, videoforge.VideoUpdate{Title: &title}); err != nil {
				e.t.Error(err)
				return
			}
		}
	}
}

func TestPublishesInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.change("early", 7) // written before the relay starts: found by its first read
	r := e.startRelay("a", testConfig)
	e.waitActive(r)
	e.change("alice", 40) // woken by notifications only: the poll is an hour away
	e.waitAllPublished(10 * time.Second)
	e.checkExactlyOnceInOrder()

	msgs := e.stream()
	types := map[string]int{}
	for _, m := range msgs {
		types[m.Event.Type]++
		if !strings.HasPrefix(m.Subject, "videoforge.catalog.video.") {
			t.Errorf("subject %s", m.Subject)
		}
	}
	if types[videoforge.EventCreated] == 0 || types[videoforge.EventUpdated] == 0 || types[videoforge.EventDeleted] == 0 {
		t.Errorf("event types %v: want creates, updates and deletes", types)
	}
	if got := testutil.Metric(t, r.reg, "videoforge_relay_published_total"); got != float64(len(msgs)) {
		t.Errorf("published_total %v, want %d", got, len(msgs))
	}
	if got := testutil.Metric(t, r.reg, "videoforge_relay_lag_seconds"); got != 0 {
		t.Errorf("lag %v with nothing left, want 0", got)
	}
}

func TestNATSDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.startRelay("a", testConfig)
	e.change("alice", 3)
	e.waitAllPublished(10 * time.Second)

	e.stopNATS()
	failures := testutil.Metric(t, r.reg, "videoforge_relay_publish_failures_total")
	e.change("bob", 5)
	testutil.WaitFor(t, 10*time.Second, "relay fails to publish", func() error {
		if testutil.Metric(t, r.reg, "videoforge_relay_publish_failures_total") <= failures {
			return errors.New("no failure yet")
		}
		return nil
	})
	unpublished := 0
	for _, row := range e.outbox() {
		if !row.Published {
			unpublished++
		}
	}
	if unpublished != 5 {
		t.Fatalf("%d rows unpublished while NATS is down, want the 5 written meanwhile", unpublished)
	}

	e.startNATS() // same port, same store
	e.waitAllPublished(15 * time.Second)
	e.checkExactlyOnceInOrder()
}

func TestRelayRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.startRelay("a", testConfig)
	e.waitActive(a)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.change("alice", 150)
	}()
	// Stop the relay while changes are being written and published, then start another.
	testutil.WaitFor(t, 10*time.Second, "some rows published", func() error {
		if testutil.Metric(t, a.reg, "videoforge_relay_published_total") < 20 {
			return errors.New("fewer than 20")
		}
		return nil
	})
	a.stop()
	b := e.startRelay("b", testConfig)
	<-done
	e.waitAllPublished(15 * time.Second)
	e.checkExactlyOnceInOrder()
	if testutil.Metric(t, b.reg, "videoforge_relay_published_total") == 0 {
		t.Error("the second relay published nothing: the restart happened too late to test anything")
	}
}

func TestTwoRelays(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.startRelay("a", testConfig)
	b := e.startRelay("b", testConfig)
	testutil.WaitFor(t, 10*time.Second, "one relay active", func() error {
		if n := testutil.Metric(t, a.reg, "videoforge_relay_active") + testutil.Metric(t, b.reg, "videoforge_relay_active"); n != 1 {
			return fmt.Errorf("%v active", n)
		}
		return nil
	})

	var wg sync.WaitGroup
	for _, user := range []string{"alice", "bob", "carol", "dave"} {
		wg.Go(func() { e.change(user, 40) })
	}
	// Two writers updating the same videos: the row lock orders their versions.
	shared := newVideo("erin", 0)
	if err := e.videos.CreateVideo(context.Background(), shared); err != nil {
		t.Fatal(err)
	}
	for w := range 2 {
		wg.Go(func() {
			for i := range 20 {
				title := fmt.Sprintf("writer %d change %d", w, i)
				if _, err := e.videos.UpdateVideo(context.Background(), shared.ID, "erin", videoforge.VideoUpdate{Title: &title}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	e.waitAllPublished(15 * time.Second)
	e.checkExactlyOnceInOrder()
	if testutil.Metric(t, a.reg, "videoforge_relay_active")+testutil.Metric(t, b.reg, "videoforge_relay_active") != 1 {
		t.Fatal("not exactly one relay active")
	}

	// The standby takes over when the active one stops.
	active, standby := a, b
	if testutil.Metric(t, b.reg, "videoforge_relay_active") == 1 {
		active, standby = b, a
	}
	if testutil.Metric(t, standby.reg, "videoforge_relay_published_total") != 0 {
		t.Error("the standby published")
	}
	if n := testutil.Metric(t, a.reg, "videoforge_relay_fenced_total") + testutil.Metric(t, b.reg, "videoforge_relay_fenced_total"); n != 0 {
		t.Errorf("a busy, healthy leader was fenced %v times", n)
	}
	active.stop()
	e.waitActive(standby)
	e.change("frank", 10)
	e.waitAllPublished(10 * time.Second)
	e.checkExactlyOnceInOrder()
}

func TestSessionKilled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.startRelay("a", testConfig)
	e.waitActive(r)
	e.change("alice", 5)
	e.waitAllPublished(10 * time.Second)

	var killed int
	if err := e.db.Pool().QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'videoforge-relay'`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d relay sessions, want 1", killed)
	}
	e.change("bob", 10)
	e.waitAllPublished(10 * time.Second)
	e.checkExactlyOnceInOrder()
}

func TestPostgresRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "pg")
	cl, err := pgcluster.Start(ctx, dir, pgcluster.Options{})
	if err != nil {
		t.Fatalf("%v\nthis test restarts a PostgreSQL of its own and needs the server binaries: apt-get install -y postgresql", err)
	}
	t.Cleanup(func() { _ = cl.Kill() })
	if err := schema.Migrate(ctx, cl.DSN("postgres"), schema.DefaultSchema); err != nil {
		t.Fatal(err)
	}
	e := newEnvOn(t, cl.DSN("postgres"))
	r := e.startRelay("a", testConfig)
	e.waitActive(r)
	e.change("alice", 5)
	e.waitAllPublished(10 * time.Second)

	if err := cl.Stop(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "relay notices", func() error {
		if testutil.Metric(t, r.reg, "videoforge_relay_active") != 0 {
			return errors.New("still active")
		}
		return nil
	})
	if cl, err = pgcluster.Start(ctx, dir, pgcluster.Options{Port: cl.Port}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the catalog's pool reconnects", func() error { return e.db.Ping(ctx) })
	e.change("bob", 10)
	e.waitAllPublished(10 * time.Second)
	e.checkExactlyOnceInOrder()
}

func TestOversizedEventDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.startRelay("a", testConfig)
	big := newVideo("alice", 0)
	desc := strings.Repeat("x", bus.MaxEventSize+1)
	big.Description = &desc
	if err := e.videos.CreateVideo(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	e.change("bob", 5) // must not be held up behind the event NATS refuses
	testutil.WaitFor(t, 10*time.Second, "every row marked", func() error {
		for _, row := range e.outbox() {
			if !row.Published {
				return fmt.Errorf("row %d unpublished", row.ID)
			}
		}
		return nil
	})
	if got := testutil.Metric(t, r.reg, "videoforge_relay_dropped_total"); got != 1 {
		t.Errorf("dropped_total %v, want 1", got)
	}
	msgs := e.stream()
	if len(msgs) != 5 {
		t.Fatalf("stream holds %d messages, want bob's 5", len(msgs))
	}
	for _, m := range msgs {
		if m.Event.Video.ID == big.ID {
			t.Errorf("the oversized event is in the stream")
		}
	}
}

func TestRetention(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := testConfig
	cfg.Retention = time.Millisecond
	cfg.CleanupInterval = 20 * time.Millisecond
	e.startRelay("a", cfg)
	e.change("alice", 5)
	testutil.WaitFor(t, 10*time.Second, "published rows deleted", func() error {
		var n int
		if err := e.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%d rows left", n)
		}
		return nil
	})
	if n := len(e.stream()); n != 5 {
		t.Fatalf("stream holds %d messages, want 5", n)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg relay.Config
		ok  bool
	}{
		"Defaults":         {relay.Config{}, true},
		"Test":             {testConfig, true},
		"ErrBatch":         {relay.Config{BatchSize: -1}, false},
		"ErrPoll":          {relay.Config{PollInterval: -time.Second}, false},
		"ErrBackoffOrder":  {relay.Config{MinBackoff: time.Second, MaxBackoff: time.Millisecond}, false},
		"KeepForever":      {relay.Config{Retention: -1}, true},
		"ErrLeaseShort":    {relay.Config{LeaseRenew: time.Second, LeaseTimeout: 2 * time.Second}, false},
		"ErrLeaseNegative": {relay.Config{LeaseRenew: -time.Second}, false},
	} {
		t.Run(name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

func TestChannel(t *testing.T) {
	if got := relay.Channel("videoforge"); got != "videoforge_outbox" {
		t.Errorf("Channel(videoforge) = %q", got)
	}
	long := strings.Repeat("s", 63)
	if got := relay.Channel(long); len(got) != 63 || !strings.HasPrefix(got, long[:56]) {
		t.Errorf("Channel(63 letters) = %q: want it cut to 63 bytes", got)
	}
}

// testLogger logs to the test's output (shown when it fails or with -v) until the test
// ends; later lines, from goroutines still stopping, are dropped since t.Log would panic.
func testLogger(t testing.TB) *slog.Logger {
	if _, ok := t.(*testing.B); ok {
		return slog.New(slog.DiscardHandler) // a benchmark prints every line it logs
	}
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// BenchmarkCommitToDelivery measures how long after UpdateVideo returns (the change is
// committed) its event reaches a consumer of the stream, which is after JetStream
// acknowledged it to the relay. Run with -benchtime=300x for a few hundred changes; it
// reports the median and the 99th percentile.
func BenchmarkCommitToDelivery(b *testing.B) {
	e := newEnv(b)
	r := e.startRelay("a", testConfig)
	e.waitActive(r)
	ctx := context.Background()
	v := newVideo("alice", 0)
	if err := e.videos.CreateVideo(ctx, v); err != nil {
		b.Fatal(err)
	}
	e.waitAllPublished(10 * time.Second)
	cons, err := e.js.OrderedConsumer(ctx, bus.CatalogStream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		b.Fatal(err)
	}
	msgs, err := cons.Messages()
	if err != nil {
		b.Fatal(err)
	}
	defer msgs.Stop()

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		title := fmt.Sprintf("title %d", i)
		u, err := e.videos.UpdateVideo(ctx, v.ID, "alice", videoforge.VideoUpdate{Title: &title})
		if err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		m, err := msgs.Next()
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(committed))
		ev, err := bus.DecodeEvent(m)
		if err != nil {
			b.Fatal(err)
		}
		if ev.Version != u.Version {
			b.Fatalf("got version %d, want %d", ev.Version, u.Version)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[min(len(lat)*99/100, len(lat)-1)]
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.Logf("commit -> delivered over %d changes: p50 %v, p99 %v, max %v", len(lat), p50, p99, lat[len(lat)-1])
}
