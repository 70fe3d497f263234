package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/videoforge/videoforge"
)

// rumDistance is RUM's distance operator, which lives with the extension in schema
// public (see schema/migrations/00010_search_rum.sql): the inverse of a ts_rank-like
// score over the positions and weights the index keeps.
const rumDistance = "OPERATOR(public.<=>)"

// orderBy returns the ORDER BY list for a sort inside one part and over the union of
// parts. A search without an explicit sort orders by relevance: RUM's distance,
// smallest first, which videos_search_rum_idx returns in order.
func orderBy(sort, tsq string) (inner, outer string) {
	switch sort {
	case videoforge.SortOldest:
		return "created_at, id", "created_at, id"
	case videoforge.SortTitle:
		return "title, id", "title, id"
	case videoforge.SortViews:
		return "views DESC, id DESC", "views DESC, id DESC"
	case "":
		if tsq != "" {
			return "search " + rumDistance + " " + tsq, "rank, id DESC"
		}
	}
	return "created_at DESC, id DESC", "created_at DESC, id DESC"
}

// searchPlan is a search as the listing runs it: the text left for
// websearch_to_tsquery and the terms the typo and prefix rewriting put in place of
// some of its words.
type searchPlan struct {
	text      string // websearch_to_tsquery's input, "" when no word is left for it
	extra     string // tsquery text ANDed to it, "" for none
	estimated bool   // estimate holds the planner's estimate of the listed matches
	estimate  int
	// groups, for a search of plain words only, holds the lexemes of each word (one,
	// or the first prefixLexemes a prefix begins) for the ranked path.
	groups [][]string
}

// tsquery returns the SQL of the search's tsquery, adding its values with arg.
func (sp *searchPlan) tsquery(arg func(any) string) string {
	switch {
	case sp.extra == "":
		return "websearch_to_tsquery('english', " + arg(sp.text) + ")"
	case sp.text == "":
		return arg(sp.extra) + "::tsquery"
	}
	return "(websearch_to_tsquery('english', " + arg(sp.text) + ") && " + arg(sp.extra) + "::tsquery)"
}

// lexemeQuery returns the tsquery text of sp's groups, each group's lexemes ORed and the
// groups ANDed: the same matches as sp.tsquery, but with a prefix spelled out as the
// lexemes it begins, whose frequencies the planner knows (it guesses a prefix's). ok
// is false when sp has no groups or a prefix stands for more lexemes than its group
// holds (prefixLexemes).
func (sp *searchPlan) lexemeQuery() (q string, ok bool) {
	if len(sp.groups) == 0 {
		return "", false
	}
	terms := make([]string, len(sp.groups))
	for i, g := range sp.groups {
		if len(g) >= prefixLexemes {
			return "", false
		}
		ls := make([]string, len(g))
		for j, l := range g {
			ls[j] = tsLexeme(l)
		}
		terms[i] = "(" + strings.Join(ls, " | ") + ")"
	}
	return strings.Join(terms, " & "), true
}

// countTsquery returns the SQL of the tsquery a ranked search is estimated and counted
// by: its lexemes spelled out (lexemeQuery) when they can be, else sp.tsquery.
func (sp *searchPlan) countTsquery(arg func(any) string) string {
	if q, ok := sp.lexemeQuery(); ok {
		return arg(q) + "::tsquery"
	}
	return sp.tsquery(arg)
}

// Typo and prefix rewriting.
const (
	// typoMinLen is the length, in letters, from which a word that is no lexeme of the
	// catalog is replaced by the nearest lexeme within one edit.
	typoMinLen = 5
	// prefixMinLen is the length from which the last word also matches the words it
	// begins ("vide" finds "video").
	prefixMinLen = 3
	// prefixLexemes is the number of lexemes a prefix stands for in the ranked path:
	// the first ones in byte order, which begin with the word itself when it is one.
	prefixLexemes = 64
	// maxGroups is the number of words up to which a search of plain words takes the
	// ranked path.
	maxGroups = 4
)

// searchToken is one token of a search as websearch_to_tsquery reads it: a word, a
// "quoted phrase", a -negated word, or "or".
type searchToken struct {
	text  string
	plain bool // a word of letters and digits only, outside quotes, not negated
}

// splitSearch cuts s into tokens. ok is false when s holds an "or", whose operands a
// rewrite could take apart: such a search is left as it is.
func splitSearch(s string) (tokens []searchToken, ok bool) {
	var cur strings.Builder
	flush := func() {
		if cur.Len() == 0 {
			return
		}
		t := cur.String()
		cur.Reset()
		plain := true
		for _, r := range t {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				plain = false
				break
			}
		}
		tokens = append(tokens, searchToken{text: t, plain: plain})
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '"':
			flush()
			j := i + 1
			for j < len(rs) && rs[j] != '"' {
				j++
			}
			end := min(j+1, len(rs))
			tokens = append(tokens, searchToken{text: string(rs[i:end])})
			i = j
		case unicode.IsSpace(r):
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	for _, t := range tokens {
		if strings.EqualFold(t.text, "or") {
			return tokens, false
		}
	}
	return tokens, true
}

// prepareSearch rewrites a search for typos and prefixes, in one round trip to the
// lexeme table (search_lexemes):
//   - the last word, when it is a plain word of prefixMinLen letters or more and some
//     lexeme begins with its stem, becomes that stem as a prefix (`'vide':*`), so that
//     "vide" finds "video";
//   - a plain word of typoMinLen letters or more whose stem is no lexeme of the catalog
//     becomes the nearest lexeme (by pg_trgm's distance) within one edit (a letter
//     changed, added, removed, or two swapped) of its stem or of the word itself.
//
// Words in quotes, negated words and searches with "or" are left as they are, as is
// any word the rewrite finds nothing for. A search made only of plain words (after
// the rewrite) also gets its groups, for the ranked path (see rankListed).
func (s *VideoService) prepareSearch(ctx context.Context, search string) (searchPlan, error) {
	tokens, ok := splitSearch(search)
	var words []string
	var typo, prefix []bool
	var at []int // the token of each word
	allPlain := ok && len(tokens) > 0
	if ok {
		for i, t := range tokens {
			if !t.plain {
				allPlain = false
				continue
			}
			n := utf8.RuneCountInString(t.text)
			words, at = append(words, t.text), append(at, i)
			typo = append(typo, n >= typoMinLen)
			prefix = append(prefix, i == len(tokens)-1 && n >= prefixMinLen)
		}
	}
	if len(words) == 0 {
		return searchPlan{text: search}, nil
	}
	rows, err := s.db.pool.Query(ctx, `SELECT w.i, v.lexeme, v.parts,
			EXISTS (SELECT 1 FROM search_lexemes x WHERE x.lexeme = v.lexeme COLLATE "C"),
			ARRAY(SELECT x.lexeme FROM search_lexemes x
				WHERE w.prefix AND x.lexeme >= v.lexeme COLLATE "C" AND x.lexeme < (v.lexeme || chr(1114111)) COLLATE "C"
				ORDER BY x.lexeme LIMIT $4),
			ARRAY(SELECT x.lexeme FROM search_lexemes x
				WHERE w.typo AND v.lexeme IS NOT NULL
					AND NOT EXISTS (SELECT 1 FROM search_lexemes y WHERE y.lexeme = v.lexeme COLLATE "C")
				ORDER BY x.lexeme OPERATOR(public.<->) (v.lexeme COLLATE "C") LIMIT 8)
		FROM unnest($1::text[], $2::bool[], $3::bool[]) WITH ORDINALITY AS w (word, typo, prefix, i)
		CROSS JOIN LATERAL (SELECT CASE WHEN count(*) = 1 THEN min(t.lexeme) END, count(*)
			FROM unnest(to_tsvector('english', w.word)) AS t) AS v (lexeme, parts)`, words, typo, prefix, prefixLexemes)
	if err != nil {
		return searchPlan{}, translate("search lexemes", err)
	}
	replaced := map[int]string{} // token → tsquery term
	var groups [][]string
	for rows.Next() {
		var i, parts int
		var lexeme *string
		var known bool
		var starts, near []string
		if err := rows.Scan(&i, &lexeme, &parts, &known, &starts, &near); err != nil {
			rows.Close()
			return searchPlan{}, translate("search lexemes", err)
		}
		i-- // ordinality counts from 1
		if lexeme == nil {
			if parts > 1 {
				allPlain = false // text the parser splits, left to websearch_to_tsquery
			}
			continue // a stop word, which websearch_to_tsquery drops too
		}
		tok := at[i]
		switch {
		case prefix[i] && len(starts) > 0:
			replaced[tok] = tsLexeme(*lexeme) + ":*"
			groups = append(groups, starts)
		case known:
			groups = append(groups, []string{*lexeme})
		default:
			fixed := ""
			if typo[i] {
				lower := strings.ToLower(words[i])
				for _, c := range near {
					if withinOneEdit(c, *lexeme) || withinOneEdit(c, lower) {
						fixed = c
						break
					}
				}
			}
			if fixed == "" {
				allPlain = false // a word no video has: nothing matches, as websearch_to_tsquery finds
				continue
			}
			replaced[tok] = tsLexeme(fixed)
			groups = append(groups, []string{fixed})
		}
	}
	if err := rows.Err(); err != nil {
		return searchPlan{}, translate("search lexemes", err)
	}
	sp := searchPlan{text: search}
	if allPlain && len(groups) > 0 && len(groups) <= maxGroups {
		sp.groups = groups
	}
	if len(replaced) == 0 {
		return sp, nil
	}
	var rest, terms []string
	for i, t := range tokens {
		if term, ok := replaced[i]; ok {
			terms = append(terms, term)
		} else {
			rest = append(rest, t.text)
		}
	}
	sp.text, sp.extra = strings.Join(rest, " "), strings.Join(terms, " & ")
	return sp, nil
}

