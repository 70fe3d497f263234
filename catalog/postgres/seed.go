package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/layout"
)

// Seeding: filling a freshly migrated catalog with synthetic videos in bulk, for the
// benchmarks. Each function opens one connection of its own to cfg's database.

// seedConn connects to cfg's database with cfg's schema first in the search path and
// the given extra settings.
func seedConn(ctx context.Context, cfg Config, params map[string]string) (*pgx.Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pc, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse config: %w", err)
	}
	pc.RuntimeParams["search_path"] = cfg.Schema
	for k, v := range params {
		pc.RuntimeParams[k] = v
	}
	conn, err := pgx.ConnectConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return conn, nil
}

// SeedVideos adds n videos, video(0) to video(n-1), to an empty videos table the way a
// large import is done: it drops the table's secondary indexes, copies the rows in
// (COPY), builds the indexes again (search_postings' too), fills video_counts in one pass instead of by the
// trigger once per row, then vacuums and analyses. Of each video it stores the user,
// title, description, s3_key, visibility, status, probe results, views and times; the
// database assigns the rest (id, share key, version, …).
func SeedVideos(ctx context.Context, cfg Config, n int, video func(i int) videoforge.Video) error {
	conn, err := seedConn(ctx, cfg, map[string]string{"maintenance_work_mem": "512MB"})
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())

	// The secondary indexes of videos, and every index of search_postings (which the
	// insert trigger fills with some ten postings per video in the same statement),
	// are built again after the copy: one sort each instead of ten million inserts
	// into btrees. A primary key is dropped and added back as its constraint.
	rows, err := conn.Query(ctx, `SELECT i.indexname, c.conname, coalesce(pg_get_constraintdef(c.oid), i.indexdef), i.tablename
		FROM pg_indexes i
		LEFT JOIN pg_constraint c ON c.conname = i.indexname AND c.connamespace = current_schema()::regnamespace AND c.contype = 'p'
		WHERE i.schemaname = current_schema()
			AND (i.tablename = 'videos' AND i.indexname <> 'videos_pkey' OR i.tablename = 'search_postings')`)
	if err != nil {
		return fmt.Errorf("postgres: list indexes: %w", err)
	}
	type index struct {
		name, constraint, def, table string
	}
	indexes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
		var i index
		var con *string
		if err := r.Scan(&i.name, &con, &i.def, &i.table); err != nil {
			return i, err
		}
		if con != nil {
			i.constraint = *con
		}
		return i, nil
	})
	if err != nil {
		return fmt.Errorf("postgres: list indexes: %w", err)
	}
	for _, ix := range indexes {
		drop := "DROP INDEX " + pgx.Identifier{ix.name}.Sanitize()
		if ix.constraint != "" {
			drop = "ALTER TABLE " + pgx.Identifier{ix.table}.Sanitize() + " DROP CONSTRAINT " + pgx.Identifier{ix.constraint}.Sanitize()
		}
		if _, err := conn.Exec(ctx, drop); err != nil {
			return fmt.Errorf("postgres: drop index %s: %w", ix.name, err)
		}
	}

	// The counters are filled in one pass after the copy, as the migration does, instead
	// of by the trigger once per row.
	// So are the search postings: once the catalog's commonest lexemes are known and
	// have their slots (common.go), so that every posting carries them from the start.
	if _, err := conn.Exec(ctx, "ALTER TABLE videos DISABLE TRIGGER videos_count, DISABLE TRIGGER search_postings_add"); err != nil {
		return fmt.Errorf("postgres: disable trigger: %w", err)
	}
	i := 0
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"videos"},
		[]string{"user_id", "title", "description", "s3_key", "visibility", "status", "duration", "resolution",
			"video_codec", "audio_codec", "file_size", "views", "created_at", "updated_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i >= n {
				return nil, nil
			}
			v := video(i)
			i++
			return []any{v.UserID, v.Title, deref(v.Description), v.S3Key, string(v.Visibility), string(v.Status),
				deref(v.Duration), deref(v.Resolution), deref(v.VideoCodec), deref(v.AudioCodec), deref(v.FileSize),
				v.Views, v.CreatedAt, v.UpdatedAt}, nil
		}))
	if err != nil {
		return fmt.Errorf("postgres: copy videos: %w", err)
	}
	if err := seedPostings(ctx, conn); err != nil {
		return err
	}
	for _, ix := range indexes {
		create := ix.def
		if ix.constraint != "" {
			create = "ALTER TABLE " + pgx.Identifier{ix.table}.Sanitize() + " ADD CONSTRAINT " + pgx.Identifier{ix.constraint}.Sanitize() + " " + ix.def
		}
		if _, err := conn.Exec(ctx, create); err != nil {
			return fmt.Errorf("postgres: create index %s: %w", ix.name, err)
		}
	}
	_, err = conn.Exec(ctx, `TRUNCATE video_counts;
		INSERT INTO video_counts (user_id, shard, visibility, status, n)
		SELECT user_id, 0, visibility, status, count(*) FROM videos GROUP BY 1, 3, 4
		UNION ALL
		SELECT '', (id % 16)::smallint, visibility, status, count(*) FROM videos GROUP BY 2, 3, 4;
		ALTER TABLE videos ENABLE TRIGGER videos_count, ENABLE TRIGGER search_postings_add`)
	if err != nil {
		return fmt.Errorf("postgres: count videos: %w", err)
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE videos"); err != nil {
		return fmt.Errorf("postgres: vacuum videos: %w", err)
	}
	return nil
}

