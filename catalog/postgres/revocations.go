package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge"
)

// RevocationLog is the revocations table of the schema the pool's connections use
// (their search_path), as the revocation pusher reads and marks it.
type RevocationLog struct {
	db *DB
}

var (
	_ videoforge.RevocationLog = (*RevocationLog)(nil)
	_ videoforge.RevocationTx  = (*RevocationTx)(nil)
)

// NewRevocationLog returns the revocation log on db.
func NewRevocationLog(db *DB) *RevocationLog { return &RevocationLog{db: db} }

// Begin starts a transaction and looks up the schema, whose key is the first key of
// the transaction's advisory locks.
func (l *RevocationLog) Begin(ctx context.Context) (videoforge.RevocationTx, error) {
	tx, err := l.db.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	var schema *string
	if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		rollback(ctx, tx)
		return nil, fmt.Errorf("look up schema: %w", err)
	}
	if schema == nil {
		rollback(ctx, tx)
		return nil, errors.New("no schema of the search_path exists; run the migrations")
	}
	return &RevocationTx{tx: tx, key: revocationLockKey(*schema)}, nil
}

// DeleteUnpushed deletes the unpushed revocations older than age.
func (l *RevocationLog) DeleteUnpushed(ctx context.Context, age time.Duration) (int64, error) {
	tag, err := l.db.pool.Exec(ctx, `DELETE FROM revocations WHERE pushed_at IS NULL
		AND revoked_at < now() - make_interval(secs => $1)`, age.Seconds())
	return tag.RowsAffected(), err
}

// RevocationTx is a transaction on the revocations table whose advisory locks are
// keyed by its schema.
type RevocationTx struct {
	tx  pgx.Tx
	key int32
}

// lockSQL takes this transaction's advisory lock on each video it returns. The two-key
// form keeps these locks apart from the relay's one-key lock; the first key is the
// schema's, so that schemas sharing a database do not contend. The CTE is
// materialised so that locks are tried only on the candidates.
const lockSQL = `WITH c AS MATERIALIZED (%s)
	SELECT video_id FROM c WHERE pg_try_advisory_xact_lock($1, (video_id %% 2147483647)::int)`

// OldestUnpushed returns the revoked_at of the oldest unpushed revocation.
func (t *RevocationTx) OldestUnpushed(ctx context.Context) (time.Time, bool, error) {
	var oldest *time.Time
	if err := t.tx.QueryRow(ctx, `SELECT min(revoked_at) FROM revocations WHERE pushed_at IS NULL`).Scan(&oldest); err != nil {
		return time.Time{}, false, err
	}
	if oldest == nil {
		return time.Time{}, false, nil
	}
	return *oldest, true, nil
}

// LockUnpushed locks videos with an unpushed revocation, oldest first.
func (t *RevocationTx) LockUnpushed(ctx context.Context, limit int) ([]int64, error) {
	return t.lock(ctx, `SELECT video_id FROM revocations WHERE pushed_at IS NULL ORDER BY revoked_at, video_id LIMIT $2`, limit)
}

// Unpushed reads the unpushed revocations of ids.
func (t *RevocationTx) Unpushed(ctx context.Context, ids []int64) ([]videoforge.Revocation, error) {
	return t.read(ctx, `pushed_at IS NULL`, ids)
}

// LockExpired locks videos whose pushed revocation is older than age, oldest first.
func (t *RevocationTx) LockExpired(ctx context.Context, age time.Duration, limit int) ([]int64, error) {
	return t.lock(ctx, `SELECT video_id FROM revocations WHERE pushed_at IS NOT NULL
		AND revoked_at < now() - make_interval(secs => $3) ORDER BY revoked_at, video_id LIMIT $2`, limit, age.Seconds())
}

// Expired reads the pushed revocations of ids older than age.
func (t *RevocationTx) Expired(ctx context.Context, ids []int64, age time.Duration) ([]videoforge.Revocation, error) {
	return t.read(ctx, `pushed_at IS NOT NULL AND revoked_at < now() - make_interval(secs => $2)`, ids, age.Seconds())
}

// lock runs pick, a query of video ids whose $1 is the lock key and $2 the limit, then
// args, and locks each video it selects.
func (t *RevocationTx) lock(ctx context.Context, pick string, limit int, args ...any) ([]int64, error) {
	rows, err := t.tx.Query(ctx, fmt.Sprintf(lockSQL, pick), append([]any{t.key, limit}, args...)...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// read reads the revocations of ids that where selects; its $1 is the ids, then args.
func (t *RevocationTx) read(ctx context.Context, where string, ids []int64, args ...any) ([]videoforge.Revocation, error) {
	rows, err := t.tx.Query(ctx, `SELECT video_id, token_gen, deleted, revoked_at FROM revocations
		WHERE video_id = ANY($1) AND `+where+` ORDER BY video_id`, append([]any{ids}, args...)...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(cr pgx.CollectableRow) (videoforge.Revocation, error) {
		var r videoforge.Revocation
		err := cr.Scan(&r.VideoID, &r.TokenGen, &r.Deleted, &r.RevokedAt)
		return r, err
	})
}

// MarkPushed sets pushed_at of the revocations whose revoked_at is unchanged.
func (t *RevocationTx) MarkPushed(ctx context.Context, revs []videoforge.Revocation) (int64, error) {
	ids, ats := revocationKeys(revs)
	tag, err := t.tx.Exec(ctx, `UPDATE revocations r SET pushed_at = now()
		FROM unnest($1::bigint[], $2::timestamptz[]) AS u(id, at)
		WHERE r.video_id = u.id AND r.revoked_at = u.at AND r.pushed_at IS NULL`, ids, ats)
	return tag.RowsAffected(), err
}

// Delete deletes the revocations whose revoked_at is unchanged.
func (t *RevocationTx) Delete(ctx context.Context, revs []videoforge.Revocation) (int64, error) {
	ids, ats := revocationKeys(revs)
	tag, err := t.tx.Exec(ctx, `DELETE FROM revocations r USING unnest($1::bigint[], $2::timestamptz[]) AS u(id, at)
		WHERE r.video_id = u.id AND r.revoked_at = u.at`, ids, ats)
	return tag.RowsAffected(), err
}

// Commit commits the transaction.
func (t *RevocationTx) Commit(ctx context.Context) error { return t.tx.Commit(ctx) }

// Rollback rolls the transaction back unless it was committed.
func (t *RevocationTx) Rollback(ctx context.Context) error {
	if err := t.tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return err
	}
	return nil
}

// rollback ends tx after a failure, even when ctx has ended.
func rollback(ctx context.Context, tx pgx.Tx) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_ = tx.Rollback(rctx)
}

// revocationKeys returns the revocations' ids and revocation times, for the statements
// that change a row only if it was not revoked again.
func revocationKeys(revs []videoforge.Revocation) ([]int64, []time.Time) {
	ids := make([]int64, len(revs))
	ats := make([]time.Time, len(revs))
	for i, r := range revs {
		ids[i], ats[i] = r.VideoID, r.RevokedAt
	}
	return ids, ats
}

// revocationLockKey is the first key of the pushers' advisory locks in a schema.
func revocationLockKey(schema string) int32 {
	h := fnv.New32a()
	h.Write([]byte("videoforge.revoke." + schema))
	return int32(h.Sum32())
}
