package postgres

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
)

func TestWithinOneEdit(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"video", "video", true},
		{"video", "vidoe", true},  // swapped
		{"video", "vidfo", true},  // changed
		{"video", "vdeo", true},   // removed
		{"video", "videos", true}, // added at the end
		{"video", "xvideo", true}, // added at the start
		{"video", "vdieo", true},
		{"video", "oedivv", false},
		{"video", "vixeoo", false},
		{"video", "vi", false},
		{"pasta", "patsa", true},
		{"pasta", "ptasa", false},
		{"café", "cafe", true},
		{"", "a", true},
		{"", "ab", false},
	} {
		if got := withinOneEdit(c.a, c.b); got != c.want {
			t.Errorf("withinOneEdit(%q, %q) = %v", c.a, c.b, got)
		}
		if got := withinOneEdit(c.b, c.a); got != c.want {
			t.Errorf("withinOneEdit(%q, %q) = %v", c.b, c.a, got)
		}
	}
}

func TestSplitSearch(t *testing.T) {
	for _, c := range []struct {
		in     string
		tokens []string
		plain  []bool
		ok     bool
	}{
		{"vide", []string{"vide"}, []bool{true}, true},
		{`learn "exact phrase" -not word`, []string{"learn", `"exact phrase"`, "-not", "word"}, []bool{true, false, false, true}, true},
		{`a"b c"d`, []string{"a", `"b c"`, "d"}, []bool{true, false, true}, true},
		{`"unbalanced words`, []string{`"unbalanced words`}, []bool{false}, true},
		{"cats OR dogs", []string{"cats", "OR", "dogs"}, []bool{true, true, true}, false},
		{"e-mail café 日本語", []string{"e-mail", "café", "日本語"}, []bool{false, true, true}, true},
		{"  \t ", nil, nil, true},
	} {
		toks, ok := splitSearch(c.in)
		var texts []string
		var plain []bool
		for _, tk := range toks {
			texts, plain = append(texts, tk.text), append(plain, tk.plain)
		}
		if !slices.Equal(texts, c.tokens) || !slices.Equal(plain, c.plain) || ok != c.ok {
			t.Errorf("splitSearch(%q) = %q %v %v, want %q %v %v", c.in, texts, plain, ok, c.tokens, c.plain, c.ok)
		}
	}
}

func FuzzSplitSearch(f *testing.F) {
	f.Add(`a "b c" -d or e`)
	f.Fuzz(func(t *testing.T, s string) {
		toks, _ := splitSearch(s)
		for _, tk := range toks {
			if tk.text == "" {
				t.Fatalf("empty token from %q", s)
			}
		}
	})
}

// TestSearchRankRare: a rare word and a common one whose best postings are other videos
// are not settled by the threshold round; rankRare ranks them from the rare word's
// postings, exactly, with the exact count; when every word is common it declines.
func TestSearchRankRare(t *testing.T) {
	ctx := context.Background()
	db, s := openSearch(t, pgtest.NewDatabase(t))
	if _, err := db.pool.Exec(ctx, `INSERT INTO videos (user_id, title, description, s3_key, visibility, status)
		SELECT 'u', CASE WHEN i = 1 THEN 'sobava sobava common common'
			WHEN i > 19000 THEN 'common common ' || i
			WHEN i % 50 = 0 THEN 'sobava common ' || i
			ELSE 'common ' || i END, 'kelu', 'k', 'public', 'ready'
		FROM generate_series(1, 20000) AS i ORDER BY i`); err != nil {
		t.Fatal(err)
	}
	var first, second int64
	if err := db.pool.QueryRow(ctx, `SELECT min(id), max(id) FILTER (WHERE title LIKE 'sobava common %') FROM videos`).Scan(&first, &second); err != nil {
		t.Fatal(err)
	}
	groups := [][]string{{"common"}, {"sobava"}}
	// rankMerge's first round (256 postings per word) cannot settle them: its tenth
	// best scores 2, below the 3 an unread video may still score.
	rounds := 0
	if _, ok, err := s.rankMerge(ctx, groups, nil, 10, func() (bool, error) { rounds++; return true, nil }); err != nil || ok || rounds != 1 {
		t.Fatalf("the first round settles the search (%v, %v): the test tests nothing", ok, err)
	}
	top, count, counted, ok, err := s.rankRare(ctx, groups, 10)
	if err != nil || !ok || !counted {
		t.Fatalf("rankRare: ok %v counted %v err %v", ok, counted, err)
	}
	if count != 381 { // i = 1, and 50, 100, … 19000
		t.Errorf("count %d, want 381", count)
	}
	if len(top) != 10 || top[0].id != first || top[0].score != 4 || top[1].id != second || top[1].score != 2 {
		t.Errorf("top %v, want %d (score 4) then %d (score 2)", top, first, second)
	}
	for i := 1; i < len(top); i++ {
		if !top[i-1].before(top[i]) {
			t.Errorf("top out of order at %d: %v", i, top)
		}
	}
	// The ranked path as a whole answers the same, counted exactly.
	got, total, exact, ok, _, err := s.rankListed(ctx, groups, 10)
	if err != nil || !ok || !exact || total != 381 || !slices.Equal(got, top) {
		t.Errorf("rankListed: %v total %d exact %v ok %v err %v", got, total, exact, ok, err)
	}
	// Every word common: rankRare declines (the SQL path takes over).
	if _, _, _, ok, err := s.rankRare(ctx, [][]string{{"common"}, {"kelu"}}, 10); err != nil || ok {
		t.Errorf("two common words: ok %v err %v, want declined", ok, err)
	}
}

