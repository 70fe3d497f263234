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

// Outbox is the outbox of the schema the pool's connections use (their search_path),
// as the relay publishes it.
type Outbox struct {
	db *DB
}

var (
	_ videoforge.Outbox        = (*Outbox)(nil)
	_ videoforge.OutboxSession = (*OutboxSession)(nil)
)

// NewOutbox returns the outbox on db.
func NewOutbox(db *DB) *Outbox { return &Outbox{db: db} }

// OpenSession connects a session of its own, configured like the pool's connections
// but without their statement timeout, since a standby waits on the lock
// indefinitely, and looks up its schema.
func (o *Outbox) OpenSession(ctx context.Context, appName string) (videoforge.OutboxSession, error) {
	cc := o.db.pool.Config().ConnConfig.Copy()
	delete(cc.RuntimeParams, "statement_timeout")
	cc.RuntimeParams["application_name"] = appName
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	s := &OutboxSession{conn: conn}
	var schema *string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		s.Close()
		return nil, fmt.Errorf("look up schema: %w", err)
	}
	if schema == nil {
		s.Close()
		return nil, errors.New("no schema of the search_path exists; run the migrations")
	}
	s.schema, s.key = *schema, outboxLockKey(*schema)
	return s, nil
}

// DeletePublished deletes published rows older than age, oldest first.
func (o *Outbox) DeletePublished(ctx context.Context, age time.Duration, limit int) (int64, error) {
	tag, err := o.db.pool.Exec(ctx, `DELETE FROM outbox WHERE id IN (
		SELECT id FROM outbox WHERE published_at < now() - make_interval(secs => $1)
		ORDER BY id LIMIT $2)`, age.Seconds(), limit)
	return tag.RowsAffected(), err
}

// OutboxSession is a relay's connection. Its publisher lock is a session advisory lock
// (one key, derived from the schema); its silence is pg_stat_activity's state_change,
// on the server's clock.
type OutboxSession struct {
	conn   *pgx.Conn
	schema string
	key    int64
}

// Schema is the session's current_schema().
func (s *OutboxSession) Schema() string { return s.schema }

// TryLock tries the publisher lock.
func (s *OutboxSession) TryLock(ctx context.Context) (bool, error) {
	var got bool
	err := s.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, s.key).Scan(&got)
	return got, err
}

// FenceStalled terminates the lock's holder if it has been idle for silence:
// pg_terminate_backend waits until the backend has exited, which ends its lock and any
// statement it was running.
func (s *OutboxSession) FenceStalled(ctx context.Context, silence time.Duration) ([]int32, error) {
	// The CTE is materialised so that pg_terminate_backend sees only the holder,
	// never a row the planner would have filtered out later.
	rows, err := s.conn.Query(ctx, `WITH stalled AS MATERIALIZED (
		SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND ((l.classid::int8 << 32) | l.objid::int8) = $1 AND a.pid <> pg_backend_pid()
		AND a.state_change < clock_timestamp() - make_interval(secs => $2))
		SELECT pid FROM stalled WHERE pg_terminate_backend(pid, $3)`,
		s.key, silence.Seconds(), max(silence.Milliseconds(), 1))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int32])
}

// holdsLock is a query that yields a row while this session holds the advisory lock $1.
const holdsLock = `SELECT 1 FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory' AND granted
	AND objsubid = 1 AND ((classid::int8 << 32) | objid::int8) = $1`

// HoldsLock looks the publisher lock up in pg_locks.
func (s *OutboxSession) HoldsLock(ctx context.Context) (bool, error) {
	var held bool
	err := s.conn.QueryRow(ctx, `SELECT EXISTS (`+holdsLock+`)`, s.key).Scan(&held)
	return held, err
}

// Listen listens on the schema's outbox channel.
func (s *OutboxSession) Listen(ctx context.Context) error {
	_, err := s.conn.Exec(ctx, "LISTEN "+pgx.Identifier{videoforge.OutboxChannel(s.schema)}.Sanitize())
	return err
}

// WaitForNotification waits for a notification on the session.
func (s *OutboxSession) WaitForNotification(ctx context.Context, d time.Duration) (bool, error) {
	wctx, cancel := context.WithTimeout(ctx, d)
	_, err := s.conn.WaitForNotification(wctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if wctx.Err() != nil {
			return false, nil
		}
		return false, err
	}
	done, stop := context.WithCancel(context.Background())
	stop()
	for {
		// With a finished context only notifications already buffered are returned.
		if n, _ := s.conn.WaitForNotification(done); n == nil {
			return true, nil
		}
	}
}

// Unpublished reads unpublished rows in id order.
func (s *OutboxSession) Unpublished(ctx context.Context, limit int) ([]videoforge.OutboxRow, error) {
	rows, err := s.conn.Query(ctx, `SELECT id, event_id::text, subject, video_id, version, payload, created_at,
		coalesce(trace_context, '') FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(cr pgx.CollectableRow) (videoforge.OutboxRow, error) {
		var x videoforge.OutboxRow
		err := cr.Scan(&x.ID, &x.EventID, &x.Subject, &x.VideoID, &x.Version, &x.Payload, &x.CreatedAt, &x.TraceParent)
		return x, err
	})
}

// MarkPublished marks rows published in an UPDATE that checks the session still holds
// the publisher lock.
func (s *OutboxSession) MarkPublished(ctx context.Context, ids []int64) error {
	_, err := s.conn.Exec(ctx, `UPDATE outbox SET published_at = now() WHERE id = ANY($2) AND published_at IS NULL
		AND EXISTS (`+holdsLock+`)`, s.key, ids)
	return err
}

// Close closes the connection, waiting at most a second for the server.
func (s *OutboxSession) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.conn.Close(ctx)
}

// outboxLockKey is the advisory lock that elects one relay per schema.
func outboxLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("videoforge.relay." + schema))
	return int64(h.Sum64() >> 1)
}
