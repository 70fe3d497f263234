package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge"
)

// VideoService implements videoforge.VideoService on PostgreSQL.
type VideoService struct {
	db *DB
}

var _ videoforge.VideoService = (*VideoService)(nil)

// NewVideoService returns the video store over db.
func NewVideoService(db *DB) *VideoService {
	return &VideoService{db: db}
}

const videoColumns = `id, user_id, job_id, title, description, s3_key, visibility, status, duration,
	resolution, video_codec, audio_codec, file_size, thumbnail_url, views, version, created_at, updated_at,
	token_gen, share_key, ladder_complete`

// listed is the condition of the videos everybody may see in listings.
const listed = `visibility = 'public' AND status = 'ready'`

func scanVideo(row pgx.Row) (*videoforge.Video, error) {
	var v videoforge.Video
	err := row.Scan(&v.ID, &v.UserID, &v.JobID, &v.Title, &v.Description, &v.S3Key, &v.Visibility, &v.Status,
		&v.Duration, &v.Resolution, &v.VideoCodec, &v.AudioCodec, &v.FileSize, &v.ThumbnailURL, &v.Views,
		&v.Version, &v.CreatedAt, &v.UpdatedAt, &v.TokenGen, &v.ShareKey, &v.LadderComplete)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// FindVideoByID returns the video unless it is private and viewer is not its owner.
func (s *VideoService) FindVideoByID(ctx context.Context, id int64, viewer string) (*videoforge.Video, error) {
	v, err := scanVideo(s.db.pool.QueryRow(ctx, `SELECT `+videoColumns+` FROM videos WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(translate("find video "+strconv.FormatInt(id, 10), err), id)
	}
	if v.Visibility == videoforge.Private && v.UserID != viewer {
		return nil, videoforge.Errorf(videoforge.ENOTFOUND, "video %d not found", id)
	}
	return v, nil
}

// notFound gives the generic not-found error a message that names the video.
func notFound(err error, id int64) error {
	if videoforge.ErrorCode(err) == videoforge.ENOTFOUND {
		return videoforge.Errorf(videoforge.ENOTFOUND, "video %d not found", id)
	}
	return err
}

// FindVideos returns one page of videos and the number of videos the filter selects
// (see FindVideosEstimated for when that number is an estimate).
func (s *VideoService) FindVideos(ctx context.Context, f videoforge.VideoFilter) ([]*videoforge.Video, int, error) {
	videos, total, _, err := s.FindVideosEstimated(ctx, f)
	return videos, total, err
}

// Search limits. Every value is per part of a listing (a signed-in viewer's listing
// has two: the listed videos and the viewer's own other ones).
const (
	// TotalBound is the number of matches up to which a search's total is exact.
	// Above it the total is the planner's estimate of the matches, and
	// FindVideosEstimated says so.
	TotalBound = 10_000
	// RankBound is the number of matches up to which a search ordered by relevance
	// ranks every match, through RUM's distance (<=>) inside videos_search_rum_idx.
	// RUM reads every match to rank them (about 2-5 µs each on the benchmark's
	// machine), so a search whose matches the planner estimates above RankBound ranks
	// its SearchCandidates newest matches instead. An explicit sort always orders
	// every match.
	RankBound = 5_000
	// SearchCandidates is the number of newest matches a search ordered by relevance
	// ranks when it has more than RankBound.
	SearchCandidates = 1000
	// countUnder: a search's listed part is counted exactly (up to TotalBound+1 rows)
	// when the planner estimates fewer matches than this; above, the estimate is its
	// total. The estimate of a word comes from the column's statistics (most common
	// lexemes), within a few percent at that frequency, so a part estimated above
	// four times the bound has more than TotalBound matches.
	countUnder = 4 * TotalBound
)

// FindVideosEstimated returns one page of videos, the number of videos the filter
// selects, and whether that number is an estimate. Anonymous viewers see public, ready
// videos; a signed-in viewer also sees their own.
//
// A listing without a search is counted exactly from the counters the videos_count
// trigger keeps. A search's total is exact up to TotalBound matches per part; above it
// the total is the planner's estimate (never less than TotalBound+1) and estimated is
// true. A search's words are first rewritten for typos and the last one widened to a
// prefix (see prepareSearch).
func (s *VideoService) FindVideosEstimated(ctx context.Context, f videoforge.VideoFilter) ([]*videoforge.Video, int, bool, error) {
	if err := checkCursor(f); err != nil {
		return nil, 0, false, err
	}
	var q listQuery
	if f.Search == "" {
		q = buildListQuery(f, nil).listQuery
	} else {
		sp, err := s.prepareSearch(ctx, f.Search)
		if err != nil {
			return nil, 0, false, err
		}
		if ranked(f, &sp) {
			videos, total, estimated, ok, err := s.findRanked(ctx, f, &sp)
			if err != nil || ok {
				return videos, total, estimated, err
			}
		}
		if q, err = s.planSearch(ctx, f, &sp); err != nil {
			return nil, 0, false, err
		}
	}
	batch := &pgx.Batch{}
	batch.Queue(q.page, q.args...)
	batch.Queue(q.count, q.countArguments()...)
	br := s.db.pool.SendBatch(ctx, batch)
	defer br.Close()

	rows, err := br.Query()
	if err != nil {
		return nil, 0, false, translate("list videos", err)
	}
	videos, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*videoforge.Video, error) { return scanVideo(r) })
	if err != nil {
		return nil, 0, false, translate("list videos", err)
	}
	counts := make([]*int64, q.parts)
	dest := make([]any, q.parts)
	for i := range counts {
		dest[i] = &counts[i]
	}
	if err := br.QueryRow().Scan(dest...); err != nil {
		return nil, 0, false, translate("count videos", err)
	}
	if err := br.Close(); err != nil {
		return nil, 0, false, translate("list videos", err)
	}
	if videos == nil {
		videos = []*videoforge.Video{}
	}
	total, estimated := 0, false
	for i, c := range counts {
		switch {
		case c == nil: // not counted: the planner's estimate is far above the bound
			total += max(q.estimate, TotalBound+1)
			estimated = true
		case q.search && *c > TotalBound:
			n := int(*c)
			if i == q.listedPart {
				n = max(n, q.estimate)
			}
			total += n
			estimated = true
		default:
			total += int(*c)
		}
	}
	return videos, total, estimated, nil
}

type listQuery struct {
	page, count string
	args        []any
	countArgs   int  // the count query takes the first countArgs of args
	parts       int  // the count query's columns, one per part
	search      bool // a search: counts stop at TotalBound+1
	listedPart  int  // the part whose estimate is estimate, -1 for none
	estimate    int  // the planner's estimate of the listed part's matches
}

// countArguments returns the count query's arguments: none when it counts nothing
// (a search estimated far above the bound), which PostgreSQL would refuse.
func (q *listQuery) countArguments() []any {
	if !strings.Contains(q.count, "$") {
		return nil
	}
	return q.args[:q.countArgs]
}

// plan prepares f's search (typos, prefix), asks the planner how many listed videos
// it matches, and writes the page and count queries.
func (s *VideoService) plan(ctx context.Context, f videoforge.VideoFilter) (listQuery, error) {
	if f.Search == "" {
		return buildListQuery(f, nil).listQuery, nil
	}
	sp, err := s.prepareSearch(ctx, f.Search)
	if err != nil {
		return listQuery{}, err
	}
	return s.planSearch(ctx, f, &sp)
}

// planSearch asks the planner how many listed videos sp matches and writes the page
// and count queries of the SQL path.
func (s *VideoService) planSearch(ctx context.Context, f videoforge.VideoFilter, sp *searchPlan) (listQuery, error) {
	// The estimate of the part that may be large: the listed videos (one owner's
	// videos are counted).
	if f.UserID == "" || (f.Viewer != "" && f.UserID != f.Viewer) {
		est := buildListQuery(f, sp)
		if est.estimateSQL != "" {
			n, err := s.estimateRows(ctx, est.estimateSQL, est.args[:est.estimateArgs]...)
			if err != nil {
				return listQuery{}, err
			}
			sp.estimate, sp.estimated = n, true
		}
	}
	return buildListQuery(f, sp).listQuery, nil
}

// builtQuery is a listQuery with the statement that estimates its listed part.
type builtQuery struct {
	listQuery
	estimateSQL  string
	estimateArgs int
}

// buildListQuery writes the page and count queries for a filter, with sp the prepared
// search (nil without one). Every value the caller gave travels as a parameter; only
// fixed SQL fragments are concatenated.
//
// A signed-in viewer's listing is the union of two disjoint parts, the listed videos
// and the viewer's own unlisted ones, so that each part can walk its own index in the
// sort order instead of the planner facing one OR over both.
func buildListQuery(f videoforge.VideoFilter, sp *searchPlan) builtQuery {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}

	var common []string
	if f.Status != nil {
		common = append(common, "status = "+arg(string(*f.Status)))
	}
	var tsq string
	if sp != nil {
		tsq = sp.tsquery(arg)
		common = append(common, "search @@ "+tsq)
	}
	commonArgs := len(args)

	type part struct {
		conds   []string // ANDed
		perUser bool     // one owner's videos, else everybody's
	}
	var parts []part
	switch {
	case f.Viewer != "" && f.UserID == f.Viewer:
		parts = []part{{[]string{"user_id = " + arg(f.UserID)}, true}}
	case f.UserID != "":
		parts = []part{{[]string{listed, "user_id = " + arg(f.UserID)}, true}}
	case f.Viewer != "":
		parts = []part{{[]string{listed}, false}, {[]string{"user_id = " + arg(f.Viewer), "NOT (" + listed + ")"}, true}}
	default:
		parts = []part{{[]string{listed}, false}}
	}
	where := func(p part) string {
		return strings.Join(append(append([]string{}, p.conds...), common...), " AND ")
	}
	b := builtQuery{listQuery: listQuery{parts: len(parts), search: sp != nil, listedPart: -1}}
	if sp != nil && !parts[0].perUser {
		b.listedPart = 0
		b.estimateSQL = "SELECT 1 FROM videos WHERE " + where(parts[0])
		b.estimateArgs = commonArgs
		b.estimate = sp.estimate
	}
	// rankAll: relevance ranks every match of the listed part, as its estimate is
	// small enough (one owner's videos always are).
	rankAll := sp == nil || !sp.estimated || sp.estimate <= RankBound
	order, outerOrder := orderBy(f.Sort, tsq)
	rankCol := "search " + rumDistance + " " + tsq

	countArgs := len(args)
	if sp != nil && sp.groups != nil && f.Sort == "" {
		// A search of plain words ranks by the ranked path's score in every part.
		rankCol = sp.scoreSQL(arg)
		order, outerOrder = rankCol+" DESC, id DESC", "rank DESC, id DESC"
	}
	limit := arg(f.Limit)
	offset := arg(f.Offset)
	after := keysetAfter(f, arg) // see cursor.go; pages only, not counts

	// from is what a part reads: its videos, or for a search by relevance with more
	// matches than RankBound its SearchCandidates newest matches, so that a word
	// found in half the catalog is not ranked over half a million rows.
	from := func(p part) string {
		if tsq == "" || f.Sort != "" || rankAll || p.perUser {
			return "videos WHERE " + where(p) + after
		}
		return fmt.Sprintf("(SELECT * FROM videos WHERE %s ORDER BY created_at DESC, id DESC LIMIT %d) AS candidates",
			where(p)+after, SearchCandidates)
	}
	// Without a search the total comes from the counters the videos_count trigger
	// keeps (see schema/migrations), not from counting rows; a search counts its
	// matches up to TotalBound+1, unless the planner expects many more.
	countPart := func(i int, p part) string {
		if tsq != "" {
			if i == b.listedPart && sp.estimated && sp.estimate >= countUnder {
				return "NULL::bigint"
			}
			return fmt.Sprintf("(SELECT count(*) FROM (SELECT 1 FROM videos WHERE %s LIMIT %d) AS matches)",
				where(p), TotalBound+1)
		}
		scope := " AND user_id = ''"
		if p.perUser {
			scope = " AND shard = 0"
		}
		return "(SELECT coalesce(sum(n), 0)::bigint FROM video_counts WHERE " + where(p) + scope + ")"
	}
	var page, count strings.Builder
	count.WriteString("SELECT ")
	for i, p := range parts {
		if i > 0 {
			count.WriteString(", ")
		}
		count.WriteString(countPart(i, p))
	}
	if len(parts) == 1 {
		fmt.Fprintf(&page, "SELECT %s FROM %s ORDER BY %s LIMIT %s OFFSET %s",
			videoColumns, from(parts[0]), order, limit, offset)
	} else {
		rank := ""
		if tsq != "" {
			rank = ", " + rankCol + " AS rank"
		}
		page.WriteString("SELECT " + videoColumns + " FROM (")
		for i, p := range parts {
			if i > 0 {
				page.WriteString(" UNION ALL ")
			}
			fmt.Fprintf(&page, "(SELECT %s%s FROM %s ORDER BY %s LIMIT %s::bigint + %s::bigint)",
				videoColumns, rank, from(p), order, limit, offset)
		}
		fmt.Fprintf(&page, ") u ORDER BY %s LIMIT %s OFFSET %s", outerOrder, limit, offset)
	}
	b.page, b.count, b.args, b.countArgs = page.String(), count.String(), args, countArgs
	return b
}

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

// CreateVideo inserts v with its renditions and writes its created event.
func (s *VideoService) CreateVideo(ctx context.Context, v *videoforge.Video) error {
	if err := validateVideo(v); err != nil {
		return err
	}
	return s.inTx(ctx, "create video", func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO videos (user_id, job_id, title, description, s3_key, visibility,
			status, duration, resolution, video_codec, audio_codec, file_size, thumbnail_url, views)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
			RETURNING id, version, created_at, updated_at, share_key, ladder_complete`,
			v.UserID, v.JobID, v.Title, v.Description, v.S3Key, v.Visibility, v.Status, v.Duration,
			v.Resolution, v.VideoCodec, v.AudioCodec, v.FileSize, v.ThumbnailURL, v.Views,
		).Scan(&v.ID, &v.Version, &v.CreatedAt, &v.UpdatedAt, &v.ShareKey, &v.LadderComplete)
		if err != nil {
			return err
		}
		if err := insertRenditions(ctx, tx, v.ID, v.Renditions); err != nil {
			return err
		}
		return writeEvent(ctx, tx, videoforge.EventCreated, v)
	})
}

