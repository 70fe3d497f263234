package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
)

func begin(t *testing.T, l *postgres.RevocationLog) videoforge.RevocationTx {
	t.Helper()
	tx, err := l.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx
}

func TestRevocationLogRound(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	exec := func(sql string) {
		t.Helper()
		if _, err := db.Pool().Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO revocations (video_id, token_gen, deleted, revoked_at)
		VALUES (1, 3, false, now() - interval '1 minute'), (2, 8, true, now())`)
	l := postgres.NewRevocationLog(db)

	t1 := begin(t, l)
	at, ok, err := t1.OldestUnpushed(ctx)
	if err != nil || !ok || time.Since(at) < 50*time.Second {
		t.Fatalf("OldestUnpushed = %v, %v, %v: want video 1's, a minute old", at, ok, err)
	}
	ids, err := t1.LockUnpushed(ctx, 10)
	if err != nil || !slices.Equal(ids, []int64{1, 2}) {
		t.Fatalf("LockUnpushed = %v, %v: want [1 2], oldest first", ids, err)
	}
	t2 := begin(t, l)
	if ids, err := t2.LockUnpushed(ctx, 10); err != nil || len(ids) != 0 {
		t.Fatalf("a second transaction's LockUnpushed = %v, %v: want the held videos skipped", ids, err)
	}
	revs, err := t1.Unpushed(ctx, ids)
	if err != nil || len(revs) != 2 || revs[0].VideoID != 1 || revs[0].TokenGen != 3 || revs[0].Deleted ||
		revs[1].VideoID != 2 || revs[1].TokenGen != 8 || !revs[1].Deleted {
		t.Fatalf("Unpushed = %+v, %v", revs, err)
	}
	// Revoked again meanwhile: the catalog does not wait for the lock, and the round
	// leaves the newer revocation unpushed.
	exec(`UPDATE revocations SET token_gen = 4, revoked_at = now(), pushed_at = NULL WHERE video_id = 1`)
	if n, err := t1.MarkPushed(ctx, revs); err != nil || n != 1 {
		t.Fatalf("MarkPushed = %d, %v: want only video 2 marked", n, err)
	}
	if err := t1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := t1.Rollback(ctx); err != nil {
		t.Fatalf("Rollback after Commit = %v", err)
	}
	if ids, err := t2.LockUnpushed(ctx, 10); err != nil || !slices.Equal(ids, []int64{1}) {
		t.Fatalf("LockUnpushed after the commit = %v, %v: want [1]", ids, err)
	}
	if revs, err := t2.Unpushed(ctx, []int64{1, 2}); err != nil || len(revs) != 1 || revs[0].TokenGen != 4 {
		t.Fatalf("Unpushed = %+v, %v: want video 1 at generation 4", revs, err)
	}
	if err := t2.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRevocationLogExpiry(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	if _, err := db.Pool().Exec(ctx, `INSERT INTO revocations (video_id, token_gen, revoked_at, pushed_at) VALUES
		(1, 1, now() - interval '2 hours', now() - interval '2 hours'),
		(2, 1, now() - interval '2 hours', NULL),
		(3, 1, now(), now()),
		(4, 1, now(), NULL)`); err != nil {
		t.Fatal(err)
	}
	l := postgres.NewRevocationLog(db)
	tx := begin(t, l)
	ids, err := tx.LockExpired(ctx, time.Hour, 10)
	if err != nil || !slices.Equal(ids, []int64{1}) {
		t.Fatalf("LockExpired = %v, %v: want the old pushed video 1", ids, err)
	}
	revs, err := tx.Expired(ctx, []int64{1, 2, 3, 4}, time.Hour)
	if err != nil || len(revs) != 1 || revs[0].VideoID != 1 {
		t.Fatalf("Expired = %+v, %v", revs, err)
	}
	stale := revs[0]
	stale.RevokedAt = stale.RevokedAt.Add(-time.Second)
	if n, err := tx.Delete(ctx, []videoforge.Revocation{stale}); err != nil || n != 0 {
		t.Fatalf("Delete of a revocation revoked since = %d, %v: want nothing deleted", n, err)
	}
	if n, err := tx.Delete(ctx, revs); err != nil || n != 1 {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := l.DeleteUnpushed(ctx, time.Hour); err != nil || n != 1 {
		t.Fatalf("DeleteUnpushed = %d, %v: want the old unpushed video 2", n, err)
	}
	var left []int64
	rows, err := db.Pool().Query(ctx, `SELECT video_id FROM revocations ORDER BY video_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		left = append(left, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(left, []int64{3, 4}) {
		t.Fatalf("rows left %v, want [3 4]", left)
	}
	tx = begin(t, l)
	if _, ok, err := tx.OldestUnpushed(ctx); err != nil || !ok {
		t.Fatalf("OldestUnpushed = %v, %v", ok, err)
	}
	if _, err := db.Pool().Exec(ctx, `UPDATE revocations SET pushed_at = now()`); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := tx.OldestUnpushed(ctx); err != nil || ok {
		t.Fatalf("OldestUnpushed with everything pushed = %v, %v", ok, err)
	}
}
