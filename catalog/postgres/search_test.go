package postgres_test

import (
	"context"
	"slices"
	"testing"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
)

// insertVideos adds n listed videos in one statement, i = 1 to n, the i-th created i
// seconds ago (1 is the newest), titled and described by the SQL expressions given
// (over i).
func insertVideos(t *testing.T, db *postgres.DB, n int, title, description string) {
	t.Helper()
	_, err := db.Pool().Exec(context.Background(), `INSERT INTO videos (user_id, title, description, s3_key, visibility, status, created_at)
		SELECT 'u' || (i % 7), `+title+`, `+description+`, 'k', 'public', 'ready', now() - make_interval(secs => i)
		FROM generate_series(1, $1::int) AS i`, n)
	if err != nil {
		t.Fatal(err)
	}
}

func find(t *testing.T, s *postgres.VideoService, f videoforge.VideoFilter) ([]*videoforge.Video, int, bool) {
	t.Helper()
	if f.Limit == 0 {
		f.Limit = 10
	}
	vs, total, estimated, err := s.FindVideosEstimated(context.Background(), f)
	if err != nil {
		t.Fatalf("%+v: %v", f, err)
	}
	return vs, total, estimated
}

func titlesOf(vs []*videoforge.Video) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.Title)
	}
	return out
}

// TestSearchRelevanceEveryMatch: the best match of a word found in 25 000 videos is
// first wherever it sits, here the oldest; pages go on in score order without
// repeats; the total is marked estimated above TotalBound; explicit sorts order every
// match; a signed-in viewer's own private match joins in its place.
func TestSearchRelevanceEveryMatch(t *testing.T) {
	db, s := open(t)
	ctx := context.Background()
	const n = 25_000 // more than the 2×TotalBound+1 postings a count reads
	insertVideos(t, db, n,
		`CASE WHEN i = 25000 THEN 'common common word' WHEN i % 1000 = 0 THEN 'common word twice common' ELSE 'common word ' || i END`,
		`CASE WHEN i = 25000 THEN 'common common common' ELSE 'filler' END`)

	page, total, estimated := find(t, s, videoforge.VideoFilter{Search: "common"})
	if len(page) != 10 || page[0].Title != "common common word" {
		t.Fatalf("best match %v, want the oldest video, which says it five times", titlesOf(page))
	}
	// Then the videos that say it twice in their title.
	if page[1].Title != "common word twice common" || page[9].Title != "common word twice common" {
		t.Errorf("next matches %v", titlesOf(page))
	}
	if !estimated || total <= postgres.TotalBound {
		t.Errorf("total %d estimated %v, want an estimate above %d", total, estimated, postgres.TotalBound)
	}
	// Pages walk on in the same order, each video once.
	seen := map[int64]bool{}
	for off := 0; off < 300; off += 30 {
		vs, _, _ := find(t, s, videoforge.VideoFilter{Search: "common", Limit: 30, Offset: off})
		if len(vs) != 30 {
			t.Fatalf("offset %d: %d videos", off, len(vs))
		}
		for _, v := range vs {
			if seen[v.ID] {
				t.Fatalf("offset %d: video %d again", off, v.ID)
			}
			seen[v.ID] = true
		}
	}
	// An explicit sort orders every match, not the first ones.
	oldest, _, _ := find(t, s, videoforge.VideoFilter{Search: "common", Sort: videoforge.SortOldest, Limit: 1})
	if len(oldest) != 1 || oldest[0].Title != "common common word" {
		t.Errorf("oldest match %v", titlesOf(oldest))
	}
	newest, _, _ := find(t, s, videoforge.VideoFilter{Search: "common", Sort: videoforge.SortNewest, Limit: 1})
	if len(newest) != 1 || newest[0].Title != "common word 1" {
		t.Errorf("newest match %v", titlesOf(newest))
	}
	// A signed-in viewer's private video that says it most comes first for them only.
	mine := newVideo("me")
	mine.Title, mine.Visibility = "common common common common", videoforge.Private
	d := "common common common"
	mine.Description = &d
	if err := s.CreateVideo(ctx, mine); err != nil {
		t.Fatal(err)
	}
	own, ownTotal, _ := find(t, s, videoforge.VideoFilter{Search: "common", Viewer: "me"})
	if own[0].ID != mine.ID || own[1].Title != "common common word" {
		t.Errorf("signed in: %v", titlesOf(own))
	}
	if ownTotal <= postgres.TotalBound {
		t.Errorf("signed in total %d", ownTotal)
	}
	if anon, _, _ := find(t, s, videoforge.VideoFilter{Search: "common", Viewer: "other"}); anon[0].ID == mine.ID {
		t.Error("another viewer sees the private video")
	}
}

