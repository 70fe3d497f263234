// Package pgtest gives tests their own PostgreSQL database.
//
// A test package calls Main from TestMain once; it prepares a template
// database (the caller migrates it), and each test then gets a fresh clone of
// it from NewDatabase. The server is the one named by $DATABASE_URL or, when
// that is unset, a private cluster started for the test binary.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/videoforge/videoforge/catalog/postgres/pgadmin"
	"github.com/videoforge/videoforge/pgcluster"
)

const howTo = `pgtest: these tests need PostgreSQL 13 or later. Either install the server binaries,
and pgtest starts a private cluster:
    apt-get install -y postgresql
or point DATABASE_URL at a server where the user may create databases:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable`

const (
	setupTimeout = 5 * time.Minute // start and prepare, which runs the migrations
	dbTimeout    = time.Minute     // one CREATE or DROP DATABASE
)

// The server in use, set by Main before m.Run and only read by tests afterwards.
var (
	admin    *pgadmin.Admin
	adminDSN string
	template string
)

// What Main has to undo when the tests end or it is interrupted.
var (
	mu      sync.Mutex
	created = map[string]bool{} // databases not dropped yet
	undo    []func()            // run last to first
	cleanup = sync.OnceFunc(func() {
		mu.Lock()
		names := make([]string, 0, len(created))
		for name := range created {
			names = append(names, name)
		}
		mu.Unlock()
		for _, name := range names {
			if err := drop(name); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	})
)

// atExit registers f to be run by cleanup.
func atExit(f func()) {
	mu.Lock()
	defer mu.Unlock()
	undo = append(undo, f)
}

// Main runs the test package against PostgreSQL and exits; call it from
// TestMain. It uses the server at $DATABASE_URL, or else starts a private
// cluster in a temporary folder. There it creates a template database, runs
// prepare on it (to migrate it; prepare may be nil and must close its
// connections), runs the tests, then drops every database it created and stops
// the cluster it started, also on SIGINT or SIGTERM.
//
// When PostgreSQL cannot be had it says how to provide it and exits 1: the
// tests fail rather than skip.
func Main(m *testing.M, prepare func(ctx context.Context, dsn string) error) {
	// A Ctrl-C would otherwise leave a private server running: pg_ctl detaches it.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "pgtest: %v: cleaning up\n", s)
		cleanup()
		os.Exit(1)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	err := setUp(ctx, prepare)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v\n\n%s\n", err, howTo)
		cleanup()
		os.Exit(1)
	}
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// setUp connects to or starts the server and prepares the template.
func setUp(ctx context.Context, prepare func(ctx context.Context, dsn string) error) error {
	base := os.Getenv("DATABASE_URL")
	from := "the server in DATABASE_URL"
	if base == "" {
		if _, err := pgcluster.BinDir(); err != nil {
			return fmt.Errorf("pgtest: DATABASE_URL is unset, so a private cluster is needed: %w", err)
		}
		dir, err := os.MkdirTemp("", "pgtest-")
		if err != nil {
			return fmt.Errorf("pgtest: start cluster: %w", err)
		}
		atExit(func() { _ = os.RemoveAll(dir) })
		c, err := pgcluster.Start(ctx, filepath.Join(dir, "data"), pgcluster.Options{})
		if err != nil {
			return fmt.Errorf("pgtest: start cluster: %w", err)
		}
		atExit(func() {
			if err := c.Kill(); err != nil {
				fmt.Fprintln(os.Stderr, "pgtest:", err)
			}
		})
		base = c.DSN("postgres")
		from = "the private cluster"
	}
	adminDSN = withDatabase(base, "postgres")

	a, err := pgadmin.Connect(ctx, adminDSN)
	if err != nil {
		return fmt.Errorf("pgtest: connect to %s, %s: %w", from, redact(adminDSN), err)
	}
	atExit(a.Close)
	admin = a

	template = "vftpl_" + randomHex()
	if err := create(ctx, template, ""); err != nil {
		return err
	}
	if prepare != nil {
		if err := prepare(ctx, withDatabase(base, template)); err != nil {
			return fmt.Errorf("pgtest: prepare template database: %w", err)
		}
	}
	// CREATE DATABASE … TEMPLATE fails while anyone is connected to the template;
	// refusing connections keeps it that way.
	if err := admin.SealTemplate(ctx, template); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// NewDatabase creates a database cloned from the template that Main prepared,
// drops it when the test ends, and returns its DSN. Parallel tests may call it.
func NewDatabase(t testing.TB) string {
	t.Helper()
	if admin == nil {
		t.Fatal("pgtest: NewDatabase needs pgtest.Main to be called from TestMain")
	}
	name := "vft_" + randomHex()
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	if err := create(ctx, name, template); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(name); err != nil {
			t.Error(err)
		}
	})
	return withDatabase(adminDSN, name)
}

// AdminDSN returns the DSN of the maintenance database (postgres) on the
// server in use, for tests that manage databases or roles themselves. It is
// empty until Main has started.
func AdminDSN() string { return adminDSN }

// create creates database name, from template unless that is empty, and
// records it for dropping.
func create(ctx context.Context, name, template string) error {
	if err := admin.CreateDatabase(ctx, name, template); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	mu.Lock()
	created[name] = true
	mu.Unlock()
	return nil
}

// drop drops database name, ending its sessions.
func drop(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	if err := admin.DropDatabase(ctx, name); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	mu.Lock()
	delete(created, name)
	mu.Unlock()
	return nil
}

// withDatabase returns dsn with its database replaced by name. It handles URLs
// and keyword/value strings, where the last dbname given wins.
func withDatabase(dsn, name string) string {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return dsn + " dbname=" + name
	}
	u.Path, u.RawPath = "/"+name, ""
	q := u.Query()
	if q.Has("dbname") || q.Has("database") {
		q.Del("dbname")
		q.Del("database")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redact hides the password of a URL DSN, for error messages.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "the server in DATABASE_URL"
}

func randomHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