func validateVideo(v *videoforge.Video) error {
	switch {
	case v.UserID == "":
		return videoforge.Errorf(videoforge.EINVALID, "a video needs an owner")
	case strings.TrimSpace(v.Title) == "":
		return videoforge.Errorf(videoforge.EINVALID, "title is required")
	case !v.Visibility.Valid():
		return videoforge.Errorf(videoforge.EINVALID, "visibility must be public, unlisted or private")
	case !v.Status.Valid():
		return videoforge.Errorf(videoforge.EINVALID, "unknown status %q", v.Status)
	}
	return nil
}

func insertRenditions(ctx context.Context, tx pgx.Tx, videoID int64, rs []videoforge.Rendition) error {
	if len(rs) == 0 {
		return nil
	}
	rows := make([][]any, len(rs))
	for i, r := range rs {
		rows[i] = []any{videoID, r.Name, r.Width, r.Height, r.Bandwidth, r.Playlist}
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"renditions"},
		[]string{"video_id", "name", "width", "height", "bandwidth", "playlist"}, pgx.CopyFromRows(rows))
	return err
}

func loadRenditions(ctx context.Context, tx pgx.Tx, v *videoforge.Video) error {
	rows, err := tx.Query(ctx, `SELECT name, width, height, bandwidth, playlist FROM renditions
		WHERE video_id = $1 ORDER BY height DESC, name`, v.ID)
	if err != nil {
		return err
	}
	v.Renditions, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (videoforge.Rendition, error) {
		var x videoforge.Rendition
		err := r.Scan(&x.Name, &x.Width, &x.Height, &x.Bandwidth, &x.Playlist)
		return x, err
	})
	return err
}

