package relay_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/catalog/relay"
	"github.com/videoforge/videoforge/internal/testutil"
	"github.com/videoforge/videoforge/schema"
)

// The test binary runs as a relay of its own when childEnv names a database; the NATS
// URL is in childNATSEnv. It serves its metrics on a random port, printed first on
// stdout, and logs to stderr.
const (
	childEnv     = "VF_RELAY_TEST_CHILD_DSN"
	childNATSEnv = "VF_RELAY_TEST_CHILD_NATS"
)

func runChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fail := func(err error) int {
		log.Error("relay child", "err", err)
		return 1
	}
	db, err := postgres.Open(ctx, postgres.Config{URL: os.Getenv(childEnv), Schema: schema.DefaultSchema,
		StatementTimeout: 10 * time.Second})
	if err != nil {
		return fail(err)
	}
	defer db.Close()
	conn, err := bus.Connect(ctx, os.Getenv(childNATSEnv), "relay-child", log)
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	reg := prometheus.NewRegistry()
	cfg := testConfig
	cfg.Metrics = reg
	cfg.AppName = "videoforge-relay-child"
	r, err := relay.New(postgres.NewOutbox(db), conn, cfg, log)
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	go func() { _ = http.Serve(ln, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})) }()
	fmt.Printf("metrics http://%s/metrics\n", ln.Addr())
	if err := r.Run(ctx); err != nil {
		return fail(err)
	}
	return 0
}

// childRelay is a relay in a process of its own, so that it can be stopped with SIGSTOP.
type childRelay struct {
	cmd     *exec.Cmd
	metrics string
	logPath string
}

func (e *env) startChild(t *testing.T) *childRelay {
	t.Helper()
	logPath := t.TempDir() + "/relay.log"
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+e.dsn, childNATSEnv+"="+fmt.Sprintf("nats://127.0.0.1:%d", e.natsPort))
	cmd.Stderr = logFile
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childRelay{cmd: cmd, logPath: logPath}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() || testing.Verbose() {
			b, _ := os.ReadFile(logPath)
			t.Logf("child relay's log:\n%s", b)
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child relay: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	c.metrics = strings.TrimPrefix(strings.TrimSpace(line), "metrics ")
	return c
}

// metric scrapes one unlabelled metric of the child.
func (c *childRelay) metric(name string) (float64, error) {
	resp, err := http.Get(c.metrics)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no metric %s", name)
}

func (c *childRelay) log() string {
	b, _ := os.ReadFile(c.logPath)
	return string(b)
}