// tsLexeme quotes a lexeme as a tsquery operand, taken as it is (not normalised).
func tsLexeme(l string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(l, `\`, `\\`), `'`, `''`) + "'"
}

// withinOneEdit reports whether a and b differ by at most one edit: a letter
// changed, added or removed, or two neighbouring letters swapped.
func withinOneEdit(a, b string) bool {
	x, y := []rune(a), []rune(b)
	if len(x) < len(y) {
		x, y = y, x
	}
	if len(x)-len(y) > 1 {
		return false
	}
	i := 0
	for i < len(y) && x[i] == y[i] {
		i++
	}
	if i == len(y) {
		return true // equal, or one letter added at the end
	}
	if len(x) == len(y) {
		if slices.Equal(x[i+1:], y[i+1:]) {
			return true // changed
		}
		return i+1 < len(x) && x[i] == y[i+1] && x[i+1] == y[i] && slices.Equal(x[i+2:], y[i+2:]) // swapped
	}
	return slices.Equal(x[i+1:], y[i:]) // one added
}

// ExplainFindVideos returns PostgreSQL's plans for the page and count queries that
// FindVideos runs for f, with their run-time statistics: for operators checking that
// a listing uses its indexes.
//
// For a search on the ranked path, page holds the plans of the statements that ranked
// it, in the order FindVideos ran them (it runs the search first to learn them), and
// count that of the statement counting one word's postings, or of the estimate of a
// search of several words (a join or the rare word's postings count them too).
func (s *VideoService) ExplainFindVideos(ctx context.Context, f videoforge.VideoFilter) (page, count string, err error) {
	explain := func(sql string, args []any) (string, error) {
		rows, err := s.db.pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "+sql, args...)
		if err != nil {
			return "", translate("explain", err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return "", translate("explain", err)
		}
		return strings.Join(lines, "\n"), nil
	}
	if f.Search != "" {
		sp, err := s.prepareSearch(ctx, f.Search)
		if err != nil {
			return "", "", err
		}
		if ranked(f, &sp) {
			// The search as FindVideos runs it, then each statement that ranked it.
			log := &rankingLog{}
			if _, _, _, err := s.FindVideosEstimated(context.WithValue(ctx, rankingKey{}, log), f); err != nil {
				return "", "", err
			}
			var plans []string
			for _, st := range log.statements {
				plan, err := explain(st.sql, st.args)
				if err != nil {
					return "", "", err
				}
				plans = append(plans, plan)
			}
			page = strings.Join(plans, "\n-- then\n")
			if len(sp.groups) == 1 && len(sp.groups[0]) == 1 {
				count, err = explain(fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM search_postings
					WHERE lexeme = $1 LIMIT %d) AS matches`, TotalBound+1), []any{sp.groups[0][0]})
			} else {
				var args []any
				arg := func(v any) string {
					args = append(args, v)
					return "$" + strconv.Itoa(len(args))
				}
				count, err = explain("SELECT 1 FROM videos WHERE "+listed+" AND search @@ "+sp.countTsquery(arg), args)
			}
			return page, count, err
		}
	}
	q, err := s.plan(ctx, f)
	if err != nil {
		return "", "", err
	}
	if page, err = explain(q.page, q.args); err != nil {
		return "", "", err
	}
	if count, err = explain(q.count, q.countArguments()); err != nil {
		return "", "", err
	}
	return page, count, nil
}

// The ranked path: a search of plain words ordered by relevance, ranked over every
// listed match through search_postings (schema/migrations/00011_search_postings.sql).
// A video's score is the sum over the search's words of the word's impact in it (for
// a prefix, the best impact of the lexemes it stands for); ties go to the newer id.

// maxRankRead bounds the page end up to which a search of one word is ranked from its
// first postings (the deepest page served ends at MaxOffset + the largest limit).
const maxRankRead = 1 << 14

// impactSQL is a lexeme's impact in a video, from the row l of unnest(search): the
// trigger's formula (00011_search_postings.sql), 1 per mention in the title up to 2,
// plus 0.25 per mention in the description up to 2.
const impactSQL = `(SELECT greatest(least(count(*) FILTER (WHERE u.w = 'A'), 2) + 0.25 * least(count(*) FILTER (WHERE u.w <> 'A'), 2), 0.25)
	FROM unnest(l.weights) AS u (w))::real::float8`

// scoreSQL is the score of a videos row for sp's groups, as the ranked path computes
// it from search_postings, adding the groups with arg.
func (sp *searchPlan) scoreSQL(arg func(any) string) string {
	terms := make([]string, len(sp.groups))
	for i, g := range sp.groups {
		terms[i] = "coalesce((SELECT max(" + impactSQL + ") FROM unnest(search) AS l WHERE l.lexeme = ANY(" + arg(g) + "::text[])), 0)"
	}
	return "(" + strings.Join(terms, " + ") + ")"
}

// ranked reports whether f takes the ranked path.
func ranked(f videoforge.VideoFilter, sp *searchPlan) bool {
	return sp.groups != nil && f.Sort == "" && f.Cursor == nil && f.UserID == "" &&
		(f.Status == nil || *f.Status == videoforge.StatusReady)
}

type scored struct {
	id    int64
	score float64
}

// before reports whether a ranks before b: higher score, then higher id.
func (a scored) before(b scored) bool {
	return a.score > b.score || (a.score == b.score && a.id > b.id)
}

// rankingKey is the context key of a rankingLog.
type rankingKey struct{}

// rankingLog records the statements that rank a search (and the SQL path's page query
// when the ranked path declines it), for ExplainFindVideos.
type rankingLog struct {
	mu         sync.Mutex
	statements []rankingStatement
}

type rankingStatement struct {
	sql  string
	args []any
}

// rankQuery runs a statement that ranks a search, recording it when ctx carries a
// rankingLog.
func (s *VideoService) rankQuery(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	recordRanking(ctx, sql, args)
	return s.db.pool.Query(ctx, sql, args...)
}

// recordRanking adds a statement to ctx's rankingLog, if it carries one.
func recordRanking(ctx context.Context, sql string, args []any) {
	if log, ok := ctx.Value(rankingKey{}).(*rankingLog); ok {
		log.mu.Lock()
		log.statements = append(log.statements, rankingStatement{sql, slices.Clone(args)})
		log.mu.Unlock()
	}
}

// byRank orders scores best first (before), for slices.SortFunc.
func byRank(a, b scored) int {
	if a.before(b) {
		return -1
	}
	return 1
}

// rankSQL writes the statement that reads the first m postings of group (in impact
// order, a prefix's lexemes merged, each video at its best impact) and returns the best
// k, with on every row how many videos the list held, its last impact and last id.
// When the list holds fewer than m entries, it holds every video of the word.
func rankSQL(group []string, m, k int) (string, []any) {
	return `WITH g AS (SELECT p.video_id, max(p.impact)::float8 AS impact
			FROM unnest($1::text[]) AS l (lexeme)
			CROSS JOIN LATERAL (SELECT video_id, impact FROM search_postings
				WHERE lexeme = l.lexeme ORDER BY impact DESC, video_id DESC LIMIT $2) AS p
			GROUP BY p.video_id ORDER BY 2 DESC, 1 DESC LIMIT $2),
		top AS (SELECT video_id, impact FROM g ORDER BY impact DESC, video_id DESC LIMIT $3)
		SELECT t.video_id, t.impact, (SELECT count(*) FROM g)
		FROM (SELECT) AS one LEFT JOIN top t ON true ORDER BY t.impact DESC, t.video_id DESC`, []any{group, m, k}
}

// probeCap bounds one batch of partial candidates rankMerge looks up by primary key (the
// batches grow from 64), and maxMergeProbes all of them for one search: past it the SQL
// path answers.
const (
	probeCap       = 1024
	maxMergeProbes = 8192
)

// mergeProbeShare: a round looks up at most one partial candidate per this many
// postings it read of each lexeme. A look-up by primary key costs some 5 to 15 µs here,
// reading a posting in order some 0.25 µs, so reading deeper is often the cheaper way
// to bound a partial candidate out.
const mergeProbeShare = 2

// maxMergeRead bounds the postings rankMerge reads over all lexemes of a search: a
// prefix standing for many lexemes reads each of them.
const maxMergeRead = 1 << 17

// mergeFetchSQL reads, for each lexeme, up to its n next postings after its cursor
// (impact, video_id) in search_postings_rank_idx's order (impact DESC, video_id DESC).
const mergeFetchSQL = `SELECT l.i, p.video_id, p.impact::float8, p.common_lo, p.common_hi
	FROM unnest($1::text[], $2::real[], $3::bigint[], $4::int[]) WITH ORDINALITY AS l (lexeme, impact, video_id, n, i)
	CROSS JOIN LATERAL (SELECT video_id, impact, common_lo, common_hi FROM search_postings
		WHERE lexeme = l.lexeme AND (impact, video_id) < (l.impact, l.video_id)
		ORDER BY impact DESC, video_id DESC LIMIT l.n) AS p`

// mergeLexeme is one lexeme's list as rankMerge has read it.
type mergeLexeme struct {
	lexeme string
	groups []int   // the groups it stands in
	impact float64 // the last entry read (3 and MaxInt64 before the first)
	id     int64
	done   bool // every posting read
	// common: the lexeme has a ready common slot, whose level every posting read of the
	// video carries: its impact in a video read is known, whichever list gave it.
	common bool
	slot   int
}

// bound is the most an unread posting of this lexeme may give video id: the last
// impact when id is below the last id, else a level less (impacts are multiples of
// 0.25, at least 0.25: see 00011_search_postings.sql); 0 when none may be left.
func (l *mergeLexeme) bound(id int64) float64 {
	switch {
	case l.done:
		return 0
	case id < l.id:
		return l.impact
	case l.impact > 0.25:
		return l.impact - 0.25
	}
	return 0
}

// mergeLexemes returns the distinct lexemes of groups, unread, each with the groups it
// stands in and its ready common slot if it has one, and the lexemes of each group.
func mergeLexemes(groups [][]string, slots map[string]int) (lexemes []*mergeLexeme, byGroup [][]*mergeLexeme) {
	at := map[string]*mergeLexeme{}
	for gi, g := range groups {
		for _, l := range g {
			if x := at[l]; x != nil {
				if !slices.Contains(x.groups, gi) {
					x.groups = append(x.groups, gi)
				}
				continue
			}
			x := &mergeLexeme{lexeme: l, groups: []int{gi}, impact: 3, id: math.MaxInt64}
			x.slot, x.common = slots[l]
			at[l] = x
			lexemes = append(lexemes, x)
		}
	}
	byGroup = make([][]*mergeLexeme, len(groups))
	for _, x := range lexemes {
		for _, gi := range x.groups {
			byGroup[gi] = append(byGroup[gi], x)
		}
	}
	return lexemes, byGroup
}

// nextRead returns the lexemes not read to their end, with the arguments of a round
// that reads their next n postings after their cursors ($1 to $4 of mergeFetchSQL and
// knownSQL).
func nextRead(lexemes []*mergeLexeme, n int) (open []*mergeLexeme, args []any) {
	var ls []string
	var imps []float32
	var ids []int64
	var ns []int32
	for _, x := range lexemes {
		if !x.done {
			ls, imps, ids, ns = append(ls, x.lexeme), append(imps, float32(x.impact)), append(ids, x.id), append(ns, int32(n))
			open = append(open, x)
		}
	}
	return open, []any{ls, imps, ids, ns}
}

// rankMerge ranks a search of several groups by the threshold algorithm with sorted
// access in rounds and random access only where it pays. Each round reads the next
// postings of every lexeme (256, 1 024, 4 096, … per lexeme; one statement), then, in
// memory:
//   - a video read in every group, whose impact in each group no unread posting can
//     raise, has its exact score;
//   - any other video read somewhere is bounded, in each group, by what it was read
//     with and what each lexeme's unread postings may still give it (see bound); one
//     that some group cannot hold is no match;
//   - the partial candidates whose bound beats the k-th exact score (all of them while
//     fewer than k are exact) are looked up by search_postings' primary key and scored
//     exactly, best bound first, in batches of 64 growing to probeCap (one statement
//     each; at most one per mergeProbeShare postings the round read of each lexeme),
//     for as long as it may settle the page: not while an unread video could beat it
//     even if every partial candidate scored its bound;
//   - the page is settled when no partial candidate left and no unread video can beat
//     its k-th: an unread video scores at most the sum over groups of their lexemes'
//     last impacts, and as much only with an id below their last ids; none matches once
//     every lexeme of some group is read to its end.
//
// rare, when not nil, runs once after the first round that does not settle; when it
// reports done, rankMerge stops (ok false). ok is false too when maxMergeRead postings
// or maxMergeProbes look-ups do not settle the page.
func (s *VideoService) rankMerge(ctx context.Context, groups [][]string, slots map[string]int, k int, rare func() (bool, error)) (top []scored, ok bool, err error) {
	lexemes, byGroup := mergeLexemes(groups, slots)
	// read[v][g] is the best impact read for video v in group g (0: none); exact[v] a
	// probed video's score (-1: not a match).
	read := map[int64][]float64{}
	exact := map[int64]float64{}
	total, probed := 0, 0
	var names []string
	for _, x := range lexemes {
		names = append(names, x.lexeme)
	}
	for n, first := max(4*k, 256), true; ; n, first = 4*n, false {
		// Sorted access: the next n postings of every lexeme not read to its end.
		open, args := nextRead(lexemes, n)
		if total += n * len(open); total > maxMergeRead {
			return nil, false, nil
		}
		rows, err := s.rankQuery(ctx, mergeFetchSQL, args...)
		if err != nil {
			return nil, false, translate("rank search", err)
		}
		got := make([]int, len(open))
		for rows.Next() {
			var i int
			var id, lo, hi int64
			var impact float64
			if err := rows.Scan(&i, &id, &impact, &lo, &hi); err != nil {
				rows.Close()
				return nil, false, translate("rank search", err)
			}
			x := open[i-1]
			x.impact, x.id = impact, id
			got[i-1]++
			r := read[id]
			if r == nil {
				r = make([]float64, len(groups))
				read[id] = r
				// The common lexemes' impacts in the video, from the levels it carries.
				for _, c := range lexemes {
					if c.common {
						level := commonValue(lo, hi, c.slot)
						for _, gi := range c.groups {
							r[gi] = max(r[gi], level)
						}
					}
				}
			}
			for _, gi := range x.groups {
				r[gi] = max(r[gi], impact)
			}
		}
		if err := rows.Err(); err != nil {
			return nil, false, translate("rank search", err)
		}
		for i, x := range open {
			x.done = got[i] < n
		}
		// Random access in growing batches, best bound first, while it may settle the
		// page without reading deeper.
		st := mergeClassify(groups, byGroup, read, exact)
		for batch, budget := 64, n/mergeProbeShare; ; batch = min(2*batch, probeCap) {
			top, settled, probe := st.settle(k, min(batch, budget))
			if settled {
				return top, true, nil
			}
			if len(probe) == 0 {
				break
			}
			budget -= len(probe)
			if probed += len(probe); probed > maxMergeProbes {
				return nil, false, nil
			}
			if err := s.mergeProbe(ctx, groups, names, probe, exact); err != nil {
				return nil, false, err
			}
			st.resolved(probe, exact)
		}
		if first && rare != nil {
			if done, err := rare(); err != nil || done {
				return nil, false, err
			}
		}
	}
}

// knownSQL writes the statement of one of rankKnown's rounds over the next n postings
// of each lexeme after its cursor, as mergeFetchSQL reads them. Its rows are
//   - for each lexeme that has an n-th posting, that posting, the round's last (i > 0,
//     the lexeme's place in $1): impact, id; a lexeme without one is read to its end;
//   - the best videos read that have every group, by the score their postings' common
//     levels give (i = 0): score, id. A video read in several lists this round comes
//     once for each, so that $5 rows, k per lexeme read, hold the best k videos.
func knownSQL(groups [][]string, slots map[string]int) string {
	score := make([]string, len(groups))
	conds := make([]string, len(groups))
	for i, g := range groups {
		score[i] = commonGroup("p", g, slots)
		conds[i] = score[i] + " > 0"
	}
	// Two scans of the same postings cost less than one materialized for both parts.
	return `WITH l AS (SELECT * FROM unnest($1::text[], $2::real[], $3::bigint[], $4::int[]) WITH ORDINALITY AS l (lexeme, impact, video_id, n, i))
		(SELECT l.i, p.impact::float8, p.video_id FROM l CROSS JOIN LATERAL (SELECT video_id, impact FROM search_postings
			WHERE lexeme = l.lexeme AND (impact, video_id) < (l.impact, l.video_id)
			ORDER BY impact DESC, video_id DESC OFFSET l.n - 1 LIMIT 1) AS p)
		UNION ALL
		(SELECT 0, (` + strings.Join(score, " + ") + `)::float8 / 4 AS score, p.video_id
			FROM l CROSS JOIN LATERAL (SELECT video_id, common_lo, common_hi FROM search_postings
				WHERE lexeme = l.lexeme AND (impact, video_id) < (l.impact, l.video_id)
				ORDER BY impact DESC, video_id DESC LIMIT l.n) AS p
			WHERE ` + strings.Join(conds, " AND ") + `
			ORDER BY score DESC, video_id DESC LIMIT $5)`
}

// rankKnown ranks groups whose every lexeme has a ready common slot by the threshold
// algorithm with sorted access only, in rounds as rankMerge does (256, 1 024, 4 096, …
// postings per lexeme): every posting carries its video's level of every lexeme, so
// every video read has its exact score, and the statement that reads a round scores
// its videos and returns only the best k (knownSQL), instead of every posting read.
// The page is settled once no unread video can beat its k-th (see unreadBound). ok is
// false when maxMergeRead postings do not settle it.
func (s *VideoService) rankKnown(ctx context.Context, groups [][]string, slots map[string]int, k int) (top []scored, ok bool, err error) {
	lexemes, byGroup := mergeLexemes(groups, slots)
	sql := knownSQL(groups, slots)
	st := &mergeState{}
	seen := map[int64]bool{}
	total := 0
	for n := max(4*k, 256); ; n *= 4 {
		open, args := nextRead(lexemes, n)
		if total += n * len(open); total > maxMergeRead {
			return nil, false, nil
		}
		// Not prepared: the text differs with the words' slots, and a plan takes little.
		rows, err := s.rankQuery(ctx, sql, append([]any{pgx.QueryExecModeExec}, append(args, k*len(open))...)...)
		if err != nil {
			return nil, false, translate("rank search", err)
		}
		for _, x := range open {
			x.done = true // unless its n-th posting comes
		}
		for rows.Next() {
			var i int
			var value float64
			var id int64
			if err := rows.Scan(&i, &value, &id); err != nil {
				rows.Close()
				return nil, false, translate("rank search", err)
			}
			switch {
			case i > 0:
				open[i-1].impact, open[i-1].id, open[i-1].done = value, id, false
			case !seen[id]:
				seen[id] = true
				st.found = append(st.found, scored{id, value})
			}
		}
		if err := rows.Err(); err != nil {
			return nil, false, translate("rank search", err)
		}
		slices.SortFunc(st.found, byRank)
		st.found = st.found[:min(k, len(st.found))]
		st.unreadBound(byGroup)
		if top, settled, _ := st.settle(k, 0); settled {
			return top, true, nil
		}
	}
}

// mergeState is what rankMerge knows after a round: the exact scores, best first, and
// the partial candidates with their bounds, best first, with what bounds an unread
// video.
type mergeState struct {
	found    []scored // best first
	partials []scored // score holds the bound; best first
	unread   bool     // an unread video may match
	sum      float64  // the most an unread video may score
	tieID    int64    // and as much only with an id below this
}

// mergeClassify sorts the videos read so far into exact scores and partial candidates:
//   - a video read in every group, whose impact in each group no unread posting can
//     raise, or looked up, has its exact score;
//   - any other is bounded in each group by what it was read with and what each
//     lexeme's unread postings may still give it (see bound); one that some group
//     cannot hold is no match.
//
// An unread video scores at most the sum over groups of their lexemes' last impacts,
// and as much only with an id below, in each group, the last id of a lexeme at that
// impact; none matches once every lexeme of some group is read to its end.
func mergeClassify(groups [][]string, byGroup [][]*mergeLexeme, read map[int64][]float64, exact map[int64]float64) *mergeState {
	unknown := make([][]*mergeLexeme, len(groups)) // the lexemes without a slot not read to their end
	for g, xs := range byGroup {
		for _, x := range xs {
			if !x.done && !x.common {
				unknown[g] = append(unknown[g], x)
			}
		}
	}
	st := &mergeState{}
	for id, r := range read {
		if sc, ok := exact[id]; ok {
			if sc >= 0 {
				st.found = append(st.found, scored{id, sc})
			}
			continue
		}
		var lo, hi float64
		known, match := true, true
		for g := range groups {
			var u float64 // the most an unread posting of g may give it
			for _, x := range unknown[g] {
				u = max(u, x.bound(id))
			}
			if r[g] == 0 && u == 0 {
				match = false // no posting of g is left for it
				break
			}
			known = known && r[g] > 0 && u <= r[g]
			lo, hi = lo+r[g], hi+max(r[g], u)
		}
		switch {
		case !match:
		case known:
			st.found = append(st.found, scored{id, lo})
		default:
			st.partials = append(st.partials, scored{id, hi})
		}
	}
	slices.SortFunc(st.found, byRank)
	slices.SortFunc(st.partials, byRank)
	st.unreadBound(byGroup)
	return st
}

// unreadBound sets what bounds a video no list has given yet, from the lexemes of each
// group (byGroup) not read to their end: it scores at most the sum over groups of their
// last impacts, and as much only with an id below, in each group, the last id of a
// lexeme at that impact; none matches once every lexeme of some group is read to its end.
func (st *mergeState) unreadBound(byGroup [][]*mergeLexeme) {
	st.unread, st.sum, st.tieID = true, 0, math.MaxInt64
	for _, xs := range byGroup {
		var u float64
		var uid int64
		for _, x := range xs {
			if !x.done && (x.impact > u || (x.impact == u && x.id > uid)) {
				u, uid = x.impact, x.id
			}
		}
		if u == 0 {
			st.unread = false
			return
		}
		st.sum += u
		st.tieID = min(st.tieID, uid)
	}
}

// settle returns the best k exact scores, whether they are settled, and the partial
// candidates to look up (at most batch, best bound first) that may beat the k-th, none
// when looking them all up could not settle the page before reading deeper.
func (st *mergeState) settle(k, batch int) (top []scored, settled bool, probe []int64) {
	top = st.found[:min(k, len(st.found))]
	// The partial candidates that may enter the page: a prefix of them, best first.
	need := st.partials
	if len(top) == k {
		kth := top[k-1]
		i, _ := slices.BinarySearchFunc(st.partials, kth, func(p, kth scored) int {
			if p.before(kth) {
				return -1
			}
			return 1
		})
		need = st.partials[:i]
	}
	unreadBeats := func(kth scored) bool {
		return st.unread && (st.sum > kth.score || (st.sum == kth.score && st.tieID > kth.id))
	}
	ids := func() []int64 {
		for _, p := range need[:min(len(need), batch)] {
			probe = append(probe, p.id)
		}
		return probe
	}
	if len(top) == k && !unreadBeats(top[k-1]) || !st.unread && len(top) < k {
		return top, len(need) == 0, ids()
	}
	// Looking partial candidates up settles nothing while an unread video may beat the
	// page even if every one of them scored its bound: reading deeper comes first.
	var best []scored // the best k of found and need's bounds
	for i, j := 0, 0; len(best) < k && (i < len(top) || j < len(need)); {
		if j == len(need) || (i < len(top) && top[i].before(need[j])) {
			best, i = append(best, top[i]), i+1
		} else {
			best, j = append(best, need[j]), j+1
		}
	}
	if len(best) < k || unreadBeats(best[k-1]) {
		return top, false, nil
	}
	return top, false, ids()
}

// resolved moves the looked-up videos ids, the first partial candidates, to the exact
// scores (or drops them: no match).
func (st *mergeState) resolved(ids []int64, exact map[int64]float64) {
	st.partials = st.partials[len(ids):]
	for _, id := range ids {
		if sc := exact[id]; sc >= 0 {
			x := scored{id, sc}
			i, _ := slices.BinarySearchFunc(st.found, x, func(a, x scored) int {
				if a.before(x) {
					return -1
				}
				return 1
			})
			st.found = slices.Insert(st.found, i, x)
		}
	}
}

// probeDescents: a look-up descends search_postings' primary key once per lexeme of the
// search, up to this many lexemes; past it, once per video, reading all its postings.
const probeDescents = 8

// mergeProbe looks up the postings of the videos ids for every lexeme of groups by
// search_postings' primary key and records their exact scores, -1 for a video lacking
// a group.
func (s *VideoService) mergeProbe(ctx context.Context, groups [][]string, lexemes []string, ids []int64, exact map[int64]float64) error {
	sql := `SELECT i.id, p.lexeme, p.impact::float8 FROM unnest($1::bigint[]) AS i (id)
		CROSS JOIN LATERAL (SELECT lexeme, impact FROM search_postings WHERE video_id = i.id AND lexeme = ANY($2::text[])) AS p`
	if len(lexemes) > probeDescents {
		sql = `SELECT i.id, p.lexeme, p.impact::float8 FROM unnest($1::bigint[]) AS i (id)
		CROSS JOIN LATERAL (SELECT lexeme, impact FROM search_postings WHERE video_id = i.id OFFSET 0) AS p
		WHERE p.lexeme = ANY($2::text[])`
	}
	rows, err := s.rankQuery(ctx, sql, ids, lexemes)
	if err != nil {
		return translate("rank search", err)
	}
	impacts := make(map[int64][]float64, len(ids))
	for _, id := range ids {
		impacts[id] = make([]float64, len(groups))
	}
	for rows.Next() {
		var id int64
		var lexeme string
		var impact float64
		if err := rows.Scan(&id, &lexeme, &impact); err != nil {
			rows.Close()
			return translate("rank search", err)
		}
		for g, ls := range groups {
			if slices.Contains(ls, lexeme) {
				impacts[id][g] = max(impacts[id][g], impact)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return translate("rank search", err)
	}
	for id, is := range impacts {
		var score float64
		for _, x := range is {
			if x == 0 {
				score = -1
				break
			}
			score += x
		}
		exact[id] = score
	}
	return nil
}

// rankListed returns the k best listed matches of groups, and their number when it
// is known exactly. One group is ranked by its first k postings (rankRound). Several
// whose postings number at most joinPostings in all (by the planner's estimate) are
// joined whole (rankJoin), ranked and counted exactly. Larger ones of common words only
// (every lexeme with a ready common slot) are ranked by rankKnown; other larger ones by
// rankMerge, which reads deeper in rounds; when its first round does not settle them,
// rankRare ranks and counts them exactly if their rarest word has at most
// rarePostings postings. ok is false when neither settles the page (the SQL path takes
// over). rareTried reports that rankRare declined already.
func (s *VideoService) rankListed(ctx context.Context, groups [][]string, k int) (top []scored, count int, counted, ok, rareTried bool, err error) {
	if len(groups) == 1 {
		if k > maxRankRead {
			return nil, 0, false, false, false, nil
		}
		top, count, counted, err = s.rankRound(ctx, groups[0], k) // the first k of one list are the best k
		return top, count, counted, err == nil, false, err
	}
	ests, slots, err := s.groupStats(ctx, groups)
	if err != nil {
		return nil, 0, false, false, false, err
	}
	// A group with lexemes that have a ready common slot is known from any posting of
	// the video when its other lexemes (a prefix's rarer words) have few postings, which
	// the join then reads whole; the other groups are read. When every group is known,
	// the smallest is read.
	rest := make([][]string, len(groups)) // a known group's lexemes without a slot
	var restGroups [][]string
	var restOf []int
	known := make([]bool, len(groups))
	slotted := true // every lexeme has a slot
	for i, g := range groups {
		for _, l := range g {
			if _, ok := slots[l]; !ok {
				rest[i] = append(rest[i], l)
			}
		}
		known[i] = len(rest[i]) < len(g)
		slotted = slotted && len(rest[i]) == 0
		if known[i] && len(rest[i]) > 0 {
			restGroups, restOf = append(restGroups, rest[i]), append(restOf, i)
		}
	}
	restEst := make([]int, len(groups))
	if len(restGroups) > 0 {
		e, err := s.groupEstimates(ctx, restGroups)
		if err != nil {
			return nil, 0, false, false, false, err
		}
		for j, i := range restOf {
			if restEst[i] = e[j]; e[j] > joinRest {
				known[i] = false
			}
		}
	}
	read := make([]bool, len(groups))
	driver := -1
	for i := range groups {
		if read[i] = !known[i]; read[i] {
			driver = i
		}
	}
	// With every group known, the threshold rounds (rankMerge) read each group's best
	// postings, every one giving its video's exact score: cheaper than the join unless
	// some word is rare.
	allKnown := driver < 0
	if driver < 0 {
		driver = 0
		for i := range groups {
			if ests[i] < ests[driver] {
				driver = i
			}
		}
		read[driver] = true
	}
	sum := 0
	for i := range groups {
		if read[i] {
			sum += ests[i]
			rest[i] = nil
		} else {
			sum += restEst[i]
		}
	}
	if sum <= s.joinPostings() && (!allKnown || ests[driver] <= rarePostings) {
		if !allKnown && slices.Contains(known, true) && sum > joinFirst {
			// A common word and a rarer one whose best videos share it: the threshold
			// round settles the page in a millisecond or two, where the join would read
			// every posting of the rarer word. Their count is countListed's.
			stop := func() (bool, error) { return true, nil }
			if top, ok, err = s.rankMerge(ctx, groups, slots, k, stop); err != nil || ok {
				return top, 0, false, ok, true, err
			}
		}
		top, count, err = s.rankJoin(ctx, groups, read, rest, slots, k)
		return top, count, err == nil, err == nil, false, err
	}
	if slotted {
		// Common words only: none is rare (the join took the search otherwise), and
		// countListed counts or estimates their matches.
		top, ok, err = s.rankKnown(ctx, groups, slots, k)
		return top, 0, false, ok, true, err
	}
	var rare []scored
	rareOK := false
	top, ok, err = s.rankMerge(ctx, groups, slots, k, func() (bool, error) {
		var err error
		rare, count, counted, rareOK, err = s.rankRareEstimated(ctx, groups, k, ests)
		rareTried = !rareOK
		return rareOK, err
	})
	switch {
	case err != nil:
		return nil, 0, false, false, false, err
	case rareOK:
		return rare, count, counted, true, false, nil
	case ok:
		return top, 0, false, true, rareTried, nil
	}
	if !rareTried {
		top, count, counted, ok, err = s.rankRareEstimated(ctx, groups, k, ests)
		return top, count, counted, ok, !ok, err
	}
	return nil, 0, false, false, true, nil
}

// joinPostings bounds the postings, over all words of a search of several, that
// rankJoin reads whole: a hash join of every word's postings costs some 0.1 µs a
// posting here (5 ms for 50 000), where rankMerge's look-ups by primary key cost 3 to
// 7 µs each and its rounds, for words of middling frequency that seldom meet in a
// video, read and look up thousands.
const joinPostings = 100_000

// joinFirst: a join of more postings than this, with some group known from the common
// levels, is tried by rankMerge's first round first.
const joinFirst = 20_000

// joinRest bounds the postings of the lexemes without a common slot of a group that has
// some with one (a common word's prefix), for the join to read them whole instead of
// every posting of the group.
const joinRest = 10_000

// joinPostings is the bound of rankJoin's path, joinPostings unless a test set another.
func (s *VideoService) joinPostings() int {
	if s.joinBound != 0 {
		return s.joinBound
	}
	return joinPostings
}

// rankJoin ranks and counts groups exactly by joining the whole posting lists of the
// groups read on the video (a prefix's lexemes merged, each video at its best impact);
// the other groups' impacts come from the common levels the postings carry (slots).
// The best k by summed impact, ties newest first.
func (s *VideoService) rankJoin(ctx context.Context, groups [][]string, read []bool, rest [][]string, slots map[string]int, k int) ([]scored, int, error) {
	sql, args := joinSQL(groups, read, rest, slots, k)
	// Planned for its words each time (not prepared): a generic plan, blind to the
	// words' frequencies, may join a common word's list by look-ups, or in parallel.
	rows, err := s.rankQuery(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return nil, 0, translate("rank search", err)
	}
	top, n, err := collectRanked(rows)
	return top, int(n), err
}

// collectRanked reads the rows of a ranking statement (rankSQL, joinSQL, rareSQL): a
// video and its score on each, or none (the page is empty), and on every row the
// number of matches.
func collectRanked(rows pgx.Rows) (top []scored, n int64, err error) {
	defer rows.Close()
	for rows.Next() {
		var id *int64
		var score *float64
		if err := rows.Scan(&id, &score, &n); err != nil {
			return nil, 0, translate("rank search", err)
		}
		if id != nil {
			top = append(top, scored{*id, *score})
		}
	}
	return top, n, translate("rank search", rows.Err())
}

// commonGroup is the SQL of group g's level (impact × 4) in the video of posting p,
// from the common levels p carries: the best of its lexemes' slots (those without one
// left out).
func commonGroup(p string, g []string, slots map[string]int) string {
	var terms []string
	for _, l := range g {
		if slot, ok := slots[l]; ok {
			terms = append(terms, commonLevel(p, slot))
		}
	}
	if len(terms) == 1 {
		return terms[0]
	}
	return "greatest(" + strings.Join(terms, ", ") + ")"
}

// joinSQL writes rankJoin's statement: the read groups' postings joined on the video,
// the others' levels taken from the first read group's postings, the best k with on
// every row how many videos have every group. A prefix's lexemes may give a video
// several postings of its group: the rows of the join, few, are then grouped by video,
// each group at its best impact (grouping a common prefix's postings before the join
// would cost more than the join). When such a group is the only one read, the others
// known, the join's rows are its postings: its first lexeme's are then joined in full
// to its other lexemes', grouped by video, and nothing is grouped after.
func joinSQL(groups [][]string, read []bool, rest [][]string, slots map[string]int, k int) (string, []any) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	reads, several := 0, false
	for i, g := range groups {
		if read[i] {
			reads++
			several = several || len(g) > 1
		}
	}
	// One group read, of several lexemes (a prefix), the others known: its first
	// lexeme's postings (the word itself when it is one, often most of them) are joined
	// in full to the others' grouped by video, which costs less than grouping them all.
	merged := reads == 1 && several
	several = several && !merged
	var from, left, score, conds []string
	first := ""
	for i, g := range groups {
		if !read[i] {
			continue
		}
		var p string
		switch {
		case merged:
			// Every posting of a video carries the same levels (search_postings_of).
			p = fmt.Sprintf(`(SELECT coalesce(m.video_id, r.video_id) AS video_id, greatest(m.impact, r.impact) AS impact,
					coalesce(m.common_lo, r.common_lo) AS common_lo, coalesce(m.common_hi, r.common_hi) AS common_hi
				FROM (SELECT video_id, impact, common_lo, common_hi FROM search_postings WHERE lexeme = %s) AS m
				FULL JOIN (SELECT video_id, max(impact) AS impact, min(common_lo) AS common_lo, min(common_hi) AS common_hi
					FROM search_postings WHERE lexeme = ANY(%s::text[]) GROUP BY video_id) AS r USING (video_id)) AS g%d`, arg(g[0]), arg(g[1:]), i)
		case len(g) == 1:
			p = fmt.Sprintf("(SELECT video_id, impact, common_lo, common_hi FROM search_postings WHERE lexeme = %s) AS g%d", arg(g[0]), i)
		default:
			p = fmt.Sprintf("(SELECT video_id, impact, common_lo, common_hi FROM search_postings WHERE lexeme = ANY(%s::text[])) AS g%d", arg(g), i)
		}
		if first == "" {
			first = fmt.Sprintf("g%d", i)
		} else {
			p += " USING (video_id)"
		}
		from = append(from, p)
		if several {
			score = append(score, fmt.Sprintf("max(g%d.impact)::float8", i))
		} else {
			score = append(score, fmt.Sprintf("g%d.impact::float8", i))
		}
	}
	for i, g := range groups {
		if read[i] {
			continue
		}
		level := commonGroup(first, g, slots) + "::float8 / 4"
		if len(rest[i]) > 0 {
			// The group's lexemes without a slot, few postings: joined to the video.
			left = append(left, fmt.Sprintf(` LEFT JOIN (SELECT video_id, max(impact)::float8 AS impact FROM search_postings
				WHERE lexeme = ANY(%s::text[]) GROUP BY video_id) AS r%d ON r%d.video_id = %s.video_id`, arg(rest[i]), i, i, first))
			level = fmt.Sprintf("greatest(%s, coalesce(r%d.impact, 0))", level, i)
		}
		conds = append(conds, level+" > 0")
		if several {
			score = append(score, "max("+level+")")
		} else {
			score = append(score, level)
		}
	}
	scored := "SELECT " + first + ".video_id, " + strings.Join(score, " + ") + " AS score FROM " + strings.Join(from, " JOIN ") + strings.Join(left, "")
	if len(conds) > 0 {
		scored += " WHERE " + strings.Join(conds, " AND ")
	}
	if several {
		scored += " GROUP BY " + first + ".video_id"
	}
	return "WITH scored AS (" + scored + `), top AS (SELECT video_id, score FROM scored ORDER BY score DESC, video_id DESC LIMIT ` + arg(k) + `)
		SELECT t.video_id, t.score, (SELECT count(*) FROM scored)
		FROM (SELECT) AS one LEFT JOIN top t ON true ORDER BY t.score DESC, t.video_id DESC`, args
}

// rankRound ranks one group by its first k postings, the best k (see rankSQL), and
// counts it when they are all its postings.
func (s *VideoService) rankRound(ctx context.Context, group []string, k int) (top []scored, count int, counted bool, err error) {
	sql, args := rankSQL(group, k, k)
	rows, err := s.rankQuery(ctx, sql, args...)
	if err != nil {
		return nil, 0, false, translate("rank search", err)
	}
	top, n, err := collectRanked(rows)
	if err != nil {
		return nil, 0, false, err
	}
	return top, int(n), n < int64(k), nil
}

// rarePostings bounds the postings of a search's rarest word for which rankRare reads
// them all: a search the threshold round could not settle is then ranked and counted
// exactly from that word's postings, each video's other words looked up by
// search_postings' primary key (video_id, lexeme), instead of through RUM, whose
// bitmap scan decodes the common words' whole posting lists.
const rarePostings = 5_000

// severalUnder: a search of several words, each in more than rarePostings listed
// videos, is counted exactly (through videos_search_rum_idx, whose bitmap scan decodes
// every word's posting list) when the planner expects fewer matches than this; above
// it, counting means reading the common words' lists (60 ms to over 300 ms at a
// million videos), and the total is the planner's estimate from the column's
// statistics (most common lexemes), flagged as estimated. The planner multiplies the
// words' frequencies, which holds for words that are independent of each other.
const severalUnder = 1_000

// rankRare ranks groups exactly when the rarest of them (by its postings, summed
// over a prefix's lexemes) has at most rarePostings postings: every video of that
// word, kept when it has every other word, scored by the summed impacts, ties newest
// first, and counted. ok is false when every word has more postings than that.
func (s *VideoService) rankRare(ctx context.Context, groups [][]string, k int) (top []scored, count int, counted bool, ok bool, err error) {
	ests, err := s.groupEstimates(ctx, groups)
	if err != nil {
		return nil, 0, false, false, err
	}
	return s.rankRareEstimated(ctx, groups, k, ests)
}

// rankRareEstimated is rankRare given the planner's estimate of each group's postings
// (groupEstimates): exact enough for the common lexemes the column's most-common list
// holds, so that when every group has far more than rarePostings, counting them is not
// worth it.
func (s *VideoService) rankRareEstimated(ctx context.Context, groups [][]string, k int, ests []int) (top []scored, count int, counted bool, ok bool, err error) {
	if slices.Min(ests) > 4*rarePostings {
		return nil, 0, false, false, nil
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	bound := arg(rarePostings + 1)
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, g := range groups {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `(SELECT count(*) FROM (SELECT 1 FROM unnest(%s::text[]) AS l (lexeme)
			CROSS JOIN LATERAL (SELECT 1 FROM search_postings WHERE lexeme = l.lexeme LIMIT %s) AS p LIMIT %s) AS x)`,
			arg(g), bound, bound)
	}
	ns := make([]int64, len(groups))
	dest := make([]any, len(groups))
	for i := range ns {
		dest[i] = &ns[i]
	}
	if err := s.db.pool.QueryRow(ctx, b.String(), args...).Scan(dest...); err != nil {
		return nil, 0, false, false, translate("count search words", err)
	}
	rare := 0
	for i, n := range ns {
		if n < ns[rare] {
			rare = i
		}
	}
	if ns[rare] > rarePostings {
		return nil, 0, false, false, nil
	}
	// The look-ups, one per posting of the rare word, are most of the work: the parts
	// of its videos (by id) run side by side, each on its own connection.
	tops := make([][]scored, rareParts)
	counts := make([]int64, rareParts)
	g, gctx := errgroup.WithContext(ctx)
	for part := range rareParts {
		g.Go(func() error {
			sql, args := rareSQL(groups, rare, k, part, rareParts)
			rows, err := s.rankQuery(gctx, sql, args...)
			if err != nil {
				return translate("rank search", err)
			}
			tops[part], counts[part], err = collectRanked(rows)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, 0, false, false, err
	}
	var matched int64
	for part := range rareParts {
		top = append(top, tops[part]...)
		matched += counts[part]
	}
	slices.SortFunc(top, byRank)
	return top[:min(k, len(top))], int(matched), true, true, nil
}

// rareParts is the number of parts rankRare splits a rare word's videos into, by id, to
// look them up side by side: one per core of a small database server.
const rareParts = 2

// rareSQL writes the statement that reads every posting of groups[rare] whose video
// id is part modulo parts, looks up each video's impact for the other groups by
// search_postings' primary key, and returns the best k of the videos having every
// group, with on every row how many they are.
func rareSQL(groups [][]string, rare, k, part, parts int) (string, []any) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `WITH r AS (SELECT p.video_id, max(p.impact)::float8 AS impact
		FROM unnest(%s::text[]) AS l (lexeme)
		CROSS JOIN LATERAL (SELECT video_id, impact FROM search_postings
			WHERE lexeme = l.lexeme AND video_id %% %s = %s) AS p
		GROUP BY p.video_id), scored AS (SELECT r.video_id, r.impact`, arg(groups[rare]), arg(parts), arg(part))
	var joins, conds []string
	for i, g := range groups {
		if i == rare {
			continue
		}
		fmt.Fprintf(&b, " + s%d.impact", i)
		joins = append(joins, fmt.Sprintf(` CROSS JOIN LATERAL (SELECT max(p.impact)::float8 AS impact FROM search_postings p
			WHERE p.video_id = r.video_id AND p.lexeme = ANY(%s::text[])) AS s%d`, arg(g), i))
		conds = append(conds, fmt.Sprintf("s%d.impact IS NOT NULL", i))
	}
	b.WriteString(" AS score FROM r")
	b.WriteString(strings.Join(joins, ""))
	if len(conds) > 0 {
		b.WriteString(" WHERE " + strings.Join(conds, " AND "))
	}
	fmt.Fprintf(&b, `), top AS (SELECT video_id, score FROM scored ORDER BY score DESC, video_id DESC LIMIT %s)
		SELECT t.video_id, t.score, (SELECT count(*) FROM scored)
		FROM (SELECT) AS one LEFT JOIN top t ON true ORDER BY t.score DESC, t.video_id DESC`, arg(k))
	return b.String(), args
}

// findRanked answers a listing that takes the ranked path: the listed matches from
// search_postings, a signed-in viewer's own other matches scored by scoreSQL over their
// rows, merged.
func (s *VideoService) findRanked(ctx context.Context, f videoforge.VideoFilter, sp *searchPlan) ([]*videoforge.Video, int, bool, bool, error) {
	k := f.Offset + f.Limit
	top, total, exact, ok, rareTried, err := s.rankListed(ctx, sp.groups, k)
	if err != nil || !ok {
		return nil, 0, false, false, err
	}
	estimated := false
	if !exact && len(sp.groups) > 1 && !rareTried {
		// The round settled the page but not the count, which countListed would take
		// from RUM's bitmap scan of every word: a rare word's postings rank and count
		// the search exactly at a fraction of that.
		rare, n, counted, ok, err := s.rankRare(ctx, sp.groups, k)
		if err != nil {
			return nil, 0, false, false, err
		}
		if ok && counted {
			top, total, exact = rare, n, true
		}
	}
	if !exact {
		if total, estimated, err = s.countListed(ctx, sp); err != nil {
			return nil, 0, false, false, err
		}
		total = max(total, len(top)) // an estimate below the matches found
	}
	if f.Viewer != "" {
		var args []any
		arg := func(v any) string {
			args = append(args, v)
			return "$" + strconv.Itoa(len(args))
		}
		where := "user_id = " + arg(f.Viewer) + " AND NOT (" + listed + ") AND search @@ " + sp.tsquery(arg)
		if f.Status != nil {
			where += " AND status = " + arg(string(*f.Status))
		}
		score := sp.scoreSQL(arg)
		batch := &pgx.Batch{}
		batch.Queue(fmt.Sprintf("SELECT id, %s AS score FROM videos WHERE %s ORDER BY score DESC, id DESC LIMIT %d", score, where, k), args...)
		// The count takes the arguments of where only: the viewer, the search, the status.
		nWhere := strings.Count(where, "$")
		batch.Queue(fmt.Sprintf("SELECT count(*) FROM (SELECT 1 FROM videos WHERE %s LIMIT %d) AS matches", where, TotalBound+1), args[:nWhere]...)
		br := s.db.pool.SendBatch(ctx, batch)
		rows, err := br.Query()
		if err != nil {
			br.Close()
			return nil, 0, false, false, translate("rank own videos", err)
		}
		own, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (scored, error) {
			var x scored
			return x, r.Scan(&x.id, &x.score)
		})
		if err != nil {
			br.Close()
			return nil, 0, false, false, translate("rank own videos", err)
		}
		var n int
		if err := br.QueryRow().Scan(&n); err != nil {
			br.Close()
			return nil, 0, false, false, translate("count own videos", err)
		}
		if err := br.Close(); err != nil {
			return nil, 0, false, false, translate("rank own videos", err)
		}
		total += n
		estimated = estimated || n > TotalBound
		top = append(top, own...)
		slices.SortFunc(top, byRank)
	}
	var ids []int64
	for i := f.Offset; i < min(k, len(top)); i++ {
		ids = append(ids, top[i].id)
	}
	videos := []*videoforge.Video{}
	if len(ids) > 0 {
		rows, err := s.db.pool.Query(ctx, `SELECT `+videoColumns+` FROM videos WHERE id = ANY($1)`, ids)
		if err != nil {
			return nil, 0, false, false, translate("list videos", err)
		}
		found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*videoforge.Video, error) { return scanVideo(r) })
		if err != nil {
			return nil, 0, false, false, translate("list videos", err)
		}
		byID := make(map[int64]*videoforge.Video, len(found))
		for _, v := range found {
			byID[v.ID] = v
		}
		for _, id := range ids {
			if v := byID[id]; v != nil { // gone meanwhile
				videos = append(videos, v)
			}
		}
	}
	return videos, total, estimated, true, nil
}

// countListed counts the listed matches of a ranked search up to TotalBound+1, or
// estimates them. A search of one word (or prefix) counts the distinct videos of its
// lexemes' postings, reading at most TotalBound+1 of them from search_postings_rank_idx
// (2×TotalBound+1 for a prefix of several lexemes). A search of several words comes
// here only when each of its words has more than rarePostings postings (rankRare
// counts the others exactly): it is counted when the planner expects fewer than
// severalUnder matches, and otherwise its total is the planner's estimate.
func (s *VideoService) countListed(ctx context.Context, sp *searchPlan) (int, bool, error) {
	// A word given twice matches what it matches once ("maza maza").
	var uniq [][]string
	for _, g := range sp.groups {
		if !slices.ContainsFunc(uniq, func(u []string) bool { return slices.Equal(u, g) }) {
			uniq = append(uniq, g)
		}
	}
	if len(uniq) < len(sp.groups) {
		one := *sp
		one.groups = uniq
		return s.countListed(ctx, &one)
	}
	if len(sp.groups) == 1 {
		// A prefix's lexemes may share videos: reading twice the bound leaves room
		// for them. One lexeme's postings are its videos.
		read := TotalBound + 1
		if len(sp.groups[0]) > 1 {
			read = 2*TotalBound + 1
		}
		var n, distinct int
		err := s.db.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT video_id) FROM (SELECT p.video_id
			FROM unnest($1::text[]) AS l (lexeme)
			CROSS JOIN LATERAL (SELECT video_id FROM search_postings WHERE lexeme = l.lexeme LIMIT $2) AS p
			LIMIT $2) AS matches`, sp.groups[0], read).Scan(&n, &distinct)
		if err != nil {
			return 0, false, translate("count search", err)
		}
		if n < read {
			return distinct, false, nil // every posting read: exact
		}
		est, err := s.estimateRows(ctx, "SELECT 1 FROM search_postings WHERE lexeme = ANY($1::text[])", sp.groups[0])
		return max(est, distinct, TotalBound+1), true, err
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := listed + " AND search @@ " + sp.countTsquery(arg)
	est, err := s.estimateRows(ctx, "SELECT 1 FROM videos WHERE "+where, args...)
	if err != nil || est >= severalUnder {
		return est, true, err
	}
	var n int
	if err := s.db.pool.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM (SELECT 1 FROM videos WHERE %s LIMIT %d) AS matches",
		where, TotalBound+1), args...).Scan(&n); err != nil {
		return 0, false, translate("count search", err)
	}
	if n > TotalBound {
		return max(est, n), true, nil
	}
	return n, false, nil
}

// groupStats returns the planner's estimate of each group's postings (groupEstimates)
// and the ready common slot of each of their lexemes that has one, in one round trip.
func (s *VideoService) groupStats(ctx context.Context, groups [][]string) ([]int, map[string]int, error) {
	var ls []string
	for _, g := range groups {
		ls = append(ls, g...)
	}
	batch := &pgx.Batch{}
	queueEstimates(batch, groups)
	batch.Queue(`SELECT lexeme, slot FROM search_common WHERE ready AND lexeme = ANY($1::text[])`, ls)
	br := s.db.pool.SendBatch(ctx, batch)
	defer br.Close()
	ests, err := readEstimates(br, groups)
	if err != nil {
		return nil, nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, nil, translate("search common lexemes", err)
	}
	slots := map[string]int{}
	for rows.Next() {
		var l string
		var slot int
		if err := rows.Scan(&l, &slot); err != nil {
			rows.Close()
			return nil, nil, translate("search common lexemes", err)
		}
		slots[l] = slot
	}
	if err := rows.Err(); err != nil {
		return nil, nil, translate("search common lexemes", err)
	}
	return ests, slots, translate("search common lexemes", br.Close())
}

// groupEstimates returns the planner's estimate of each group's postings, one EXPLAIN
// per group in one round trip. The estimate is the plan's top node's, whatever its
// shape (a parallel plan's Gather counts every worker's rows).
func (s *VideoService) groupEstimates(ctx context.Context, groups [][]string) ([]int, error) {
	batch := &pgx.Batch{}
	queueEstimates(batch, groups)
	br := s.db.pool.SendBatch(ctx, batch)
	defer br.Close()
	ests, err := readEstimates(br, groups)
	if err != nil {
		return nil, err
	}
	return ests, br.Close()
}

// queueEstimates queues groupEstimates' EXPLAIN of each group.
func queueEstimates(batch *pgx.Batch, groups [][]string) {
	for _, g := range groups {
		batch.Queue("EXPLAIN (FORMAT JSON) SELECT 1 FROM search_postings WHERE lexeme = ANY($1::text[])", g)
	}
}

// readEstimates reads the results of queueEstimates: the top node's estimate of each.
func readEstimates(br pgx.BatchResults, groups [][]string) ([]int, error) {
	ests := make([]int, len(groups))
	for i := range groups {
		var js []byte
		if err := br.QueryRow().Scan(&js); err != nil {
			return nil, translate("estimate search words", err)
		}
		var plan []struct {
			Plan struct {
				Rows float64 `json:"Plan Rows"`
			} `json:"Plan"`
		}
		if err := json.Unmarshal(js, &plan); err != nil || len(plan) == 0 {
			return nil, fmt.Errorf("postgres: estimate search words: %s: %v", js, err)
		}
		ests[i] = int(plan[0].Plan.Rows)
	}
	return ests, nil
}

// estimateRows returns the planner's estimate of the rows sql returns.
func (s *VideoService) estimateRows(ctx context.Context, sql string, args ...any) (int, error) {
	var js []byte
	if err := s.db.pool.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+sql, args...).Scan(&js); err != nil {
		return 0, translate("estimate search", err)
	}
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := json.Unmarshal(js, &plan); err != nil || len(plan) == 0 {
		return 0, fmt.Errorf("postgres: estimate search: %s: %v", js, err)
	}
	return int(plan[0].Plan.Rows), nil
}