// TestSearchRankRounds: two common words whose best levels share no video are settled
// by a later round of rankMerge (four times the postings of the one before), not
// handed to the SQL path, and rank as a score of every row does.
func TestSearchRankRounds(t *testing.T) {
	ctx := context.Background()
	db, s := openSearch(t, pgtest.NewDatabase(t))
	s.joinBound = -1 // never the join: its lists are small enough for it
	// 3 000 videos with 'alpha' twice in the title, then 3 000 with 'beta' twice, then
	// 100 with both once, then 5 900 with both in the description only.
	if _, err := db.pool.Exec(ctx, `INSERT INTO videos (user_id, title, description, s3_key, visibility, status)
		SELECT 'u', CASE WHEN i <= 3000 THEN 'alpha alpha ' || i
			WHEN i <= 6000 THEN 'beta beta ' || i
			WHEN i <= 6100 THEN 'alpha beta ' || i
			ELSE 'video ' || i END,
			CASE WHEN i > 6100 THEN 'alpha beta' ELSE 'plain' END, 'k', 'public', 'ready'
		FROM generate_series(1, 12000) AS i ORDER BY i`); err != nil {
		t.Fatal(err)
	}
	groups := [][]string{{"alpha"}, {"beta"}}
	const k = 10
	rounds := 0
	if _, ok, err := s.rankMerge(ctx, groups, nil, k, func() (bool, error) { rounds++; return true, nil }); err != nil || ok || rounds != 1 {
		t.Fatalf("the first round settles the search (%v, %v): the test tests nothing", ok, err)
	}
	if _, _, _, ok, err := s.rankRare(ctx, groups, k); err != nil || ok {
		t.Fatalf("rankRare takes two common words (%v, %v): the test tests nothing", ok, err)
	}
	got, _, _, ok, rareTried, err := s.rankListed(ctx, groups, k)
	if err != nil || !ok || !rareTried {
		t.Fatalf("rankListed: ok %v rareTried %v err %v, want settled by a later round", ok, rareTried, err)
	}
	want := scoreEvery(t, db, groups, k)
	if len(want) != k || want[0].score != 2 || !slices.Equal(got, want) {
		t.Errorf("rankListed: %v\nwant %v (the videos with both words in the title, newest first)", got, want)
	}
	// The listing answers them.
	videos, total, estimated, err := s.FindVideosEstimated(ctx, videoforge.VideoFilter{Search: "alpha beta", Limit: k})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range videos {
		if v.ID != want[i].id {
			t.Fatalf("FindVideos: video %d is %d, want %d", i, v.ID, want[i].id)
		}
	}
	// Both words are in 6 000 videos or more: the total is counted when the planner
	// expects fewer than severalUnder matches (as before the table is analysed), else it
	// is the planner's estimate, and says so.
	if len(videos) != k || estimated || total != 6000 {
		t.Errorf("FindVideos: %d videos, total %d (estimated %v); want %d and exactly 6 000", len(videos), total, estimated, k)
	}
	if _, err := db.pool.Exec(ctx, "ANALYZE videos"); err != nil {
		t.Fatal(err)
	}
	if _, total, estimated, err = s.FindVideosEstimated(ctx, videoforge.VideoFilter{Search: "alpha beta", Limit: k}); err != nil {
		t.Fatal(err)
	}
	if !estimated || total < severalUnder {
		t.Errorf("FindVideos after ANALYZE: total %d (estimated %v); want an estimate of 6 000", total, estimated)
	}
}