// TestSearchTotals: a total up to TotalBound is exact and not marked, for one word, two
// words, a prefix, a phrase, a negation and with a signed-in viewer; above it a total
// is exact or marked estimated (TestSearchRelevanceEveryMatch has one that must be).
func TestSearchTotals(t *testing.T) {
	db, s := open(t)
	insertVideos(t, db, 12_000,
		`CASE WHEN i <= 3000 THEN 'alpha ' ELSE '' END || CASE WHEN i % 2 = 0 THEN 'bravo ' ELSE '' END || 'video ' || i`,
		`CASE WHEN i <= 10001 THEN 'many' ELSE 'rare' END`)
	for _, c := range []struct {
		search string
		want   int
	}{
		{"alpha", 3000},
		{"alpha bravo", 1500},
		{"bravo alpha", 1500},
		{"alph", 3000},  // the prefix of alpha
		{"bravo", 6000}, // exact below the bound
		{"rare", 1999},  // in descriptions
		{"alpha -bravo", 1500},
		{`"alpha bravo"`, 1500},
		{"nothingmatches", 0},
	} {
		_, total, estimated := find(t, s, videoforge.VideoFilter{Search: c.search})
		if total != c.want || estimated {
			t.Errorf("%q: total %d estimated %v, want %d exact", c.search, total, estimated, c.want)
		}
		_, total, estimated = find(t, s, videoforge.VideoFilter{Search: c.search, Viewer: "someone"})
		if total != c.want || estimated {
			t.Errorf("%q signed in: total %d estimated %v, want %d exact", c.search, total, estimated, c.want)
		}
	}
	// Above the bound a total is exact when the count could read every match, else
	// marked as an estimate.
	for _, c := range []struct {
		search string
		n      int
	}{{"many", 10_001}, {"video", 12_000}, {"many video", 10_001}, {"vide", 12_000}} {
		_, total, estimated := find(t, s, videoforge.VideoFilter{Search: c.search})
		if total <= postgres.TotalBound || (!estimated && total != c.n) {
			t.Errorf("%q: total %d estimated %v, want %d or an estimate above %d", c.search, total, estimated, c.n, postgres.TotalBound)
		}
	}
	// A listing without a search is exact at any size.
	if _, total, estimated := find(t, s, videoforge.VideoFilter{}); total != 12_000 || estimated {
		t.Errorf("listing: total %d estimated %v", total, estimated)
	}
}

