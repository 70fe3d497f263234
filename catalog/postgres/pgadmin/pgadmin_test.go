package pgadmin_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge/catalog/postgres/pgadmin"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, nil) }

func connect(t *testing.T) *pgadmin.Admin {
	t.Helper()
	a, err := pgadmin.Connect(t.Context(), pgtest.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func exists(t *testing.T, name string) bool {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), pgtest.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var ok bool
	if err := conn.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestTemplate: a sealed template is copied with its tables, a second creation of a
// name fails, and a drop ends the sessions of the database it drops.
func TestTemplate(t *testing.T) {
	ctx := t.Context()
	a := connect(t)
	suffix := time.Now().UnixNano()
	tpl, clone := fmt.Sprintf("vf tpl-%d", suffix), fmt.Sprintf("vf clone-%d", suffix)
	t.Cleanup(func() {
		for _, name := range []string{clone, tpl} {
			if err := a.DropDatabase(context.Background(), name); err != nil {
				t.Error(err)
			}
		}
	})
	if err := a.CreateDatabase(ctx, tpl, ""); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateDatabase(ctx, tpl, ""); err == nil {
		t.Error("a second CreateDatabase of the same name did not fail")
	}
	cfg, err := pgx.ParseConfig(pgtest.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = tpl
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `CREATE TABLE t (x int); INSERT INTO t VALUES (7)`); err != nil {
		t.Fatal(err)
	}
	// conn stays open: sealing ends it.
	if err := a.SealTemplate(ctx, tpl); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateDatabase(ctx, clone, tpl); err != nil {
		t.Fatal(err)
	}
	cfg.Database = clone
	c2, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var x int
	if err := c2.QueryRow(ctx, `SELECT x FROM t`).Scan(&x); err != nil || x != 7 {
		t.Errorf("clone has x = %d, %v; want 7", x, err)
	}
	// c2 stays open: the drop ends it.
	if err := a.DropDatabase(ctx, clone); err != nil {
		t.Fatal(err)
	}
	if exists(t, clone) {
		t.Errorf("database %q still exists after DropDatabase", clone)
	}
	if err := a.DropDatabase(ctx, clone); err != nil {
		t.Errorf("dropping a database that does not exist: %v", err)
	}
}

// TestEnsureDatabase: a database is created once and a second call leaves it as it is.
func TestEnsureDatabase(t *testing.T) {
	a := connect(t)
	name := fmt.Sprintf("vf ensure-%d", time.Now().UnixNano())
	t.Cleanup(func() { a.DropDatabase(context.Background(), name) })
	for range 2 {
		if err := a.EnsureDatabase(t.Context(), name); err != nil {
			t.Fatal(err)
		}
	}
	if !exists(t, name) {
		t.Errorf("database %q missing after EnsureDatabase", name)
	}
}
