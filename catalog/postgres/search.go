package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

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
// For a search on the ranked path, page is the plan of the first ranking statement
// (of the rounds rankListed may run) and count that of the statement counting one
// word's postings, or of the estimate of a search of several words.
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
			k := f.Offset + f.Limit
			m := k
			if len(sp.groups) > 1 {
				m = max(4*k, 256)
			}
			sql, args := rankSQL(sp.groups, m, k)
			if page, err = explain(sql, args); err != nil {
				return "", "", err
			}
			if len(sp.groups) == 1 && len(sp.groups[0]) == 1 {
				count, err = explain(fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM search_postings
					WHERE lexeme = $1 LIMIT %d) AS matches`, TotalBound+1), []any{sp.groups[0][0]})
			} else {
				var args []any
				arg := func(v any) string {
					args = append(args, v)
					return "$" + strconv.Itoa(len(args))
				}
				tsq := sp.tsquery(arg)
				if q, ok := sp.lexemeQuery(); ok {
					args = nil
					tsq = arg(q) + "::tsquery"
				}
				count, err = explain("SELECT 1 FROM videos WHERE "+listed+" AND search @@ "+tsq, args)
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

// maxRankRead bounds the postings a search of several words reads per word in the
// rounds of the threshold algorithm, which start at four times the page's end (at
// least 256) and grow fourfold: a search whose best videos are not settled within it
// takes the SQL path. With the impacts' few levels, the first round settles the page
// of most searches, and a later one that of two common words whose best levels share
// few videos, since the many videos tied in a level are ordered by id.
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

// rankSQL writes the statement that reads the first m postings of each group (in
// impact order) and scores their videos, returning the best k with, on every row,
// how many videos matched among them and each group's last entry read.
//
// It is the threshold algorithm: a video none of the lists reached has in each group
// at most that group's last impact, so it cannot beat the k-th best video found when
// that one scores more than the sum of the last impacts (or as much, with a higher id
// than the smallest last id); and when a list holds fewer than m entries, every
// video of that word is in it, so every match was scored.
func rankSQL(groups [][]string, m, k int) (string, []any) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	ms, ks := arg(m), arg(k)
	var b strings.Builder
	b.WriteString("WITH ")
	for i, g := range groups {
		fmt.Fprintf(&b, `g%d AS (SELECT p.video_id, max(p.impact)::float8 AS impact
			FROM unnest(%s::text[]) AS l (lexeme)
			CROSS JOIN LATERAL (SELECT video_id, impact FROM search_postings
				WHERE lexeme = l.lexeme ORDER BY impact DESC, video_id DESC LIMIT %s) AS p
			GROUP BY p.video_id ORDER BY 2 DESC, 1 DESC LIMIT %s), `, i, arg(g), ms, ms)
	}
	if len(groups) == 1 {
		b.WriteString("scored AS (SELECT video_id, impact AS score FROM g0), ")
	} else {
		b.WriteString("cand AS (")
		for i := range groups {
			if i > 0 {
				b.WriteString(" UNION ")
			}
			fmt.Fprintf(&b, "SELECT video_id FROM g%d", i)
		}
		b.WriteString("), scored AS (SELECT c.video_id, ")
		for i := range groups {
			if i > 0 {
				b.WriteString(" + ")
			}
			fmt.Fprintf(&b, "s%d.impact", i)
		}
		b.WriteString(" AS score FROM cand c")
		for i := range groups {
			fmt.Fprintf(&b, ` CROSS JOIN LATERAL (SELECT max(p.impact)::float8 AS impact FROM search_postings p
				WHERE p.video_id = c.video_id AND p.lexeme = ANY($%d::text[])) AS s%d`, i+3, i)
		}
		b.WriteString(" WHERE ")
		for i := range groups {
			if i > 0 {
				b.WriteString(" AND ")
			}
			fmt.Fprintf(&b, "s%d.impact IS NOT NULL", i)
		}
		b.WriteString("), ")
	}
	fmt.Fprintf(&b, `top AS (SELECT video_id, score FROM scored ORDER BY score DESC, video_id DESC LIMIT %s)
		SELECT t.video_id, t.score, (SELECT count(*) FROM scored)`, ks)
	for i := range groups {
		fmt.Fprintf(&b, `, (SELECT count(*) FROM g%d), (SELECT impact FROM g%d ORDER BY impact, video_id LIMIT 1),
			(SELECT video_id FROM g%d ORDER BY impact, video_id LIMIT 1)`, i, i, i)
	}
	b.WriteString(" FROM (SELECT) AS one LEFT JOIN top t ON true ORDER BY t.score DESC, t.video_id DESC")
	return b.String(), args
}

// rankListed returns the k best listed matches of groups, and their number when it
// is known exactly (the list of some word was read to its end). A search of several
// words the first round of the threshold algorithm does not settle is ranked and
// counted exactly by rankRare when its rarest word has at most rarePostings postings;
// otherwise the round is run again over four times as many postings per word, up to
// maxRankRead. ok is false when even that does not settle it (the SQL path takes over).
// rareTried reports that rankRare declined already.
func (s *VideoService) rankListed(ctx context.Context, groups [][]string, k int) (top []scored, count int, counted, ok, rareTried bool, err error) {
	m := k
	if len(groups) > 1 {
		m = max(4*k, 256)
	}
	for first := true; m <= maxRankRead; m, first = 4*m, false {
		var settled bool
		top, count, counted, settled, err = s.rankRound(ctx, groups, m, k)
		if err != nil || settled {
			return top, count, counted, err == nil, rareTried, err
		}
		if first {
			top, count, counted, ok, err = s.rankRare(ctx, groups, k)
			if err != nil || ok {
				return top, count, counted, ok, false, err
			}
			rareTried = true
		}
	}
	if !rareTried {
		top, count, counted, ok, err = s.rankRare(ctx, groups, k)
		return top, count, counted, ok, !ok, err
	}
	return nil, 0, false, false, true, nil
}

// rankRound runs one round of the threshold algorithm over the first m postings of
// each group. settled reports that top holds the k best matches; counted, that count
// is their exact number (the list of some word was read to its end).
func (s *VideoService) rankRound(ctx context.Context, groups [][]string, m, k int) (top []scored, count int, counted, settled bool, err error) {
	sql, args := rankSQL(groups, m, k)
	rows, err := s.db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, false, false, translate("rank search", err)
	}
	var matched int64
	ns := make([]int64, len(groups))
	lastImpacts := make([]*float64, len(groups))
	lastIDs := make([]*int64, len(groups))
	for rows.Next() {
		var id *int64
		var score *float64
		dest := []any{&id, &score, &matched}
		for i := range groups {
			dest = append(dest, &ns[i], &lastImpacts[i], &lastIDs[i])
		}
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return nil, 0, false, false, translate("rank search", err)
		}
		if id != nil {
			top = append(top, scored{*id, *score})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, false, false, translate("rank search", err)
	}
	for _, n := range ns {
		if n < int64(m) {
			return top, int(matched), true, true, nil // every match was scored
		}
	}
	if len(groups) == 1 {
		return top, 0, false, true, nil // the first k of one list are the best k
	}
	if len(top) < k {
		return top, 0, false, false, nil
	}
	var threshold float64
	minID := int64(math.MaxInt64)
	for i := range groups {
		threshold += *lastImpacts[i] // not nil: the list holds m entries
		minID = min(minID, *lastIDs[i])
	}
	kth := top[k-1]
	return top, 0, false, kth.score > threshold || (kth.score == threshold && kth.id >= minID), nil
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
	sql, args := rareSQL(groups, rare, k)
	rows, err := s.db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, false, false, translate("rank search", err)
	}
	var matched int64
	for rows.Next() {
		var id *int64
		var score *float64
		if err := rows.Scan(&id, &score, &matched); err != nil {
			rows.Close()
			return nil, 0, false, false, translate("rank search", err)
		}
		if id != nil {
			top = append(top, scored{*id, *score})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, false, false, translate("rank search", err)
	}
	return top, int(matched), true, true, nil
}

// rareSQL writes the statement that reads every posting of groups[rare], looks up
// each video's impact for the other groups by search_postings' primary key, and
// returns the best k of the videos having every group, with on every row how many
// they are.
func rareSQL(groups [][]string, rare, k int) (string, []any) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `WITH r AS (SELECT p.video_id, max(p.impact)::float8 AS impact
		FROM unnest(%s::text[]) AS l (lexeme)
		CROSS JOIN LATERAL (SELECT video_id, impact FROM search_postings WHERE lexeme = l.lexeme) AS p
		GROUP BY p.video_id), scored AS (SELECT r.video_id, r.impact`, arg(groups[rare]))
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
		slices.SortFunc(top, func(a, b scored) int {
			if a.before(b) {
				return -1
			}
			return 1
		})
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
	var tsq string
	if q, ok := sp.lexemeQuery(); ok {
		tsq = arg(q) + "::tsquery"
	} else {
		tsq = sp.tsquery(arg)
	}
	where := listed + " AND search @@ " + tsq
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
