package stack

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge/pgcluster/pgtest"
)

func TestMain(m *testing.M) {
	pgtest.Main(m, func(ctx context.Context, dsn string) error { return nil })
}

// devOptions are a dev stack's on free ports, over a database of its own and without
// a transcoder.
func devOptions(t *testing.T) Options {
	o := DefaultOptions()
	o.Command = "dev"
	o.Dev.Data, o.Dev.NATSPort = t.TempDir(), 0
	o.DB.URL = pgtest.NewDatabase(t)
	o.Gallery.Addr, o.Edge.Addr = "127.0.0.1:0", "127.0.0.1:0"
	o.Transcoder.Workers = 0
	return o
}

func get(url string) (int, error) {
	res, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// TestRoleFailureStopsStack: a role that fails while the stack runs stops every other
// role and the shared parts, and Run returns its error.
func TestRoleFailureStopsStack(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := New(ctx, devOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	fail := make(chan struct{})
	s.add(role{name: "probe", run: func(ctx context.Context) error {
		select {
		case <-fail:
			return errors.New("disk on fire")
		case <-ctx.Done():
			return nil
		}
	}})
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if err := s.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	a := s.Addrs()
	for _, u := range []string{a.Gallery + "/api/gallery/health", a.Edge + "/api/stream/health"} {
		if code, err := get(u); err != nil || code != 200 {
			t.Fatalf("%s: %d %v", u, code, err)
		}
	}
	close(fail)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "probe: disk on fire") {
			t.Fatalf("Run returned %v, want the probe's error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stack did not stop within 30 s of a role failing")
	}
	for _, u := range []string{a.Gallery + "/api/gallery/health", a.Edge + "/api/stream/health"} {
		if _, err := get(u); err == nil {
			t.Errorf("%s still answers after the stack stopped", u)
		}
	}
}

// TestFailureBeforeReady: WaitReady returns the error of a role that failed before
// every role was ready.
func TestFailureBeforeReady(t *testing.T) {
	s := newStack(DefaultOptions())
	s.log = slog.New(slog.DiscardHandler)
	s.add(role{name: "loader", run: func(ctx context.Context) error { <-ctx.Done(); return nil },
		ready: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }})
	s.add(role{name: "broken", run: func(context.Context) error { return errors.New("no such bucket") }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	if err := s.WaitReady(ctx); err == nil || !strings.Contains(err.Error(), "broken: no such bucket") {
		t.Fatalf("WaitReady: %v", err)
	}
}

// TestShutdownInOrder: at the end of ctx the roles stop in the order they were added,
// each after the one before has returned.
func TestShutdownInOrder(t *testing.T) {
	s := newStack(DefaultOptions())
	var order []string
	stopped := make(chan string, 3)
	for _, name := range []string{"gallery", "relay", "edge"} {
		s.add(role{name: name, run: func(ctx context.Context) error {
			<-ctx.Done()
			stopped <- name
			return nil
		}})
	}
	s.onClose(func() { order = append(order, "shared parts") })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if err := s.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(stopped)
	var got []string
	for n := range stopped {
		got = append(got, n)
	}
	got = append(got, order...)
	if want := "gallery relay edge shared parts"; strings.Join(got, " ") != want {
		t.Errorf("stopped %q, want %q", strings.Join(got, " "), want)
	}
}

// TestStuckRoleIsBounded: a role that ignores its context holds the shutdown up for
// its grace and a margin, not for ever.
func TestStuckRoleIsBounded(t *testing.T) {
	s := newStack(DefaultOptions())
	s.log, s.stopMargin = slog.New(slog.DiscardHandler), 10*time.Millisecond
	release := make(chan struct{})
	defer close(release)
	s.add(role{name: "stuck", grace: 10 * time.Millisecond, run: func(context.Context) error { <-release; return nil }})
	s.add(role{name: "after", run: func(ctx context.Context) error { <-ctx.Done(); return nil }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run waited for ever on a stuck role")
	}
}