// lockOwned locks the video's row for the rest of the transaction and checks that
// userID owns it, and returns its token generation. Somebody else's private or
// unlisted video is not found rather than forbidden, so that its existence does not
// leak.
func lockOwned(ctx context.Context, tx pgx.Tx, id int64, userID string) (gen int64, err error) {
	var owner string
	var vis videoforge.Visibility
	err = tx.QueryRow(ctx, `SELECT user_id, visibility, token_gen FROM videos WHERE id = $1 FOR UPDATE`, id).Scan(&owner, &vis, &gen)
	if err != nil {
		return 0, notFound(translate("lock video", err), id)
	}
	if owner != userID {
		if vis != videoforge.Public {
			return 0, videoforge.Errorf(videoforge.ENOTFOUND, "video %d not found", id)
		}
		return 0, videoforge.Errorf(videoforge.EFORBIDDEN, "video %d belongs to another user", id)
	}
	return gen, nil
}

// UpdateVideo changes the owner-editable fields. The row lock makes concurrent
// updates of one video queue up, so each one bumps the version by exactly one.
func (s *VideoService) UpdateVideo(ctx context.Context, id int64, userID string, upd videoforge.VideoUpdate) (*videoforge.Video, error) {
	var v *videoforge.Video
	err := s.inTx(ctx, "update video", func(tx pgx.Tx) error {
		gen, err := lockOwned(ctx, tx, id, userID)
		if err != nil {
			return err
		}
		var vis *string
		if upd.Visibility != nil {
			x := string(*upd.Visibility)
			vis = &x
		}
		// A narrower visibility starts a new token generation: the URLs signed before
		// stop playing (the right side of SET reads the row as it was).
		v, err = scanVideo(tx.QueryRow(ctx, `UPDATE videos SET
				title = coalesce($2, title),
				description = coalesce($3, description),
				visibility = coalesce($4, visibility),
				token_gen = token_gen + CASE WHEN `+visRank("coalesce($4, visibility)")+` > `+visRank("visibility")+`
					THEN 1 ELSE 0 END,
				version = version + 1,
				updated_at = now()
			WHERE id = $1 RETURNING `+videoColumns, id, upd.Title, upd.Description, vis))
		if err != nil {
			return err
		}
		if v.TokenGen > gen {
			if err := revoke(ctx, tx, v.ID, v.TokenGen, false); err != nil {
				return err
			}
		}
		if err := loadRenditions(ctx, tx, v); err != nil {
			return err
		}
		return writeEvent(ctx, tx, videoforge.EventUpdated, v)
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// DeleteVideo removes the video and writes its deleted event, whose version is one
// more than the last one so that edges order it after every earlier change.
func (s *VideoService) DeleteVideo(ctx context.Context, id int64, userID string) error {
	return s.inTx(ctx, "delete video", func(tx pgx.Tx) error {
		// The job's row first, as every job method locks it, then the video's: the
		// same order everywhere, so that a delete never deadlocks with a worker.
		var jobID *int64
		if err := tx.QueryRow(ctx, `SELECT job_id FROM videos WHERE id = $1`, id).Scan(&jobID); err != nil &&
			!errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if jobID != nil {
			if _, err := tx.Exec(ctx, `SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE`, *jobID); err != nil {
				return err
			}
		}
		if _, err := lockOwned(ctx, tx, id, userID); err != nil {
			return err
		}
		// A job still waiting or running for the video ends with it: nothing will
		// pick a queued job of a deleted video up, and a running one stops.
		if jobID != nil {
			if _, err := tx.Exec(ctx, `UPDATE jobs SET status = 'failed', error = 'the video was deleted',
				lease_until = NULL, updated_at = now() WHERE id = $1 AND status NOT IN ('completed', 'failed')`, *jobID); err != nil {
				return err
			}
		}
		v, err := scanVideo(tx.QueryRow(ctx, `DELETE FROM videos WHERE id = $1 RETURNING `+videoColumns, id))
		if err != nil {
			return err
		}
		v.Version++
		if err := revoke(ctx, tx, v.ID, v.TokenGen+1, true); err != nil {
			return err
		}
		return writeEvent(ctx, tx, videoforge.EventDeleted, v)
	})
}

// visRank is the SQL rank of a visibility expression, wider first: public 0,
// unlisted 1, private 2.
func visRank(expr string) string {
	return `(CASE ` + expr + ` WHEN 'public' THEN 0 WHEN 'unlisted' THEN 1 ELSE 2 END)`
}

// revoke records that the tokens of video id signed before generation gen must stop
// working (deleted: all of them). The row waits in revocations for the verifiers that
// cannot ask PostgreSQL (the CDN's function and its key store).
func revoke(ctx context.Context, tx pgx.Tx, id, gen int64, deleted bool) error {
	_, err := tx.Exec(ctx, `INSERT INTO revocations (video_id, token_gen, deleted) VALUES ($1, $2, $3)
		ON CONFLICT (video_id) DO UPDATE SET token_gen = excluded.token_gen, deleted = excluded.deleted,
			revoked_at = now(), pushed_at = NULL`, id, gen, deleted)
	return err
}

// writeEvent adds the catalog event for v's current state to the outbox, carrying what
// videoforge.EventVideoOf lets an event carry.
func writeEvent(ctx context.Context, tx pgx.Tx, typ string, v *videoforge.Video) error {
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("event id: %w", err)
	}
	ev := videoforge.Event{ID: id.String(), Type: typ, OccurredAt: time.Now().UTC(), Version: v.Version,
		Video: videoforge.EventVideoOf(typ, v)}
	payload, err := json.Marshal(&ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO outbox (event_id, subject, video_id, version, payload)
		VALUES ($1, $2, $3, $4, $5)`, id, ev.Subject(), v.ID, v.Version, payload)
	return err
}

// inTx runs fn in a transaction and commits it when fn returns nil.
func (s *VideoService) inTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.db.pool, fn)
	return translate(op, err)
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
				count, err = explain("SELECT 1 FROM videos WHERE "+listed+" AND search @@ "+sp.tsquery(arg), args)
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

// maxRankRead bounds the postings a search of several words reads per word (four
// times the page's end, at least 256) in its one round of the threshold algorithm: a
// search whose best videos are not settled within it takes the SQL path. With the
// impacts' few levels, one round settles the page of most searches, even of the two
// commonest words, since the many videos tied at the top are ordered by id.
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
// is known exactly (the list of some word was read to its end). When the threshold is
// not reached within maxRankRead postings per word, a search whose rarest word has at
// most rarePostings postings is ranked and counted exactly by rankRare; ok is false
// when every word has more (the SQL path takes over).
func (s *VideoService) rankListed(ctx context.Context, groups [][]string, k int) (top []scored, count int, counted bool, ok bool, err error) {
	m := k
	if len(groups) > 1 {
		m = max(4*k, 256)
	}
	if m <= maxRankRead {
		sql, args := rankSQL(groups, m, k)
		rows, err := s.db.pool.Query(ctx, sql, args...)
		if err != nil {
			return nil, 0, false, false, translate("rank search", err)
		}
		top = top[:0]
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
		exhausted := false
		for _, n := range ns {
			exhausted = exhausted || n < int64(m)
		}
		if exhausted {
			return top, int(matched), true, true, nil
		}
		if len(groups) == 1 {
			return top, 0, false, true, nil // the first k of one list are the best k
		}
		if len(top) == k {
			var threshold float64
			minID := int64(math.MaxInt64)
			for i := range groups {
				threshold += *lastImpacts[i] // not nil: the list holds m entries
				minID = min(minID, *lastIDs[i])
			}
			kth := top[k-1]
			if kth.score > threshold || (kth.score == threshold && kth.id >= minID) {
				return top, 0, false, true, nil
			}
		}
	}
	return s.rankRare(ctx, groups, k)
}

// rarePostings bounds the postings of a search's rarest word for which rankRare reads
// them all: a search the threshold round could not settle is then ranked and counted
// exactly from that word's postings, each video's other words looked up by
// search_postings' primary key (video_id, lexeme), instead of through RUM, whose
// bitmap scan decodes the common words' whole posting lists.
const rarePostings = 5_000

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
	top, total, exact, ok, err := s.rankListed(ctx, sp.groups, k)
	if err != nil || !ok {
		return nil, 0, false, false, err
	}
	estimated := false
	if !exact && len(sp.groups) > 1 {
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
// (2×TotalBound+1 for a prefix of several lexemes); a search of several words is counted when the planner
// expects fewer than countUnder matches.
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
	where := listed + " AND search @@ " + sp.tsquery(arg)
	est, err := s.estimateRows(ctx, "SELECT 1 FROM videos WHERE "+where, args...)
	if err != nil || est >= countUnder {
		return max(est, TotalBound+1), true, err
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
