package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
)

func TestMain(m *testing.M) {
	pgtest.Main(m, func(ctx context.Context, dsn string) error {
		return schema.Migrate(ctx, dsn, schema.DefaultSchema)
	})
}

func open(t *testing.T) (*postgres.DB, *postgres.VideoService) {
	t.Helper()
	db, err := postgres.Open(context.Background(), postgres.Config{URL: pgtest.NewDatabase(t), Schema: schema.DefaultSchema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db, postgres.NewVideoService(db)
}

type outboxRow struct {
	Subject string
	Version int64
	Event   videoforge.Event
}

func outbox(t *testing.T, db *postgres.DB, videoID int64) []outboxRow {
	t.Helper()
	rows, err := db.Pool().Query(context.Background(),
		`SELECT subject, version, payload FROM outbox WHERE video_id = $1 ORDER BY id`, videoID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		var payload []byte
		if err := rows.Scan(&r.Subject, &r.Version, &payload); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(payload, &r.Event); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func newVideo(user string) *videoforge.Video {
	return &videoforge.Video{UserID: user, Title: "t", Visibility: videoforge.Public, Status: videoforge.StatusReady, S3Key: "videos/k",
		Renditions: []videoforge.Rendition{{Name: "720p", Width: 1280, Height: 720, Bandwidth: 2800000, Playlist: "videos/k/hls/720p/index.m3u8"}}}
}

func TestOutboxOneEventPerChange(t *testing.T) {
	db, s := open(t)
	ctx := context.Background()
	v := newVideo("alice")
	if err := s.CreateVideo(ctx, v); err != nil {
		t.Fatal(err)
	}
	title := "renamed"
	if _, err := s.UpdateVideo(ctx, v.ID, "alice", videoforge.VideoUpdate{Title: &title}); err != nil {
		t.Fatal(err)
	}
	// Refused changes write nothing.
	if _, err := s.UpdateVideo(ctx, v.ID, "bob", videoforge.VideoUpdate{Title: &title}); videoforge.ErrorCode(err) != videoforge.EFORBIDDEN {
		t.Fatalf("other user's update: %v", err)
	}
	if err := s.DeleteVideo(ctx, v.ID, "bob"); videoforge.ErrorCode(err) != videoforge.EFORBIDDEN {
		t.Fatalf("other user's delete: %v", err)
	}
	if err := s.DeleteVideo(ctx, v.ID, "alice"); err != nil {
		t.Fatal(err)
	}

	rows := outbox(t, db, v.ID)
	var types []string
	for i, r := range rows {
		types = append(types, r.Event.Type)
		if r.Version != int64(i+1) || r.Event.Version != r.Version {
			t.Errorf("event %d has version %d/%d", i, r.Version, r.Event.Version)
		}
		if r.Subject != fmt.Sprintf("videoforge.catalog.video.%d.%s", v.ID, r.Event.Type) {
			t.Errorf("subject %s", r.Subject)
		}
		if r.Event.ID == "" || r.Event.OccurredAt.IsZero() || r.Event.Video == nil || r.Event.Video.ID != v.ID {
			t.Errorf("event %+v", r.Event)
		}
		if r.Event.Type == videoforge.EventDeleted {
			// A delete says which video and when, nothing of what it was.
			got := *r.Event.Video
			got.Renditions = nil
			if want := (videoforge.EventVideo{ID: v.ID, Trimmed: true}); !reflect.DeepEqual(got, want) || len(r.Event.Video.Renditions) > 0 {
				t.Errorf("deleted event carries %+v", r.Event.Video)
			}
		} else if len(r.Event.Video.Renditions) != 1 || r.Event.Video.Renditions[0].Name != "720p" {
			t.Errorf("event %s lacks the renditions: %+v", r.Event.Type, r.Event.Video.Renditions)
		}
	}
	if !slices.Equal(types, []string{"created", "updated", "deleted"}) {
		t.Errorf("events %v", types)
	}
	if rows[1].Event.Video.Title != "renamed" {
		t.Errorf("updated event carries %q", rows[1].Event.Video.Title)
	}
}

// TestConcurrentUpdates: many writers on one video lose no update and the version
// grows by exactly one per change, each with its own event.
func TestConcurrentUpdates(t *testing.T) {
	db, s := open(t)
	ctx := context.Background()
	v := newVideo("alice")
	if err := s.CreateVideo(ctx, v); err != nil {
		t.Fatal(err)
	}
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			title := fmt.Sprint("title ", i)
			if _, err := s.UpdateVideo(ctx, v.ID, "alice", videoforge.VideoUpdate{Title: &title}); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.FindVideoByID(ctx, v.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != n+1 {
		t.Errorf("version %d after %d updates, want %d", got.Version, n, n+1)
	}
	rows := outbox(t, db, v.ID)
	if len(rows) != n+1 {
		t.Fatalf("%d outbox rows, want %d", len(rows), n+1)
	}
	seen := map[string]bool{}
	for i, r := range rows {
		if r.Version != int64(i+1) {
			t.Errorf("outbox row %d has version %d", i, r.Version)
		}
		seen[r.Event.Video.Title] = true
	}
	if len(seen) != n+1 { // "t" and the n distinct titles: every update was applied
		t.Errorf("%d distinct titles in events, want %d", len(seen), n+1)
	}
	if last := rows[n].Event.Video.Title; last != got.Title {
		t.Errorf("last event says %q, row says %q", last, got.Title)
	}
}

func TestFindErrors(t *testing.T) {
	_, s := open(t)
	ctx := context.Background()
	if _, err := s.FindVideoByID(ctx, 12345, ""); videoforge.ErrorCode(err) != videoforge.ENOTFOUND {
		t.Errorf("unknown id: %v", err)
	}
	if _, err := s.UpdateVideo(ctx, 12345, "a", videoforge.VideoUpdate{}); videoforge.ErrorCode(err) != videoforge.ENOTFOUND {
		t.Errorf("update unknown: %v", err)
	}
	if err := s.DeleteVideo(ctx, 12345, "a"); videoforge.ErrorCode(err) != videoforge.ENOTFOUND {
		t.Errorf("delete unknown: %v", err)
	}
	bad := newVideo("")
	if err := s.CreateVideo(ctx, bad); videoforge.ErrorCode(err) != videoforge.EINVALID {
		t.Errorf("video without owner: %v", err)
	}
}

// FuzzSearch runs any search text through the real query: it must never fail other
// than by calling the text invalid.
func FuzzSearch(f *testing.F) {
	for _, s := range []string{"", "a", `"x y"`, "-a", "a OR b", `'`, `\`, `%_`, "日本", "(", "!", "a & b", ":*", "\x00", "\xff"} {
		f.Add(s)
	}
	db, err := postgres.Open(context.Background(), postgres.Config{URL: pgtest.NewDatabase(f), Schema: schema.DefaultSchema})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(db.Close)
	s := postgres.NewVideoService(db)
	if err := s.CreateVideo(context.Background(), newVideo("alice")); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		_, _, err := s.FindVideos(context.Background(), videoforge.VideoFilter{Search: q, Limit: 5, Viewer: "alice"})
		if err != nil && videoforge.ErrorCode(err) != videoforge.EINVALID {
			t.Fatalf("search %q: %v", q, err)
		}
	})
}

// TestCountersMatchRows: after concurrent creates, visibility changes and deletes the
// counters behind pagination totals equal a real count, per owner and in total.
func TestCountersMatchRows(t *testing.T) {
	db, s := open(t)
	ctx := context.Background()
	visibilities := []videoforge.Visibility{videoforge.Public, videoforge.Unlisted, videoforge.Private}
	statuses := []videoforge.Status{videoforge.StatusReady, videoforge.StatusProcessing}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 12; i++ {
				user := fmt.Sprint("user", (w+i)%3)
				v := newVideo(user)
				v.Visibility = visibilities[(w*7+i)%3]
				v.Status = statuses[(w+i)%2]
				if err := s.CreateVideo(ctx, v); err != nil {
					errs <- err
					return
				}
				vis := visibilities[(w+i*5)%3]
				if _, err := s.UpdateVideo(ctx, v.ID, user, videoforge.VideoUpdate{Visibility: &vis}); err != nil {
					errs <- err
					return
				}
				if i%4 == 0 {
					if err := s.DeleteVideo(ctx, v.ID, user); err != nil {
						errs <- err
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var mismatches int
	err := db.Pool().QueryRow(ctx, `
		WITH real AS (
			SELECT user_id, visibility, status, count(*) AS n FROM videos GROUP BY 1, 2, 3
			UNION ALL
			SELECT '', visibility, status, count(*) FROM videos GROUP BY 2, 3),
		kept AS (
			SELECT user_id, visibility, status, sum(n) AS n FROM video_counts GROUP BY 1, 2, 3 HAVING sum(n) <> 0)
		SELECT count(*) FROM real FULL JOIN kept USING (user_id, visibility, status)
		WHERE real.n IS DISTINCT FROM kept.n`).Scan(&mismatches)
	if err != nil {
		t.Fatal(err)
	}
	if mismatches != 0 {
		t.Errorf("%d counters differ from the rows", mismatches)
	}
	for _, f := range []videoforge.VideoFilter{{Limit: 1}, {Limit: 1, Viewer: "user1"}, {Limit: 1, UserID: "user2"},
		{Limit: 1, Viewer: "user0", UserID: "user0"}} {
		_, total, err := s.FindVideos(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		f.Limit = 1000
		all, _, err := s.FindVideos(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if total != len(all) {
			t.Errorf("filter %+v: total %d, %d videos", f, total, len(all))
		}
	}
}

// TestNarrowingRevokes: every narrowing of a video's access (public → unlisted →
// private) starts a new token generation and records a revocation for the verifiers
// outside PostgreSQL; widening does neither; a delete revokes every token. Events of
// videos that are not public carry only id, visibility, status, generation and version.
func TestNarrowingRevokes(t *testing.T) {
	db, s := open(t)
	ctx := context.Background()
	v := newVideo("alice")
	plot := "the plot"
	v.Description = &plot
	if err := s.CreateVideo(ctx, v); err != nil {
		t.Fatal(err)
	}
	if len(v.ShareKey) != 22 {
		t.Fatalf("share key %q: want 22 base64url characters (128 bits)", v.ShareKey)
	}
	type revocation struct {
		gen     int64
		deleted bool
	}
	revoked := func() *revocation {
		t.Helper()
		var r revocation
		err := db.Pool().QueryRow(ctx, `SELECT token_gen, deleted FROM revocations WHERE video_id = $1`, v.ID).Scan(&r.gen, &r.deleted)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return &r
	}
	steps := []struct {
		to      videoforge.Visibility
		gen     int64
		revoked *revocation
	}{
		{videoforge.Private, 1, &revocation{gen: 1}},  // public → private narrows
		{videoforge.Unlisted, 1, &revocation{gen: 1}}, // widens: nothing revoked
		{videoforge.Public, 1, &revocation{gen: 1}},
		{videoforge.Unlisted, 2, &revocation{gen: 2}},
		{videoforge.Unlisted, 2, &revocation{gen: 2}}, // unchanged
		{videoforge.Private, 3, &revocation{gen: 3}},
	}
	for i, st := range steps {
		vis := st.to
		got, err := s.UpdateVideo(ctx, v.ID, "alice", videoforge.VideoUpdate{Visibility: &vis})
		if err != nil {
			t.Fatal(err)
		}
		if got.TokenGen != st.gen {
			t.Errorf("step %d (to %s): generation %d, want %d", i, vis, got.TokenGen, st.gen)
		}
		if r := revoked(); r == nil || *r != *st.revoked {
			t.Errorf("step %d (to %s): revocation %+v, want %+v", i, vis, r, st.revoked)
		}
		rows := outbox(t, db, v.ID)
		ev := rows[len(rows)-1].Event.Video
		if vis == videoforge.Public {
			if !ev.Trimmed && ev.Title == "t" && ev.UserID == "alice" && len(ev.Renditions) == 1 {
				continue
			}
			t.Errorf("step %d: a public video's event %+v: want it whole", i, ev)
			continue
		}
		want := videoforge.EventVideo{ID: v.ID, Visibility: vis, Status: videoforge.StatusReady, TokenGen: st.gen,
			UpdatedAt: ev.UpdatedAt, Trimmed: true}
		body := *ev
		body.Renditions = nil
		if !reflect.DeepEqual(body, want) || len(ev.Renditions) > 0 || ev.UpdatedAt.IsZero() {
			t.Errorf("step %d: the event of a %s video carries %+v, want only %+v", i, vis, ev, want)
		}
	}
	if err := s.DeleteVideo(ctx, v.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if r := revoked(); r == nil || *r != (revocation{gen: 4, deleted: true}) {
		t.Errorf("after the delete: revocation %+v, want every token (generation 4) revoked", r)
	}
	// Another user learns nothing of a video that is not public: not found, as a
	// missing one, for an unlisted video as for a private one.
	u := newVideo("alice")
	u.Visibility = videoforge.Unlisted
	if err := s.CreateVideo(ctx, u); err != nil {
		t.Fatal(err)
	}
	title := "mine now"
	if _, err := s.UpdateVideo(ctx, u.ID, "bob", videoforge.VideoUpdate{Title: &title}); videoforge.ErrorCode(err) != videoforge.ENOTFOUND {
		t.Errorf("bob updating alice's unlisted video: %v, want not found", err)
	}
	if err := s.DeleteVideo(ctx, u.ID, "bob"); videoforge.ErrorCode(err) != videoforge.ENOTFOUND {
		t.Errorf("bob deleting alice's unlisted video: %v, want not found", err)
	}
}