// TestSearchRankMerge: over a catalog of Zipf-distributed words, rankMerge's page for
// searches of two and three words, some of them prefixes standing for several lexemes,
// is the page a score of every listed row gives, at several page ends.
func TestSearchRankMerge(t *testing.T) {
	ctx := context.Background()
	db, s := openSearch(t, pgtest.NewDatabase(t))
	// Words w0…w39 (w1 begins w10…w19) drawn by a Zipf law: titles of 2 to 5 words,
	// descriptions of 3 to 10, so that impacts spread over every level.
	if _, err := db.pool.Exec(ctx, `SELECT setseed(0.25);
		INSERT INTO videos (user_id, title, description, s3_key, visibility, status)
		SELECT 'u', array_to_string(w[v * 15 + 1 : v * 15 + 2 + v % 4], ' '),
			array_to_string(w[v * 15 + 6 : v * 15 + 8 + v % 8], ' '),
			'k', CASE WHEN v % 10 = 0 THEN 'private' ELSE 'public' END, 'ready'
		FROM (SELECT array_agg('w' || floor(40 * power(random(), 2.5))::int) AS w FROM generate_series(1, 120000)) AS words,
			generate_series(0, 7000) AS v`); err != nil {
		t.Fatal(err)
	}
	searches := [][][]string{
		{{"w0"}, {"w2"}}, {{"w0"}, {"w1"}}, {{"w3"}, {"w7"}}, {{"w5"}, {"w30"}}, {{"w0"}, {"w39"}},
		{{"w2"}, {"w1", "w10", "w11", "w12", "w13", "w14", "w15", "w16", "w17", "w18", "w19"}},
		{{"w0"}, {"w2"}, {"w4"}}, {{"w6"}, {"w9"}, {"w20"}}, {{"w8"}, {"w8"}},
		// A prefix of rare words after a common word.
		{{"w0"}, {"w30", "w33", "w36"}}, {{"w3"}, {"w31", "w35"}},
	}
	settledSome, rareSome := false, false
	for _, groups := range searches {
		for _, k := range []int{1, 10, 24, 100, 1000} {
			// rankRare, when a word is rare, ranks the same page (its parts merged).
			if top, n, _, ok, err := s.rankRare(ctx, groups, k); err != nil {
				t.Fatal(err)
			} else if ok {
				rareSome = true
				if want := scoreEvery(t, db, groups, k); !slices.Equal(top, want) {
					t.Errorf("rankRare %v, k %d:\ngot  %v\nwant %v", groups, k, top[:min(len(top), 12)], want[:min(len(want), 12)])
				}
				if all := scoreEvery(t, db, groups, 1<<20); n != len(all) {
					t.Errorf("rankRare %v: count %d, want %d", groups, n, len(all))
				}
			}
			got, ok, err := s.rankMerge(ctx, groups, nil, k, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				continue // not settled within maxMergeRead: the SQL path answers
			}
			settledSome = true
			if want := scoreEvery(t, db, groups, k); !slices.Equal(got, want) {
				t.Errorf("%v, k %d:\ngot  %v\nwant %v", groups, k, got[:min(len(got), 12)], want[:min(len(want), 12)])
			}
		}
	}
	if !settledSome || !rareSome {
		t.Errorf("rankMerge settled a search: %v, rankRare ranked one: %v; the test tests nothing otherwise", settledSome, rareSome)
	}
	// A word given twice matches what it matches once.
	_, once, onceEst, err := s.FindVideosEstimated(ctx, videoforge.VideoFilter{Search: "w8", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	_, twice, twiceEst, err := s.FindVideosEstimated(ctx, videoforge.VideoFilter{Search: "w8 w8", Limit: 10})
	if err != nil || twice != once || twiceEst != onceEst {
		t.Errorf("w8 w8: total %d (estimated %v, %v), want w8's %d (%v)", twice, twiceEst, err, once, onceEst)
	}
}

// TestSearchUnderParallelPlans: with the planner choosing parallel plans wherever it can
// (as it does for large tables), a search of several words still answers, and the
// estimates of its words' postings are the whole table's, not one worker's share.
func TestSearchUnderParallelPlans(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query() // pgx sends the parameters it does not know as the session's settings
	for _, p := range []string{"parallel_setup_cost", "parallel_tuple_cost", "min_parallel_table_scan_size", "min_parallel_index_scan_size"} {
		q.Set(p, "0")
	}
	u.RawQuery = q.Encode()
	db, s := openSearch(t, u.String())
	if _, err := db.pool.Exec(ctx, `INSERT INTO videos (user_id, title, description, s3_key, visibility, status)
		SELECT 'u', CASE WHEN i % 2 = 0 THEN 'video music ' || i ELSE 'video ' || i END, 'plain', 'k', 'public', 'ready'
		FROM generate_series(1, 6000) AS i;
		ANALYZE search_postings`); err != nil {
		t.Fatal(err)
	}
	var plan string
	if err := db.pool.QueryRow(ctx, `EXPLAIN SELECT 1 FROM search_postings WHERE lexeme = ANY('{video}'::text[])
		UNION ALL SELECT 1 FROM search_postings WHERE lexeme = ANY('{music}'::text[])`).Scan(&plan); err != nil || !strings.Contains(plan, "Gather") {
		t.Fatalf("the plan is not parallel (%q, %v): the test tests nothing", plan, err)
	}
	ests, err := s.groupEstimates(ctx, [][]string{{"video"}, {"music"}})
	if err != nil {
		t.Fatal(err)
	}
	if ests[0] < 5000 || ests[0] > 7000 || ests[1] < 2500 || ests[1] > 3500 {
		t.Errorf("estimates %v, want about 6 000 and 3 000", ests)
	}
	videos, total, estimated, err := s.FindVideosEstimated(ctx, videoforge.VideoFilter{Search: "video music", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(videos) != 10 || total != 3000 || estimated {
		t.Errorf("video music: %d videos, total %d (estimated %v); want 10 and exactly 3 000", len(videos), total, estimated)
	}
}

// openSearch opens the catalog at dsn for a search test.
func openSearch(t *testing.T, dsn string) (*DB, *VideoService) {
	db, err := Open(context.Background(), Config{URL: dsn, Schema: schema.DefaultSchema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db, NewVideoService(db)
}

// scoreEvery is the truth the ranked path must give: every listed row matching groups,
// scored by scoreSQL, the best k, ties newest first.
func scoreEvery(t *testing.T, db *DB, groups [][]string, k int) []scored {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	sp := searchPlan{groups: groups}
	q, _ := sp.lexemeQuery()
	rows, err := db.pool.Query(context.Background(), "SELECT id, "+sp.scoreSQL(arg)+" AS score FROM videos WHERE "+listed+
		" AND search @@ "+arg(q)+"::tsquery ORDER BY score DESC, id DESC LIMIT "+strconv.Itoa(k), args...)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (scored, error) {
		var x scored
		return x, r.Scan(&x.id, &x.score)
	})
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// TestSearchRankJoin: over a catalog of Zipf-distributed words, the join of whole
// posting lists (rankJoin) and the threshold rounds with the common words' levels read
// from the postings (after RefreshSearchCommon gave them slots) rank as a score of every
// listed row does, and the join counts exactly. The levels every posting carries stay
// true through inserts, updates and deletes after the fill.
func TestSearchRankJoin(t *testing.T) {
	ctx := context.Background()
	db, s := openSearch(t, pgtest.NewDatabase(t))
	if _, err := db.pool.Exec(ctx, `SELECT setseed(0.5);
		INSERT INTO videos (user_id, title, description, s3_key, visibility, status)
		SELECT 'u', array_to_string(w[v * 15 + 1 : v * 15 + 2 + v % 4], ' '),
			array_to_string(w[v * 15 + 6 : v * 15 + 8 + v % 8], ' '),
			'k', CASE WHEN v % 10 = 0 THEN 'private' ELSE 'public' END, 'ready'
		FROM (SELECT array_agg('w' || floor(40 * power(random(), 2.5))::int) AS w FROM generate_series(1, 90000)) AS words,
			generate_series(0, 5000) AS v;
		ANALYZE search_postings`); err != nil {
		t.Fatal(err)
	}
	searches := [][][]string{
		{{"w0"}, {"w2"}}, {{"w3"}, {"w7"}}, {{"w5"}, {"w30"}}, {{"w0"}, {"w39"}},
		{{"w2"}, {"w1", "w10", "w11", "w12", "w13", "w14", "w15", "w16", "w17", "w18", "w19"}},
		{{"w0"}, {"w2"}, {"w4"}}, {{"w6"}, {"w9"}, {"w20"}}, {{"w8"}, {"w8"}},
		// A prefix of rare words, the only group read once w0 and w3 have slots.
		{{"w0"}, {"w30", "w33", "w36"}}, {{"w3"}, {"w31", "w35"}},
	}
	check := func(when string) {
		t.Helper()
		for _, groups := range searches {
			all := scoreEvery(t, db, groups, 1<<20)
			for _, k := range []int{1, 10, 100} {
				got, n, counted, ok, _, err := s.rankListed(ctx, groups, k)
				if err != nil || !ok {
					t.Fatalf("%s %v: ok %v err %v", when, groups, ok, err)
				}
				if want := all[:min(k, len(all))]; !slices.Equal(got, want) {
					t.Errorf("%s %v, k %d:\ngot  %v\nwant %v", when, groups, k, got[:min(len(got), 12)], want[:min(len(want), 12)])
				}
				if counted && n != len(all) {
					t.Errorf("%s %v: count %d, want %d", when, groups, n, len(all))
				}
			}
		}
	}
	check("without slots (the join)")
	filled, err := refreshSearchCommon(ctx, db, 400)
	if err != nil {
		t.Fatal(err)
	}
	if len(filled) < 4 || !slices.Contains(filled, "w0") {
		t.Fatalf("slots given to %v, want w0 and the other common words", filled)
	}
	if again, err := refreshSearchCommon(ctx, db, 400); err != nil || len(again) != 0 {
		t.Errorf("a second refresh filled %v (%v), want nothing new", again, err)
	}
	levelsTrue := func(when string) {
		t.Helper()
		var wrong int
		if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM search_postings p, search_common c
			WHERE c.ready AND ((CASE WHEN c.slot < 15 THEN p.common_lo >> (4 * c.slot) ELSE p.common_hi >> (4 * (c.slot - 15)) END) & 15)
				<> coalesce((SELECT (x.impact * 4)::int FROM search_postings x WHERE x.video_id = p.video_id AND x.lexeme = c.lexeme), 0)`).Scan(&wrong); err != nil {
			t.Fatal(err)
		}
		if wrong > 0 {
			t.Errorf("%s: %d postings carry a wrong level of a common word", when, wrong)
		}
	}
	levelsTrue("after the fill")
	check("with slots")
	// What an operator's plans show is the statement that ranked the search: the join.
	page, _, err := s.ExplainFindVideos(ctx, videoforge.VideoFilter{Search: "w30 w33", Limit: 10})
	if err != nil || !strings.Contains(page, "CTE scored") || !strings.Contains(page, "search_postings_rank_idx") {
		t.Errorf("plans of a joined search (%v):\n%s", err, page)
	}
	s.joinBound = -1
	check("with slots, without the join (rankKnown when every word has a slot)")
	s.joinBound = 0
	if _, err := db.pool.Exec(ctx, `UPDATE videos SET title = 'w0 w0 w2 ' || id WHERE id % 7 = 0;
		UPDATE videos SET visibility = 'public' WHERE id % 20 = 0;
		DELETE FROM videos WHERE id % 11 = 0;
		INSERT INTO videos (user_id, title, description, s3_key, visibility, status)
		SELECT 'u', 'w0 w3 w39 ' || i, 'w2 w2', 'k', 'public', 'ready' FROM generate_series(1, 300) AS i`); err != nil {
		t.Fatal(err)
	}
	levelsTrue("after writes")
	check("after writes")
}

// TestSearchCommonWaitsForWriters: a fill that gives a slot while a writer's postings
// are still uncommitted (written without the slot, invisible to the fill's batches)
// waits for that writer, so that its postings are rewritten too.
func TestSearchCommonWaitsForWriters(t *testing.T) {
	ctx := context.Background()
	db, _ := openSearch(t, pgtest.NewDatabase(t))
	if _, err := db.pool.Exec(ctx, `INSERT INTO videos (user_id, title, description, s3_key, visibility, status)
		SELECT 'u', 'alpha ' || i, 'plain', 'k', 'public', 'ready' FROM generate_series(1, 600) AS i;
		ANALYZE search_postings`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO videos (user_id, title, description, s3_key, visibility, status)
		VALUES ('u', 'alpha alpha late', 'plain', 'k', 'public', 'ready') RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		filled, err := refreshSearchCommon(ctx, db, 400)
		if err == nil && !slices.Contains(filled, "alpha") {
			err = fmt.Errorf("filled %v, want alpha", filled)
		}
		done <- err
	}()
	// The fill waits for the writer's lock on search_postings.
	for waiting := false; !waiting; {
		if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE relation = 'search_postings'::regclass AND mode = 'ShareLock' AND NOT granted)`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("the fill ended (%v) while a writer was under way", err)
		default:
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var level int64
	if err := db.pool.QueryRow(ctx, `SELECT (CASE WHEN c.slot < 15 THEN p.common_lo >> (4 * c.slot) ELSE p.common_hi >> (4 * (c.slot - 15)) END) & 15
		FROM search_postings p, search_common c WHERE c.ready AND c.lexeme = 'alpha' AND p.video_id = $1 AND p.lexeme = 'late'`, id).Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != 8 { // alpha twice in the title: impact 2
		t.Errorf("the late writer's posting carries level %d of alpha, want 8", level)
	}
}
