package pgcluster_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge/pgcluster"
)

// start starts a cluster on dir and kills it when the test ends.
func start(t *testing.T, dir string, opt pgcluster.Options) *pgcluster.Cluster {
	t.Helper()
	opt.Log = slog.New(slog.NewTextHandler(t.Output(), nil))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Kill(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// exec runs statements on the cluster's postgres database.
func exec(t *testing.T, c *pgcluster.Cluster, sql ...string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), c.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, s := range sql {
		if _, err := conn.Exec(t.Context(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// count returns the number of rows in table t.
func count(t *testing.T, c *pgcluster.Cluster, table string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), c.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")

	t.Run("OK", func(t *testing.T) {
		c := start(t, dir, pgcluster.Options{})
		if c.Dir != dir || c.Port == 0 {
			t.Fatalf("Dir, Port = %q, %d; want %q, a port", c.Dir, c.Port, dir)
		}
		exec(t, c, "CREATE TABLE kept (id int)", "INSERT INTO kept VALUES (1), (2)")
		if err := c.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := c.Stop(); err != nil {
			t.Errorf("second Stop: %v", err)
		}
		if _, err := pgx.Connect(t.Context(), c.DSN("postgres")); err == nil {
			t.Error("connected after Stop")
		}
	})

	t.Run("DataKept", func(t *testing.T) {
		c := start(t, dir, pgcluster.Options{})
		if n := count(t, c, "kept"); n != 2 {
			t.Fatalf("rows after restart = %d, want 2", n)
		}
		if err := c.Kill(); err != nil {
			t.Fatal(err)
		}
		if _, err := pgx.Connect(t.Context(), c.DSN("postgres")); err == nil {
			t.Error("connected after Kill")
		}
	})

	t.Run("StalePidFile", func(t *testing.T) {
		// A test binary killed by its timeout can leave a server behind; here
		// the server dies instead, leaving its postmaster.pid.
		c, err := pgcluster.Start(t.Context(), dir, pgcluster.Options{})
		if err != nil {
			t.Fatal(err)
		}
		pid := postmasterPID(t, dir)
		_ = c
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// Until PID 1 reaps the zombie, its PID exists and the server would rightly
		// refuse to start, as for a server still running.
		waitFor(t, 10*time.Second, func() bool { return syscall.Kill(pid, 0) != nil })
		if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); err != nil {
			t.Fatalf("postmaster.pid should be left behind: %v", err)
		}
		c = start(t, dir, pgcluster.Options{})
		if n := count(t, c, "kept"); n != 2 {
			t.Fatalf("rows after crash = %d, want 2", n)
		}
	})
}

func TestStartPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	_, err = pgcluster.Start(t.Context(), t.TempDir(), pgcluster.Options{Port: port})
	if err == nil || !strings.Contains(err.Error(), "Address already in use") {
		t.Fatalf("err = %v, want one quoting the server log about the port in use", err)
	}
}

func TestStartCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := pgcluster.Start(ctx, t.TempDir(), pgcluster.Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// A start cut short, during initdb or while the server comes up, must leave
// nothing that stops the next start on the same folder.
func TestStartDeadline(t *testing.T) {
	for _, timeout := range []time.Duration{50 * time.Millisecond, 600 * time.Millisecond, 800 * time.Millisecond} {
		t.Run(timeout.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			c, err := pgcluster.Start(ctx, dir, pgcluster.Options{})
			switch {
			case err == nil:
				t.Logf("started within %v", timeout)
				if err := c.Kill(); err != nil {
					t.Fatal(err)
				}
			case !errors.Is(err, context.DeadlineExceeded):
				t.Fatalf("err = %v, want context.DeadlineExceeded", err)
			default:
				t.Logf("cut short: %.60s", err)
			}
			c = start(t, dir, pgcluster.Options{})
			exec(t, c, "SELECT 1")
		})
	}
}

func TestBinDir(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		dir, err := pgcluster.BinDir()
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"initdb", "pg_ctl"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Error(err)
			}
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		t.Setenv("PG_BIN", t.TempDir())
		_, err := pgcluster.BinDir()
		if err == nil || !strings.Contains(err.Error(), "apt-get install -y postgresql") {
			t.Fatalf("err = %v, want one saying how to install PostgreSQL", err)
		}
	})
}

func TestDSN(t *testing.T) {
	c := &pgcluster.Cluster{Port: 5999}
	want := "postgres://postgres@127.0.0.1:5999/app?sslmode=disable"
	if got := c.DSN("app"); got != want {
		t.Fatalf("DSN = %q, want %q", got, want)
	}
	cfg, err := pgx.ParseConfig(c.DSN("a b/c"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database != "a b/c" {
		t.Fatalf("database = %q, want %q", cfg.Database, "a b/c")
	}
}

// postmasterPID reads the server's PID from its lock file.
func postmasterPID(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(line)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
