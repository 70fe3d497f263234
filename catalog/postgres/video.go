package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/telemetry"
)

// VideoService implements videoforge.VideoService on PostgreSQL.
type VideoService struct {
	db *DB
	// joinBound, when not 0, replaces joinPostings (search.go) for a test.
	joinBound int
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
	// FindVideosEstimated says so; so it is for a search of several words that are
	// each in more than rarePostings listed videos and that the planner expects in
	// severalUnder videos or more (see search.go).
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
// true. A search of several common words (see severalUnder) may be estimated below
// the bound too, and says so. A search's words are first rewritten for typos and the last one widened to a
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
		if ranked(f, &sp) {
			recordRanking(ctx, q.page, q.args) // the ranked path declined it
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
	// The change's trace context, for the relay's span and the NATS message; NULL
	// without one.
	var tc *string
	if p := telemetry.TraceParent(ctx); p != "" {
		tc = &p
	}
	_, err = tx.Exec(ctx, `INSERT INTO outbox (event_id, subject, video_id, version, payload, trace_context)
		VALUES ($1, $2, $3, $4, $5, $6)`, id, ev.Subject(), v.ID, v.Version, payload, tc)
	return err
}

// inTx runs fn in a transaction and commits it when fn returns nil.
func (s *VideoService) inTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.db.pool, fn)
	return translate(op, err)
}