// TestStalledLeaderFenced stops the active relay, a process of its own, with SIGSTOP
// while changes are being published: its session stays open (the kernel answers for
// it), yet the standby fences it and events flow again within 5 s, each published once
// and in version order per video. Woken with SIGCONT, the old relay publishes and
// marks nothing and stands by.
func TestStalledLeaderFenced(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.startChild(t)
	testutil.WaitFor(t, 10*time.Second, "the child relay becomes active", func() error {
		if v, err := a.metric("videoforge_relay_active"); err != nil || v != 1 {
			return fmt.Errorf("active %v, %v", v, err)
		}
		return nil
	})
	b := e.startRelay("b", testConfig)

	stopWriting := make(chan struct{})
	var writer sync.WaitGroup
	writer.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stopWriting:
				return
			default:
			}
			e.change(fmt.Sprintf("writer%d", i), 10)
		}
	})
	testutil.WaitFor(t, 10*time.Second, "the child relay publishes", func() error {
		if v, err := a.metric("videoforge_relay_published_total"); err != nil || v < 30 {
			return fmt.Errorf("published %v, %v", v, err)
		}
		return nil
	})
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if testutil.Metric(t, b.reg, "videoforge_relay_active") != 0 {
		t.Fatal("the standby was active before the leader stalled")
	}

	// A change committed after the stall reaches the stream through the standby.
	ctx := context.Background()
	v := newVideo("after-stall", 0)
	if err := e.videos.CreateVideo(ctx, v); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "a change made after the stall published", func() error {
		var published bool
		if err := e.db.Pool().QueryRow(ctx, `SELECT published_at IS NOT NULL FROM outbox WHERE video_id = $1`,
			v.ID).Scan(&published); err != nil {
			return err
		}
		if !published {
			return errors.New("not yet")
		}
		return nil
	})
	flowing := time.Since(stopped)
	t.Logf("events flow again %v after SIGSTOP (lease timeout %v, renewal %v)", flowing.Round(time.Millisecond),
		testConfig.LeaseTimeout, testConfig.LeaseRenew)
	if flowing > 5*time.Second {
		t.Errorf("events flowed again %v after the leader stalled, want within 5 s", flowing)
	}
	close(stopWriting)
	writer.Wait()
	e.waitAllPublished(10 * time.Second)
	e.checkExactlyOnceInOrder()
	if got := testutil.Metric(t, b.reg, "videoforge_relay_fenced_total"); got != 1 {
		t.Errorf("fenced_total %v, want 1", got)
	}
	if testutil.Metric(t, b.reg, "videoforge_relay_published_total") == 0 {
		t.Error("the standby published nothing")
	}

	// Wake the old leader: it finds its session gone and stands by.
	before := e.snapshot()
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the woken relay stands by", func() error {
		if !strings.Contains(a.log(), "standing by") {
			return errors.New("no word of standing by in its log")
		}
		if v, err := a.metric("videoforge_relay_active"); err != nil || v != 0 {
			return fmt.Errorf("active %v, %v", v, err)
		}
		return nil
	})
	if after := e.snapshot(); after != before {
		t.Errorf("after the old leader woke:\n%s\nbefore:\n%s", after, before)
	}
	e.checkExactlyOnceInOrder()
	// Still one publisher: a new change goes out once.
	e.change("after-wake", 3)
	e.waitAllPublished(10 * time.Second)
	e.checkExactlyOnceInOrder()
	if testutil.Metric(t, b.reg, "videoforge_relay_active") != 1 {
		t.Error("the standby that took over is no longer active")
	}
}

// snapshot describes the stream's last sequence and every outbox row's mark.
func (e *env) snapshot() string {
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
	var marks string
	if err := e.db.Pool().QueryRow(ctx, `SELECT coalesce(string_agg(id || '@' || coalesce(published_at::text, '-'), ' ' ORDER BY id), '')
		FROM outbox`).Scan(&marks); err != nil {
		e.t.Fatal(err)
	}
	return fmt.Sprintf("stream last seq %d, %d messages; outbox %s", info.State.LastSeq, info.State.Msgs, marks)
}

// TestIdleLeaderKeepsLease leaves a healthy leader with nothing to publish for three
// lease timeouts: it keeps renewing its session, so the standby never fences it.
func TestIdleLeaderKeepsLease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.startRelay("a", testConfig)
	e.waitActive(a)
	b := e.startRelay("b", testConfig)
	start := time.Now()
	ctx := context.Background()
	testutil.WaitFor(t, 10*time.Second, "three lease timeouts of an idle leader", func() error {
		var silent float64
		if err := e.db.Pool().QueryRow(ctx, `SELECT coalesce(max(extract(epoch FROM clock_timestamp() - a.state_change)), -1)
			FROM pg_stat_activity a WHERE a.datname = current_database() AND a.application_name = 'videoforge-relay'
			AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted)`).Scan(&silent); err != nil {
			return err
		}
		if silent < 0 || silent >= testConfig.LeaseTimeout.Seconds() {
			t.Fatalf("the leader's session has been silent %.3f s, want it renewed every %v", silent, testConfig.LeaseRenew)
		}
		if time.Since(start) < 3*testConfig.LeaseTimeout {
			return errors.New("not yet")
		}
		return nil
	})
	if testutil.Metric(t, b.reg, "videoforge_relay_fenced_total") != 0 || testutil.Metric(t, a.reg, "videoforge_relay_active") != 1 ||
		testutil.Metric(t, b.reg, "videoforge_relay_active") != 0 {
		t.Fatal("the standby took over from an idle, healthy leader")
	}
	e.change("alice", 3)
	e.waitAllPublished(10 * time.Second)
	if testutil.Metric(t, b.reg, "videoforge_relay_published_total") != 0 {
		t.Error("the standby published")
	}
}
