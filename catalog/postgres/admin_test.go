package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
)

// TestCreateDatabase: a database is created once and a second call leaves it as it is;
// a name that needs quoting is quoted.
func TestCreateDatabase(t *testing.T) {
	ctx := context.Background()
	name := fmt.Sprintf("vf create-%d", time.Now().UnixNano())
	admin := pgtest.AdminDSN()
	t.Cleanup(func() {
		if conn, err := pgx.Connect(ctx, admin); err == nil {
			conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
			conn.Close(ctx)
		}
	})
	for range 2 {
		if err := postgres.CreateDatabase(ctx, admin, name); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d databases named %q, %v", n, name, err)
	}
	i := strings.LastIndex(admin, "/postgres")
	if i < 0 {
		t.Fatalf("admin DSN %q names no postgres database", admin)
	}
	if err := postgres.CreateDatabase(ctx, admin[:i]+"/no_such_database_here"+admin[i+len("/postgres"):], "x"); err == nil {
		t.Error("no error from an admin DSN that does not connect")
	}
}
