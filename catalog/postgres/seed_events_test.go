package postgres_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/schema"
)

// TestSeedCatalog: SeedCatalog writes the videos beside one the store made, in
// transactions of Batch videos, each with one created event in the outbox that is the
// event writeEvent writes for the row as read back; video_counts stays right and its
// trigger enabled, and the table vacuumed and analysed; an
// empty S3Key becomes the video's folder; updated_at is the write's time; search finds
// the videos; transactions that take longer than Hold get smaller; nothing is written
// for n < 1.
func TestSeedCatalog(t *testing.T) {
	ctx := t.Context()
	db, vs := open(t)
	cfg := postgres.Config{URL: db.Pool().Config().ConnConfig.ConnString(), Schema: schema.DefaultSchema}
	before := &videoforge.Video{UserID: "user1", Title: "made by the store", S3Key: "uploads/1/source",
		Visibility: videoforge.Public, Status: videoforge.StatusReady}
	if err := vs.CreateVideo(ctx, before); err != nil {
		t.Fatal(err)
	}

	const n, batch = 2_500, 1_000
	created := time.Now().Add(-48 * time.Hour).Truncate(time.Millisecond).UTC()
	duration, res := 42.5, "1280x720"
	var progress []int
	start := time.Now()
	got, err := postgres.SeedCatalog(ctx, cfg, n, func(i int) videoforge.Video {
		desc := fmt.Sprintf("description of synthetic video %d", i)
		v := videoforge.Video{UserID: fmt.Sprintf("user%d", i%4+1), Title: fmt.Sprintf("Seeded harbour %d", i), Description: &desc,
			Visibility: videoforge.Public, Status: videoforge.StatusReady, Duration: &duration, Resolution: &res,
			Views: int64(i), CreatedAt: created.Add(time.Duration(i) * time.Second), UpdatedAt: created}
		if i == 7 {
			v.S3Key = "videos/elsewhere"
		}
		return v
	}, postgres.SeedOptions{Batch: batch, Hold: time.Hour, Progress: func(done int) { progress = append(progress, done) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d videos in %v", n, time.Since(start).Round(time.Millisecond))
	if fmt.Sprint(progress) != "[1000 2000 2500]" {
		t.Errorf("progress %v, want after each of 3 transactions", progress)
	}
	if got.Videos != n || got.FirstID <= before.ID || got.LastID-got.FirstID+1 != n {
		t.Errorf("seeded %+v, want %d ids after %d", got, n, before.ID)
	}

	// The rows, as the store reads them, against their events.
	pool := db.Pool()
	rows, err := pool.Query(ctx, `SELECT o.video_id, o.subject, o.version, o.payload::text, o.id, v.updated_at = o.created_at
		FROM outbox o JOIN videos v ON v.id = o.video_id WHERE o.video_id >= $1 ORDER BY o.id`, got.FirstID)
	if err != nil {
		t.Fatal(err)
	}
	events, lastEvent, sameTime := 0, int64(0), 0
	for rows.Next() {
		var id, version, outboxID int64
		var subject, payload string
		var same bool
		if err := rows.Scan(&id, &subject, &version, &payload, &outboxID, &same); err != nil {
			t.Fatal(err)
		}
		events++
		lastEvent = outboxID
		if same {
			sameTime++
		}
		if events%500 != 1 && id != got.FirstID+7 {
			continue // a sample of them, read back one by one
		}
		v, err := vs.FindVideoByID(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		var ev videoforge.Event
		if err := json.Unmarshal([]byte(payload), &ev); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(videoforge.EventVideoOf(videoforge.EventCreated, v))
		have, _ := json.Marshal(ev.Video)
		if string(have) != string(want) || ev.Type != videoforge.EventCreated || ev.Version != 1 || version != 1 ||
			subject != videoforge.CatalogSubject(id, videoforge.EventCreated) || !ev.OccurredAt.Equal(v.UpdatedAt) {
			t.Errorf("video %d: event %s on %s\nwant the video %s", id, payload, subject, want)
		}
		i := int(id - got.FirstID)
		switch {
		case i == 7 && v.S3Key != "videos/elsewhere", i != 7 && v.S3Key != layout.VideoPrefix(id):
			t.Errorf("video %d: s3_key %q", id, v.S3Key)
		case !v.CreatedAt.Equal(created.Add(time.Duration(i)*time.Second)) || v.UpdatedAt.Before(start.Add(-time.Minute)):
			t.Errorf("video %d: created %v, updated %v", id, v.CreatedAt, v.UpdatedAt)
		case v.ShareKey == "" || !v.LadderComplete || v.Views != int64(i):
			t.Errorf("video %d: %+v", id, v)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if events != n || lastEvent != got.LastEvent || sameTime != n {
		t.Errorf("%d events (the last %d, %d at their row's updated_at), want %d (the last %d)", events, lastEvent, sameTime, n, got.LastEvent)
	}
	if u, err := postgres.UnpublishedEvents(ctx, cfg, got.LastEvent); err != nil || u != n+1 {
		t.Errorf("unpublished: %d, %v; want %d", u, err, n+1)
	}

	// The counters, against the rows.
	var bad int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM (
		SELECT user_id, visibility, status, count(*) AS n FROM videos GROUP BY 1, 2, 3
		UNION ALL SELECT '', visibility, status, count(*) FROM videos GROUP BY 2, 3) want
		FULL JOIN (SELECT user_id, visibility, status, sum(n) AS n FROM video_counts GROUP BY 1, 2, 3 HAVING sum(n) <> 0) have
		USING (user_id, visibility, status) WHERE want.n IS DISTINCT FROM have.n`).Scan(&bad); err != nil || bad != 0 {
		t.Errorf("video_counts: %d counters wrong (%v)", bad, err)
	}
	list, total, err := vs.FindVideos(ctx, videoforge.VideoFilter{Search: "harbour", Limit: 5})
	if err != nil || total == 0 || len(list) == 0 || !strings.Contains(list[0].Title, "harbour") {
		t.Errorf("search harbour: %d of %d, %v", len(list), total, err)
	}
	if _, total, err = vs.FindVideos(ctx, videoforge.VideoFilter{Limit: 1}); err != nil || total != n+1 {
		t.Errorf("listing's total %d (%v), want %d", total, err, n+1)
	}

	var vacuumed bool
	if err := pool.QueryRow(ctx, `SELECT last_vacuum IS NOT NULL AND last_analyze IS NOT NULL FROM pg_stat_user_tables
		WHERE relid = 'videos'::regclass`).Scan(&vacuumed); err != nil || !vacuumed {
		t.Errorf("videos vacuumed and analysed: %v (%v)", vacuumed, err)
	}
	var enabled string
	if err := pool.QueryRow(ctx, `SELECT tgenabled FROM pg_trigger WHERE tgname = 'videos_count'`).Scan(&enabled); err != nil || enabled != "O" {
		t.Errorf("the counting trigger: %q (%v), want enabled (O)", enabled, err)
	}

	// Transactions that take longer than Hold get smaller, down to 100 videos.
	progress = nil
	if _, err := postgres.SeedCatalog(ctx, cfg, 1_300, func(i int) videoforge.Video {
		return videoforge.Video{UserID: "user9", Title: "short transactions", Visibility: videoforge.Public, Status: videoforge.StatusReady}
	}, postgres.SeedOptions{Hold: time.Nanosecond, Progress: func(done int) { progress = append(progress, done) }}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(progress) != "[1000 1100 1200 1300]" {
		t.Errorf("progress %v, want 1000 first, then 100 at a time", progress)
	}

	for _, k := range []int{0, -1} {
		if _, err := postgres.SeedCatalog(ctx, cfg, k, nil, postgres.SeedOptions{}); videoforge.ErrorCode(err) != videoforge.EINVALID {
			t.Errorf("seed %d: %v, want EINVALID", k, err)
		}
	}
}
