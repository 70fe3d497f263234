package pgtest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge/pgcluster/pgtest"
)

func TestMain(m *testing.M) {
	pgtest.Main(m, func(ctx context.Context, dsn string) (err error) {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, conn.Close(ctx)) }()
		_, err = conn.Exec(ctx, `
			CREATE TABLE videos (id bigint PRIMARY KEY, title text NOT NULL);
			INSERT INTO videos VALUES (1, 'seed');`)
		return err
	})
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func titles(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, _ := conn.Query(t.Context(), "SELECT title FROM videos ORDER BY id")
	titles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return titles
}

func TestNewDatabase(t *testing.T) {
	t.Run("Isolated", func(t *testing.T) {
		a := connect(t, pgtest.NewDatabase(t))
		b := connect(t, pgtest.NewDatabase(t))
		if _, err := a.Exec(t.Context(), "INSERT INTO videos VALUES (2, 'only in a')"); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(titles(t, a)); got != "[seed only in a]" {
			t.Errorf("a has %s, want [seed only in a]", got)
		}
		if got := fmt.Sprint(titles(t, b)); got != "[seed]" {
			t.Errorf("b has %s, want [seed]", got)
		}
	})

	t.Run("Parallel", func(t *testing.T) {
		var mu sync.Mutex
		seen := map[string]bool{}
		for i := range 8 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				dsn := pgtest.NewDatabase(t)
				mu.Lock()
				if seen[dsn] {
					t.Errorf("DSN %s handed out twice", dsn)
				}
				seen[dsn] = true
				mu.Unlock()
				conn := connect(t, dsn)
				if _, err := conn.Exec(t.Context(), "INSERT INTO videos VALUES ($1, 'mine')", 100+i); err != nil {
					t.Fatal(err)
				}
				if got := fmt.Sprint(titles(t, conn)); got != "[seed mine]" {
					t.Errorf("database has %s, want [seed mine]", got)
				}
			})
		}
	})

	t.Run("DroppedAfterTest", func(t *testing.T) {
		var name string
		t.Run("Use", func(t *testing.T) {
			cfg, err := pgx.ParseConfig(pgtest.NewDatabase(t))
			if err != nil {
				t.Fatal(err)
			}
			name = cfg.Database
			connect(t, cfg.ConnString()) // left open: the drop must end it
		})
		admin := connect(t, pgtest.AdminDSN())
		var exists bool
		if err := admin.QueryRow(t.Context(), "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Errorf("database %s still exists after its test", name)
		}
	})
}

func TestAdminDSN(t *testing.T) {
	var db string
	if err := connect(t, pgtest.AdminDSN()).QueryRow(t.Context(), "SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	if db != "postgres" {
		t.Fatalf("AdminDSN connects to %q, want postgres", db)
	}
}

func BenchmarkNewDatabase(b *testing.B) {
	for b.Loop() {
		pgtest.NewDatabase(b)
	}
}
