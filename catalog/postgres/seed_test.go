package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
)

// TestSeed: SeedVideos stores every video, and its search postings, with the tables'
// indexes, primary keys, counters and trigger as they were; SeedLadders gives each
// ready video three renditions; FirstPublicVideo finds the ready public video with the smallest id.
func TestSeed(t *testing.T) {
	ctx := t.Context()
	cfg := postgres.Config{URL: pgtest.NewDatabase(t), Schema: schema.DefaultSchema}
	pc, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		t.Fatal(err)
	}
	pc.RuntimeParams["search_path"] = cfg.Schema
	conn, err := pgx.ConnectConfig(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	indexes := func() []string {
		rows, _ := conn.Query(ctx, `SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()
			AND tablename IN ('videos', 'search_postings') ORDER BY 1`)
		defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return defs
	}
	before := indexes()

	if _, err := postgres.FirstPublicVideo(ctx, cfg); videoforge.ErrorCode(err) != videoforge.ENOTFOUND {
		t.Errorf("FirstPublicVideo of an empty catalog: %v, want ENOTFOUND", err)
	}

	const n = 40
	statuses := []videoforge.Status{"uploaded", "ready"}
	visibilities := []videoforge.Visibility{"private", "public", "unlisted"}
	created := time.Now().Add(-time.Hour).Truncate(time.Microsecond)
	duration, codec := 12.5, "h264"
	if err := postgres.SeedVideos(ctx, cfg, n, func(i int) videoforge.Video {
		return videoforge.Video{UserID: fmt.Sprintf("user%d", i%3), Title: fmt.Sprintf("video %d", i),
			S3Key: fmt.Sprintf("videos/%d", i), Visibility: visibilities[i%3], Status: statuses[i%2],
			Duration: &duration, VideoCodec: &codec, Views: int64(i), CreatedAt: created, UpdatedAt: created}
	}); err != nil {
		t.Fatal(err)
	}

	if after := indexes(); !slices.Equal(after, before) {
		t.Errorf("indexes after seeding:\n%q\nwant\n%q", after, before)
	}
	var count, views, nulls int
	if err := conn.QueryRow(ctx, `SELECT count(*), sum(views), count(*) FILTER (WHERE description IS NULL AND resolution IS NULL AND duration = 12.5)
		FROM videos`).Scan(&count, &views, &nulls); err != nil {
		t.Fatal(err)
	}
	if count != n || views != n*(n-1)/2 || nulls != n {
		t.Errorf("videos: %d rows, %d views, %d with the NULLs and duration given; want %d, %d, %d", count, views, nulls, n, n*(n-1)/2, n)
	}
	// The postings the insert trigger wrote while search_postings had no index: one per
	// lexeme of each listed video, under its primary key again.
	var postings, lexemes int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM search_postings),
			(SELECT count(*) FROM videos, unnest(search) WHERE visibility = 'public' AND status = 'ready')`).Scan(&postings, &lexemes); err != nil {
		t.Fatal(err)
	}
	if postings != lexemes || lexemes == 0 {
		t.Errorf("search_postings: %d rows, want %d (one per lexeme of each listed video)", postings, lexemes)
	}
	var pkey string
	if err := conn.QueryRow(ctx, `SELECT pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = 'search_postings'::regclass AND contype = 'p'`).Scan(&pkey); err != nil || pkey != "PRIMARY KEY (video_id, lexeme) INCLUDE (impact)" {
		t.Errorf("search_postings' primary key: %q, %v", pkey, err)
	}
	var perUser, global int
	if err := conn.QueryRow(ctx, `SELECT coalesce(sum(n) FILTER (WHERE user_id <> ''), 0), coalesce(sum(n) FILTER (WHERE user_id = ''), 0)
		FROM video_counts`).Scan(&perUser, &global); err != nil {
		t.Fatal(err)
	}
	if perUser != n || global != n {
		t.Errorf("video_counts: %d per user and %d in the shards, want %d and %d", perUser, global, n, n)
	}
	var enabled string
	if err := conn.QueryRow(ctx, `SELECT tgenabled FROM pg_trigger WHERE tgname = 'videos_count' AND tgrelid = 'videos'::regclass`).Scan(&enabled); err != nil || enabled != "O" {
		t.Errorf("trigger videos_count: %q, %v; want it enabled (O)", enabled, err)
	}

	if err := postgres.SeedLadders(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	var rungs, ready int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM renditions), (SELECT count(*) FROM videos WHERE status = 'ready')`).Scan(&rungs, &ready); err != nil {
		t.Fatal(err)
	}
	if rungs != 3*ready || ready == 0 {
		t.Errorf("%d renditions for %d ready videos, want 3 each", rungs, ready)
	}

	var want int64
	if err := conn.QueryRow(ctx, `SELECT min(id) FROM videos WHERE visibility = 'public' AND status = 'ready'`).Scan(&want); err != nil {
		t.Fatal(err)
	}
	if got, err := postgres.FirstPublicVideo(ctx, cfg); err != nil || got != want {
		t.Errorf("FirstPublicVideo = %d, %v; want %d", got, err, want)
	}

	if err := postgres.SeedVideos(ctx, postgres.Config{URL: cfg.URL, Schema: "nosuchschema"}, 1, nil); err == nil {
		t.Error("SeedVideos into a schema that is not there: no error")
	}
}
