package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The catalog's commonest lexemes, whose levels every posting carries
// (schema/migrations/00015_search_common.sql): a search of one of them and a rarer word
// reads the rarer word's postings only, each giving the video's exact score.
const (
	// commonSlots is the number of slots: 4 bits each in two bigints.
	commonSlots = 30
	// commonPostings is the number of postings from which a lexeme may take a slot:
	// below it, reading or joining its whole list costs a few milliseconds at most.
	commonPostings = 20_000
	// commonBatch is the number of videos whose postings a fill rewrites in one
	// statement.
	commonBatch = 20_000
)

// commonLevel is the SQL of the level (impact × 4, 0 when absent) of the lexeme in
// slot for the posting alias p.
func commonLevel(p string, slot int) string {
	if slot < 15 {
		return fmt.Sprintf("((%s.common_lo >> %d) & 15)", p, 4*slot)
	}
	return fmt.Sprintf("((%s.common_hi >> %d) & 15)", p, 4*(slot-15))
}

// commonValue is the impact of the lexeme in slot in a video whose postings carry the
// levels lo and hi: 0 when the video lacks it.
func commonValue(lo, hi int64, slot int) float64 {
	w := lo
	if slot >= 15 {
		w, slot = hi, slot-15
	}
	return float64((w>>(4*slot))&15) / 4
}

// RefreshSearchCommon gives the free slots of search_common to the commonest lexemes
// that have none, those with commonPostings postings or more by the planner's
// statistics of search_postings (ANALYZE, which autovacuum runs), and fills them:
// every posting is rewritten, commonBatch videos a statement, while the catalog goes on
// serving and writing. A fill that was cut off (a restart) is finished first. It
// returns the lexemes that became ready. One caller at a time fills (an advisory lock);
// another returns at once.
func RefreshSearchCommon(ctx context.Context, db *DB) ([]string, error) {
	return refreshSearchCommon(ctx, db, commonPostings)
}

// refreshSearchCommon is RefreshSearchCommon with minPostings in place of
// commonPostings (a test's small catalog).
func refreshSearchCommon(ctx context.Context, db *DB, minPostings int) ([]string, error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, translate("refresh search common", err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext(current_schema() || '.search_common'))`).Scan(&locked); err != nil {
		return nil, translate("refresh search common", err)
	}
	if !locked {
		return nil, nil
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext(current_schema() || '.search_common'))`)

	rows, err := conn.Query(ctx, `SELECT s.v FROM pg_class c
		JOIN pg_stats st ON st.schemaname = current_schema() AND st.tablename = 'search_postings' AND st.attname = 'lexeme'
		CROSS JOIN LATERAL unnest(st.most_common_vals::text::text[], st.most_common_freqs) AS s (v, f)
		WHERE c.oid = 'search_postings'::regclass AND s.f * c.reltuples >= $1
			AND NOT EXISTS (SELECT 1 FROM search_common x WHERE x.lexeme = s.v COLLATE "C")
		ORDER BY s.f DESC, s.v`, minPostings)
	if err != nil {
		return nil, translate("refresh search common", err)
	}
	candidates, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, translate("refresh search common", err)
	}
	if len(candidates) > 0 {
		if err := addCommon(ctx, conn.Conn(), candidates, true); err != nil {
			return nil, err
		}
	}
	var filling []string
	rows, err = conn.Query(ctx, `SELECT lexeme FROM search_common WHERE NOT ready ORDER BY slot`)
	if err != nil {
		return nil, translate("refresh search common", err)
	}
	if filling, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return nil, translate("refresh search common", err)
	}
	if len(filling) == 0 {
		return nil, nil
	}
	// Every posting written after the slots were added carries them; the ones before
	// are rewritten here, batch by batch of videos in id order.
	if err := videoBatches(ctx, conn.Conn(), `UPDATE search_postings p SET common_lo = r.common_lo, common_hi = r.common_hi
		FROM search_postings_of(ARRAY(SELECT id FROM videos WHERE id > $1 AND id <= $2)) AS r
		WHERE p.video_id = r.video_id AND p.lexeme = r.lexeme COLLATE "C"
			AND (p.common_lo <> r.common_lo OR p.common_hi <> r.common_hi)`); err != nil {
		return nil, translate("refresh search common", err)
	}
	if _, err := conn.Exec(ctx, `UPDATE search_common SET ready = true WHERE NOT ready`); err != nil {
		return nil, translate("refresh search common", err)
	}
	return filling, nil
}

// videoBatches runs sql, whose $1 and $2 bound an id range (above $1, up to $2), over
// every video, commonBatch videos a statement in id order.
func videoBatches(ctx context.Context, conn *pgx.Conn, sql string) error {
	var last int64
	for {
		var next *int64
		if err := conn.QueryRow(ctx, `SELECT max(id) FROM (SELECT id FROM videos WHERE id > $1 ORDER BY id LIMIT $2) AS b`,
			last, commonBatch).Scan(&next); err != nil {
			return err
		}
		if next == nil {
			return nil
		}
		if _, err := conn.Exec(ctx, sql, last, *next); err != nil {
			return err
		}
		last = *next
	}
}

// addCommon gives the free slots to the first lexemes, not ready. With hold, it holds
// the writers of search_postings off meanwhile (a SHARE lock, which waits for those
// under way), so that every posting written after it commits carries the new slots: a
// writer's trigger takes its statement's snapshot once it holds its lock.
func addCommon(ctx context.Context, conn *pgx.Conn, lexemes []string, hold bool) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return translate("add search common", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if hold {
		if _, err := tx.Exec(ctx, `LOCK TABLE search_postings IN SHARE MODE`); err != nil {
			return translate("add search common", err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO search_common (slot, lexeme)
		SELECT f.slot, l.lexeme
		FROM unnest($1::text[]) WITH ORDINALITY AS l (lexeme, i)
		JOIN (SELECT g.slot, row_number() OVER (ORDER BY g.slot) AS i FROM generate_series(0, $2 - 1) AS g (slot)
			WHERE NOT EXISTS (SELECT 1 FROM search_common c WHERE c.slot = g.slot)) AS f ON f.i = l.i`,
		lexemes, commonSlots); err != nil {
		return translate("add search common", err)
	}
	return translate("add search common", tx.Commit(ctx))
}
