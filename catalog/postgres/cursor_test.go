package postgres_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/videoforge/videoforge"
)

// TestCursorPlans: a page after a cursor starts where the cursor points, on an index
// whose condition is the cursor's bound, with no sequential scan and no rows read
// before it (no plan node yields more than a few pages' worth), near the start and
// deep in a table of 50 000 videos; the same depth by OFFSET reads every row before.
func TestCursorPlans(t *testing.T) {
	db, s := open(t)
	ctx := context.Background()
	_, err := db.Pool().Exec(ctx, `INSERT INTO videos (user_id, title, s3_key, visibility, status, created_at, views)
		SELECT 'user' || (i % 100), 'title ' || (i % 1000), 'k', CASE WHEN i % 10 = 7 THEN 'private' ELSE 'public' END, 'ready',
		       now() - make_interval(secs => i / 2), i % 5000
		FROM generate_series(1, 50000) AS i`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool().Exec(ctx, `ANALYZE videos`); err != nil {
		t.Fatal(err)
	}
	orders := map[string]string{
		"": "created_at DESC, id DESC", videoforge.SortNewest: "created_at DESC, id DESC", videoforge.SortOldest: "created_at, id",
		videoforge.SortTitle: "title, id", videoforge.SortViews: "views DESC, id DESC",
	}
	// maxRows is the most rows any node of a plan yields, over all its loops.
	maxRows := func(plan string) int {
		most := 0
		for _, m := range actualRows.FindAllStringSubmatch(plan, -1) {
			rows, _ := strconv.Atoi(m[1])
			loops, _ := strconv.Atoi(m[2])
			most = max(most, rows*loops)
		}
		return most
	}
	// One owner's videos have an index in the newest-first order only: in the other
	// orders a page of them reads all of that owner's videos (user7 has 500) and sorts
	// them, at any depth as on page 1.
	for _, c := range []struct {
		name    string
		f       videoforge.VideoFilter
		maxRows int
	}{
		{"Default", videoforge.VideoFilter{}, 200},
		{"Newest", videoforge.VideoFilter{Sort: videoforge.SortNewest}, 200},
		{"Oldest", videoforge.VideoFilter{Sort: videoforge.SortOldest}, 200},
		{"Title", videoforge.VideoFilter{Sort: videoforge.SortTitle}, 200},
		{"Views", videoforge.VideoFilter{Sort: videoforge.SortViews}, 200},
		{"OwnerNewest", videoforge.VideoFilter{Viewer: "user7", UserID: "user7"}, 200},
		{"SignedInNewest", videoforge.VideoFilter{Viewer: "user7"}, 200},
		{"OwnerViews", videoforge.VideoFilter{Viewer: "user7", UserID: "user7", Sort: videoforge.SortViews}, 500},
		{"SignedInViews", videoforge.VideoFilter{Viewer: "user7", Sort: videoforge.SortViews}, 500},
	} {
		for _, depth := range []int{100, 40000} {
			t.Run(fmt.Sprint(c.name, "/", depth), func(t *testing.T) {
				// The cursor names the listed video at this depth of the sort's order.
				var at videoforge.Video
				cond, offset := "visibility = 'public'", depth
				if c.f.UserID != "" {
					cond, offset = "user_id = 'user7'", min(depth, 400) // of their 500
				}
				err := db.Pool().QueryRow(ctx, `SELECT id, created_at, title, views FROM videos WHERE `+cond+`
					ORDER BY `+orders[c.f.Sort]+` OFFSET $1 LIMIT 1`, offset).
					Scan(&at.ID, &at.CreatedAt, &at.Title, &at.Views)
				if err != nil {
					t.Fatal(err)
				}
				f := c.f
				f.Cursor, f.Limit = &at, 11
				page, _, err := s.ExplainFindVideos(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(page, "Index Cond") || strings.Contains(page, "Seq Scan") || maxRows(page) > c.maxRows {
					t.Errorf("the page after the cursor does not start there on an index (a node yields %d rows):\n%s", maxRows(page), page)
				}
				videos, _, err := s.FindVideos(ctx, f)
				if err != nil || len(videos) != 11 {
					t.Fatalf("%d videos, %v", len(videos), err)
				}
			})
		}
	}
	// The same depth by OFFSET, for contrast: it reads every row before the page.
	page, _, err := s.ExplainFindVideos(ctx, videoforge.VideoFilter{Limit: 11, Offset: 40000})
	if err != nil {
		t.Fatal(err)
	}
	if maxRows(page) < 40000 {
		t.Errorf("OFFSET 40000 yields at most %d rows at a node: the plans' rows are misread\n%s", maxRows(page), page)
	}
}

var actualRows = regexp.MustCompile(`actual time=[0-9.]+\.\.[0-9.]+ rows=([0-9]+) loops=([0-9]+)`)

// TestCursorRelevance: a search ordered by relevance cannot be paged by cursor, since
// a video does not carry its rank: EINVALID, saying to give a sort.
func TestCursorRelevance(t *testing.T) {
	_, s := open(t)
	_, _, err := s.FindVideos(context.Background(), videoforge.VideoFilter{Search: "cats", Cursor: &videoforge.Video{ID: 1}, Limit: 10})
	if videoforge.ErrorCode(err) != videoforge.EINVALID || !strings.Contains(videoforge.ErrorMessage(err), "sort") {
		t.Errorf("got %v", err)
	}
	_, _, err = s.FindVideos(context.Background(), videoforge.VideoFilter{Search: "cats", Sort: videoforge.SortTitle,
		Cursor: &videoforge.Video{ID: 1, Title: "a"}, Limit: 10})
	if err != nil {
		t.Errorf("search by title after a cursor: %v", err)
	}
}
