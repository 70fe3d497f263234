package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
)

// TestSchemaFromAnySession: writes through a session whose search_path lacks the
// schema (an operator's psql, a data import, naming the tables with the schema) run
// the schema's triggers as the catalog's own do: the per-user counters follow every
// insert, update and delete. And every function of the schema pins its search_path,
// so that none added later forgets.
func TestSchemaFromAnySession(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = "public"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	s := pgx.Identifier{schema.DefaultSchema}.Sanitize()
	count := func(visibility string) int64 {
		t.Helper()
		var n int64
		if err := conn.QueryRow(ctx, `SELECT coalesce(sum(n), 0) FROM `+s+`.video_counts
			WHERE user_id = 'ops' AND visibility = $1`, visibility).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var id int64
	if err := conn.QueryRow(ctx, `INSERT INTO `+s+`.videos (user_id, title, s3_key, status)
		VALUES ('ops', 'imported', 'videos/0/a1', 'ready') RETURNING id`).Scan(&id); err != nil {
		t.Fatalf("an insert naming the schema, from a session without it: %v", err)
	}
	if n := count("public"); n != 1 {
		t.Errorf("after the insert: %d public videos counted for the user, want 1", n)
	}
	if _, err := conn.Exec(ctx, `UPDATE `+s+`.videos SET visibility = 'private' WHERE id = $1`, id); err != nil {
		t.Fatalf("update: %v", err)
	}
	if pub, priv := count("public"), count("private"); pub != 0 || priv != 1 {
		t.Errorf("after the update: %d public and %d private, want 0 and 1", pub, priv)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM `+s+`.videos WHERE id = $1`, id); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if n := count("private"); n != 0 {
		t.Errorf("after the delete: %d private, want 0", n)
	}
	rows, err := conn.Query(ctx, `SELECT p.oid::regprocedure::text FROM pg_proc p
		WHERE p.pronamespace = $1::regnamespace
		AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
		AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) AS c WHERE c LIKE 'search_path=%')`, schema.DefaultSchema)
	if err != nil {
		t.Fatal(err)
	}
	unpinned, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(unpinned) > 0 {
		t.Errorf("functions of the schema without a pinned search_path: %v", unpinned)
	}
}
