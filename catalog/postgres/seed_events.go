package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/layout"
)

// DefaultSeedBatch is the most videos one transaction of SeedCatalog writes, and
// DefaultSeedHold how long it aims to hold other writers of videos.
const (
	DefaultSeedBatch = 10_000
	DefaultSeedHold  = time.Second
)

// The first transaction of a seed writes at most seedFirstBatch videos, and none fewer
// than seedMinBatch (but the last).
const (
	seedFirstBatch = 1_000
	seedMinBatch   = 100
)

// SeedOptions tune SeedCatalog. The zero value gives the defaults shown on each field.
type SeedOptions struct {
	// Batch is the most videos, with their events, one transaction writes
	// (DefaultSeedBatch).
	Batch int
	// Hold is how long a transaction should take (DefaultSeedHold): other writers of
	// videos wait for it, and the catalog's statements time out (DB_STATEMENT_TIMEOUT,
	// 10 s), so each transaction is sized from the rate of the one before.
	Hold time.Duration
	// Progress, when not nil, is called after each commit with the number of videos
	// written so far.
	Progress func(done int)
}

// Seeded is what SeedCatalog wrote.
type Seeded struct {
	Videos          int
	FirstID, LastID int64 // the smallest and the largest id given to a video
	// LastEvent is the outbox id of the last event written: the relay has published
	// every event of the seed once no outbox row up to it is unpublished
	// (UnpublishedEvents).
	LastEvent int64
}

// seedColumns are the columns of videos SeedCatalog copies; the table's defaults give
// the rest (version 1, token generation 0, a share key, a complete ladder).
var seedColumns = []string{"id", "user_id", "title", "description", "s3_key", "visibility", "status", "duration",
	"resolution", "video_codec", "audio_codec", "file_size", "thumbnail_url", "views", "created_at", "updated_at"}

// SeedCatalog adds n videos, video(0) to video(n-1), to a catalog that may be serving,
// the way the store adds one, only in bulk: every video gets its created event in the
// outbox in the same transaction, so that the relay publishes it and edges apply it;
// indexes and constraints stay as they are. It writes up to opts.Batch videos per
// transaction, as many as take about opts.Hold at the rate of the transaction before,
// each with two COPYs (videos, then outbox) on one connection of its own, and stops at
// the first error, keeping the transactions committed before it. At the end it
// vacuums and analyses videos.
//
// video_counts gets each transaction's counts in one statement, with the per-row
// counting trigger disabled inside that transaction only: the trigger updates the
// same few counters once per row, which piles up row versions in one transaction and
// made a batch several times slower. Disabling it takes a SHARE ROW EXCLUSIVE lock on
// videos until the commit: readers (listings, edges) go on, while other writers of
// videos (uploads, edits, view flushes) wait for one transaction, about opts.Hold. It
// needs the tables' owner, which the catalog's user is when it migrated them.
//
// Of each video it stores the user, title, description, s3_key, visibility, status,
// probe results, thumbnail URL, views and created_at (the time of the write when
// zero). An empty S3Key becomes the video's folder (layout.VideoPrefix), where a
// transcoded video's objects are, although nothing is stored there. The database
// assigns the id (from the table's sequence), share key and version; updated_at is
// the time of the write whatever video(i) says, so that an edge's reconcile, which
// rereads what changed since its last pass, finds the videos even if their events
// are lost. Renditions are not stored.
func SeedCatalog(ctx context.Context, cfg Config, n int, video func(i int) videoforge.Video, opts SeedOptions) (Seeded, error) {
	var out Seeded
	if n < 1 {
		return out, videoforge.Errorf(videoforge.EINVALID, "seed at least one video, not %d", n)
	}
	batch, hold := opts.Batch, opts.Hold
	if batch <= 0 {
		batch = DefaultSeedBatch
	}
	if hold <= 0 {
		hold = DefaultSeedHold
	}
	conn, err := seedConn(ctx, cfg, map[string]string{"application_name": "videoforge-seed"})
	if err != nil {
		return out, err
	}
	defer conn.Close(context.Background())
	var seq string
	if err := conn.QueryRow(ctx, `SELECT pg_get_serial_sequence('videos', 'id')`).Scan(&seq); err != nil {
		return out, fmt.Errorf("postgres: seed: find the videos' sequence (are the migrations applied?): %w", err)
	}
	size := min(batch, seedFirstBatch)
	for done := 0; done < n; {
		k := min(size, n-done)
		start := time.Now()
		first, last, event, err := seedBatch(ctx, conn, seq, done, k, video)
		if err != nil {
			return out, fmt.Errorf("postgres: seed videos %d to %d: %w", done+1, done+k, err)
		}
		took := max(time.Since(start), time.Millisecond)
		size = int(min(max(float64(k)*hold.Seconds()/took.Seconds(), seedMinBatch), float64(batch)))
		if out.FirstID == 0 {
			out.FirstID = first
		}
		out.FirstID, out.LastID, out.LastEvent = min(out.FirstID, first), max(out.LastID, last), event
		done += k
		out.Videos = done
		if opts.Progress != nil {
			opts.Progress(done)
		}
	}
	// As autovacuum would, only at once: the planner learns the new rows, the
	// visibility map covers them for index-only scans, and search's GIN index takes
	// in its pending list. VACUUM blocks neither readers nor writers.
	if _, err := conn.Exec(ctx, `VACUUM (ANALYZE) videos`); err != nil {
		return out, fmt.Errorf("postgres: seed: vacuum videos: %w", err)
	}
	return out, nil
}