// seedPostings fills search_postings for the videos just copied in: it gives the free
// slots of search_common to the commonest lexemes of the listed videos (commonPostings
// videos or more each), then writes every posting, commonBatch videos a statement, with
// their levels, and marks the slots ready.
func seedPostings(ctx context.Context, conn *pgx.Conn) error {
	rows, err := conn.Query(ctx, `SELECT x.lexeme FROM videos v, unnest(v.search) AS x
		WHERE v.visibility = 'public' AND v.status = 'ready'
			AND NOT EXISTS (SELECT 1 FROM search_common c WHERE c.lexeme = x.lexeme COLLATE "C")
		GROUP BY x.lexeme HAVING count(*) >= $1 ORDER BY count(*) DESC, x.lexeme LIMIT $2`, commonPostings, commonSlots)
	if err != nil {
		return fmt.Errorf("postgres: common lexemes: %w", err)
	}
	common, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("postgres: common lexemes: %w", err)
	}
	if len(common) > 0 {
		if err := addCommon(ctx, conn, common, false); err != nil {
			return err
		}
	}
	if err := videoBatches(ctx, conn, `INSERT INTO search_postings (video_id, lexeme, impact, common_lo, common_hi)
		SELECT * FROM search_postings_of(ARRAY(SELECT id FROM videos WHERE id > $1 AND id <= $2))`); err != nil {
		return fmt.Errorf("postgres: search postings: %w", err)
	}
	if _, err := conn.Exec(ctx, `UPDATE search_common SET ready = true WHERE NOT ready`); err != nil {
		return fmt.Errorf("postgres: search common: %w", err)
	}
	return nil
}

// deref is *p, or nil (NULL) for a nil p.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// SeedLadders gives every ready video a three-rung ladder (1080p, 720p, 480p), as the
// transcoder would, then vacuums and analyses the renditions.
func SeedLadders(ctx context.Context, cfg Config) error {
	conn, err := seedConn(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, `INSERT INTO renditions (video_id, name, width, height, bandwidth, playlist)
		SELECT v.id, r.name, r.w, r.h, r.bw, '`+layout.VideosFolder+`' || v.id || '/`+layout.HLSDir+`/' || r.name || '/`+layout.VariantIndex+`'
		FROM videos v, (VALUES ('1080p', 1920, 1080, 5000000), ('720p', 1280, 720, 2800000), ('480p', 854, 480, 1400000)) r(name, w, h, bw)
		WHERE v.status = 'ready'`)
	if err != nil {
		return fmt.Errorf("postgres: seed renditions: %w", err)
	}
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE renditions`); err != nil {
		return fmt.Errorf("postgres: vacuum renditions: %w", err)
	}
	return nil
}

// FirstPublicVideo returns the id of the ready public video with the smallest id.
func FirstPublicVideo(ctx context.Context, cfg Config) (int64, error) {
	conn, err := seedConn(ctx, cfg, nil)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var id int64
	if err := conn.QueryRow(ctx, `SELECT id FROM videos WHERE visibility = 'public' AND status = 'ready' ORDER BY id LIMIT 1`).Scan(&id); err != nil {
		return 0, translate("first public video", err)
	}
	return id, nil
}