// TestSearchPrefixAndTypo: the last word matches as a prefix; a word of five letters
// or more that no video has finds the word one typo away; shorter ones, quoted ones
// and negated ones are left alone.
func TestSearchPrefixAndTypo(t *testing.T) {
	_, s := open(t)
	ctx := context.Background()
	for _, title := range []string{"Learning video basics", "Videography for all", "Cooking pasta", "Pasta video night"} {
		v := newVideo("u")
		v.Title = title
		if err := s.CreateVideo(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	// A title edited later brings its words along.
	v := newVideo("u")
	v.Title = "placeholder"
	if err := s.CreateVideo(ctx, v); err != nil {
		t.Fatal(err)
	}
	title := "Gardening tomatoes"
	if _, err := s.UpdateVideo(ctx, v.ID, "u", videoforge.VideoUpdate{Title: &title}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		search string
		want   []string
	}{
		{"vide", []string{"Learning video basics", "Videography for all", "Pasta video night"}},
		{"video", []string{"Learning video basics", "Videography for all", "Pasta video night"}}, // a prefix too
		{"pasta vid", []string{"Pasta video night"}},
		{"vidoe", []string{"Learning video basics", "Pasta video night"}}, // swapped letters
		{"vidfo", []string{"Learning video basics", "Pasta video night"}}, // one changed
		{"pazta", []string{"Cooking pasta", "Pasta video night"}},         // one changed
		{"pastta night", []string{"Pasta video night"}},                   // one added, not last
		{"tomatos", []string{"Gardening tomatoes"}},                       // the edited title
		{"vdeo", []string{}},    // four letters: no typo fixed
		{`"vidoe"`, []string{}}, // quoted: as typed
		{"pasta -vidoe", []string{"Cooking pasta", "Pasta video night"}},   // negated: as typed
		{"pasta or vidoe", []string{"Cooking pasta", "Pasta video night"}}, // "or": as typed
		{"zzzzzz", []string{}},
	} {
		got, total, _ := find(t, s, videoforge.VideoFilter{Search: c.search})
		g := titlesOf(got)
		slices.Sort(g)
		w := slices.Clone(c.want)
		slices.Sort(w)
		if !slices.Equal(g, w) || total != len(w) {
			t.Errorf("%q: %v (total %d), want %v", c.search, titlesOf(got), total, c.want)
		}
	}
	// The title match of the prefix ranks first; an explicit sort orders the matches.
	if got, _, _ := find(t, s, videoforge.VideoFilter{Search: "vide", Sort: videoforge.SortTitle}); !slices.Equal(titlesOf(got),
		[]string{"Learning video basics", "Pasta video night", "Videography for all"}) {
		t.Errorf("vide by title: %v", titlesOf(got))
	}
}

// TestSearchFiltersAndSorts: with a search, every sort and filter of the listing
// returns exactly the matching videos it would return without ranking, in its order.
func TestSearchFiltersAndSorts(t *testing.T) {
	_, s := open(t)
	ctx := context.Background()
	type spec struct {
		user  string
		title string
		vis   videoforge.Visibility
		st    videoforge.Status
		views int64
	}
	specs := []spec{
		{"ann", "river boat trip", videoforge.Public, videoforge.StatusReady, 5},
		{"ann", "boat repair", videoforge.Unlisted, videoforge.StatusReady, 50},
		{"ann", "boat boat boat", videoforge.Private, videoforge.StatusProcessing, 1},
		{"bob", "river fishing boat", videoforge.Public, videoforge.StatusReady, 500},
		{"bob", "mountain walk", videoforge.Public, videoforge.StatusReady, 7},
		{"bob", "boat race", videoforge.Public, videoforge.StatusFailed, 9},
	}
	for _, sp := range specs {
		v := newVideo(sp.user)
		v.Title, v.Visibility, v.Status, v.Views = sp.title, sp.vis, sp.st, sp.views
		if err := s.CreateVideo(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	ready := videoforge.StatusReady
	for _, c := range []struct {
		f    videoforge.VideoFilter
		want []string
	}{
		{videoforge.VideoFilter{Search: "boat"}, []string{"river fishing boat", "river boat trip"}},
		// Equal scores go to the newer id.
		{videoforge.VideoFilter{Search: "boat", Viewer: "ann"}, []string{"boat boat boat", "river fishing boat", "boat repair", "river boat trip"}},
		{videoforge.VideoFilter{Search: "boat", Viewer: "ann", Status: &ready}, []string{"river fishing boat", "boat repair", "river boat trip"}},
		{videoforge.VideoFilter{Search: "boat", UserID: "bob"}, []string{"river fishing boat"}},
		{videoforge.VideoFilter{Search: "boat", UserID: "bob", Viewer: "bob"}, []string{"boat race", "river fishing boat"}},
		{videoforge.VideoFilter{Search: "boat", Sort: videoforge.SortViews}, []string{"river fishing boat", "river boat trip"}},
		{videoforge.VideoFilter{Search: "boat", Sort: videoforge.SortTitle, Viewer: "ann"}, []string{"boat boat boat", "boat repair", "river boat trip", "river fishing boat"}},
		{videoforge.VideoFilter{Search: "river boat"}, []string{"river fishing boat", "river boat trip"}},
		{videoforge.VideoFilter{Search: "boat", Offset: 1}, []string{"river boat trip"}},
	} {
		got, total, estimated := find(t, s, c.f)
		if !slices.Equal(titlesOf(got), c.want) || estimated {
			t.Errorf("%+v: %v (estimated %v), want %v", c.f, titlesOf(got), estimated, c.want)
		}
		if c.f.Offset == 0 && total != len(c.want) {
			t.Errorf("%+v: total %d, want %d", c.f, total, len(c.want))
		}
	}
	// Videos leave the search with their listing and their words.
	got, _, _ := find(t, s, videoforge.VideoFilter{Search: "fishing"})
	if len(got) != 1 {
		t.Fatalf("fishing: %v", titlesOf(got))
	}
	private := videoforge.Private
	if _, err := s.UpdateVideo(ctx, got[0].ID, "bob", videoforge.VideoUpdate{Visibility: &private}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := find(t, s, videoforge.VideoFilter{Search: "fishing"}); len(got) != 0 {
		t.Errorf("private video still found: %v", titlesOf(got))
	}
	public := videoforge.Public
	title := "lake swim"
	if _, err := s.UpdateVideo(ctx, got[0].ID, "bob", videoforge.VideoUpdate{Visibility: &public, Title: &title}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := find(t, s, videoforge.VideoFilter{Search: "swim"}); len(got) != 1 {
		t.Errorf("retitled video: %v", titlesOf(got))
	}
	if got, _, _ := find(t, s, videoforge.VideoFilter{Search: "fishing"}); len(got) != 0 {
		t.Errorf("old title still found: %v", titlesOf(got))
	}
	var id int64
	for _, v := range mustFind(t, s, "trip") {
		id = v.ID
	}
	if err := s.DeleteVideo(ctx, id, "ann"); err != nil {
		t.Fatal(err)
	}
	if got := mustFind(t, s, "trip"); len(got) != 0 {
		t.Errorf("deleted video found: %v", titlesOf(got))
	}
}

func mustFind(t *testing.T, s *postgres.VideoService, search string) []*videoforge.Video {
	t.Helper()
	vs, _, _ := find(t, s, videoforge.VideoFilter{Search: search})
	return vs
}

// TestSearchRareAndCommonWord: a search of a rare word (a few hundred videos) and a
// very common one (every video) that the threshold round cannot settle (the common
// word's best postings are videos without the rare word) is ranked and counted
// exactly from the rare word's postings: the best match, the oldest video, first,
// ties newest first, pages to the end, an exact total, also for a signed-in viewer.
func TestSearchRareAndCommonWord(t *testing.T) {
	db, s := open(t)
	const n = 30_000
	insertVideos(t, db, n,
		`CASE WHEN i = 30000 THEN 'sobava sobava common common'
			WHEN i <= 1000 THEN 'common common ' || i
			WHEN i % 100 = 50 THEN 'sobava common ' || i
			ELSE 'common ' || i END`,
		`'filler'`)
	const want = 291 // i = 1050, 1150, … 29950, and 30000
	for _, search := range []string{"sobava common", "common sobava"} {
		for _, viewer := range []string{"", "someone"} {
			page, total, estimated := find(t, s, videoforge.VideoFilter{Search: search, Viewer: viewer})
			if total != want || estimated {
				t.Errorf("%q (viewer %q): total %d estimated %v, want %d exact", search, viewer, total, estimated, want)
			}
			if len(page) != 10 || page[0].Title != "sobava sobava common common" {
				t.Fatalf("%q (viewer %q): %v, want the oldest video first", search, viewer, titlesOf(page))
			}
			// Then the ties at one mention of each word, the newest (the highest id) first.
			if page[1].Title != "sobava common 29950" || page[9].Title != "sobava common 29150" {
				t.Errorf("%q (viewer %q): next %v", search, viewer, titlesOf(page[1:]))
			}
		}
		last, total, estimated := find(t, s, videoforge.VideoFilter{Search: search, Offset: 280, Limit: 20})
		if len(last) != want-280 || last[len(last)-1].Title != "sobava common 1050" || total != want || estimated {
			t.Errorf("%q last page: %v, total %d estimated %v", search, titlesOf(last), total, estimated)
		}
	}
}