// seedBatch writes videos from to from+k-1 and their events in one transaction, and
// returns the first and last video id and the last event's outbox id.
func seedBatch(ctx context.Context, conn *pgx.Conn, seq string, from, k int, video func(i int) videoforge.Video) (first, last, event int64, err error) {
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// The counting trigger is off in this transaction only: the lock this takes
		// (SHARE ROW EXCLUSIVE) lets readers go on and holds other writers of videos
		// until the commit, so none of their rows goes uncounted; it is taken first,
		// before this transaction holds anything another could wait for.
		if _, err := tx.Exec(ctx, `ALTER TABLE videos DISABLE TRIGGER videos_count`); err != nil {
			return fmt.Errorf("disable the counting trigger (the tables' owner may): %w", err)
		}
		// now() is the transaction's start, the same time the columns' defaults take.
		var now time.Time
		if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
			return err
		}
		now = now.UTC()
		rows, err := tx.Query(ctx, `SELECT nextval($1::regclass) FROM generate_series(1, $2)`, seq, k)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		if len(ids) != k {
			return fmt.Errorf("%d ids from the sequence, want %d", len(ids), k)
		}
		first, last = ids[0], ids[k-1]
		events := make([][]any, 0, k)
		counts := map[counter]int64{}
		i := 0
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"videos"}, seedColumns, pgx.CopyFromFunc(func() ([]any, error) {
			if i == k {
				return nil, nil
			}
			v := video(from + i)
			v.ID, v.Version, v.UpdatedAt, v.LadderComplete, v.TokenGen = ids[i], 1, now, true, 0
			i++
			if v.CreatedAt.IsZero() {
				v.CreatedAt = now
			}
			if v.S3Key == "" {
				v.S3Key = layout.VideoPrefix(v.ID)
			}
			row, err := seedEvent(&v, now)
			if err != nil {
				return nil, err
			}
			events = append(events, row)
			counts[counter{user: v.UserID, vis: string(v.Visibility), status: string(v.Status)}]++
			counts[counter{shard: int16(v.ID % 16), vis: string(v.Visibility), status: string(v.Status)}]++
			return []any{v.ID, v.UserID, v.Title, deref(v.Description), v.S3Key, string(v.Visibility), string(v.Status),
				deref(v.Duration), deref(v.Resolution), deref(v.VideoCodec), deref(v.AudioCodec), deref(v.FileSize),
				deref(v.ThumbnailURL), v.Views, v.CreatedAt, v.UpdatedAt}, nil
		}))
		if err != nil {
			return fmt.Errorf("copy videos: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"outbox"}, []string{"event_id", "subject", "video_id", "version", "payload"},
			pgx.CopyFromRows(events)); err != nil {
			return fmt.Errorf("copy events: %w", err)
		}
		if err := addCounts(ctx, tx, counts); err != nil {
			return fmt.Errorf("count videos: %w", err)
		}
		if _, err := tx.Exec(ctx, `ALTER TABLE videos ENABLE TRIGGER videos_count`); err != nil {
			return fmt.Errorf("enable the counting trigger: %w", err)
		}
		// The events' outbox ids were taken from the outbox's sequence, in this
		// session, as the rows were copied: currval is the last.
		if err := tx.QueryRow(ctx, `SELECT currval(pg_get_serial_sequence('outbox', 'id'))`).Scan(&event); err != nil {
			return fmt.Errorf("find the last event: %w", err)
		}
		return nil
	})
	return first, last, event, err
}

// counter is a row of video_counts: an owner's (shard 0), or a shard of the totals
// (user "").
type counter struct {
	user        string
	shard       int16
	vis, status string
}

// addCounts adds counts to video_counts in one statement, its rows in key order (the
// database's) as the trigger writes them, so that it cannot deadlock with a
// concurrent trigger.
func addCounts(ctx context.Context, tx pgx.Tx, counts map[counter]int64) error {
	var users, vis, status []string
	var shards []int16
	var ns []int64
	for k, n := range counts {
		users, shards, vis, status, ns = append(users, k.user), append(shards, k.shard), append(vis, k.vis), append(status, k.status), append(ns, n)
	}
	_, err := tx.Exec(ctx, `INSERT INTO video_counts AS c (user_id, shard, visibility, status, n)
		SELECT * FROM unnest($1::varchar[], $2::int2[], $3::varchar[], $4::varchar[], $5::int8[]) ORDER BY 1, 2, 3, 4
		ON CONFLICT (user_id, shard, visibility, status) DO UPDATE SET n = c.n + EXCLUDED.n`, users, shards, vis, status, ns)
	return err
}

// seedEvent is the outbox row of v's created event, as writeEvent writes it.
func seedEvent(v *videoforge.Video, at time.Time) ([]any, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("event id: %w", err)
	}
	ev := videoforge.Event{ID: id.String(), Type: videoforge.EventCreated, OccurredAt: at, Version: v.Version,
		Video: videoforge.EventVideoOf(videoforge.EventCreated, v)}
	payload, err := json.Marshal(&ev)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	return []any{id, ev.Subject(), v.ID, v.Version, payload}, nil
}

// UnpublishedEvents returns how many outbox rows up to the id upTo (Seeded.LastEvent)
// the relay has not published yet, for a seed that waits for its events.
func UnpublishedEvents(ctx context.Context, cfg Config, upTo int64) (int64, error) {
	conn, err := seedConn(ctx, cfg, map[string]string{"application_name": "videoforge-seed"})
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int64
	err = conn.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE published_at IS NULL AND id <= $1`, upTo).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: count unpublished events: %w", err)
	}
	return n, nil
}
