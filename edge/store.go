package edge

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/layout"
)

// store reads the catalog tables. Rows are decoded from their binary form directly,
// and identical ladders are shared, so that a snapshot of a million videos is read in
// seconds and held in a few hundred megabytes.
type store struct {
	pool *pgxpool.Pool
}

const videoSelect = `SELECT id, version, (extract(epoch FROM updated_at) * 1000000)::bigint,
	CASE visibility WHEN 'public' THEN 0 WHEN 'unlisted' THEN 1 ELSE 2 END::int2,
	status = 'ready', user_id, s3_key,
	token_gen, CASE WHEN visibility = 'unlisted' THEN share_key ELSE '' END
	FROM videos`

const renditionSelect = `SELECT video_id, name, width, height, bandwidth, playlist FROM renditions`

// interner shares the strings and ladders that repeat across videos. It belongs to
// one goroutine.
type interner struct {
	strs    map[string]string
	ladders map[string][]rendition
	key     []byte
}

func newInterner() *interner {
	return &interner{strs: map[string]string{}, ladders: map[string][]rendition{}}
}

func (in *interner) str(b []byte) string {
	if s, ok := in.strs[string(b)]; ok {
		return s
	}
	if len(in.strs) > 100_000 {
		return string(b)
	}
	s := string(b)
	in.strs[s] = s
	return s
}

// intern returns the shared copy of s.
func (in *interner) intern(s string) string {
	if t, ok := in.strs[s]; ok {
		return t
	}
	if len(in.strs) <= 100_000 {
		in.strs[s] = s
	}
	return s
}

func (in *interner) ladder(l []rendition) []rendition {
	in.key = in.key[:0]
	for _, r := range l {
		in.key = append(in.key, r.name...)
		in.key = append(in.key, 0)
		in.key = append(in.key, r.rel...)
		in.key = binary.BigEndian.AppendUint32(in.key, uint32(r.width))
		in.key = binary.BigEndian.AppendUint32(in.key, uint32(r.height))
		in.key = binary.BigEndian.AppendUint32(in.key, uint32(r.bandwidth))
	}
	if s, ok := in.ladders[string(in.key)]; ok {
		return s
	}
	s := slices.Clip(slices.Clone(l))
	if len(in.ladders) < 10_000 {
		in.ladders[string(in.key)] = s
	}
	return s
}

// batch reads up to limit videos with lo < id ≤ hi in id order, with their renditions.
func (s *store) batch(ctx context.Context, in *interner, lo, hi int64, limit int) ([]*video, error) {
	vs, err := s.videos(ctx, in, videoSelect+` WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3`, lo, hi, limit)
	if err != nil || len(vs) == 0 {
		return vs, err
	}
	err = s.renditions(ctx, in, vs, renditionSelect+` WHERE video_id BETWEEN $1 AND $2 ORDER BY video_id, height DESC, name`,
		vs[0].id, vs[len(vs)-1].id)
	return vs, err
}

// byIDs reads the given videos (those that exist), in id order.
func (s *store) byIDs(ctx context.Context, in *interner, ids []int64) ([]*video, error) {
	vs, err := s.videos(ctx, in, videoSelect+` WHERE id = ANY($1) ORDER BY id`, ids)
	if err != nil || len(vs) == 0 {
		return vs, err
	}
	err = s.renditions(ctx, in, vs, renditionSelect+` WHERE video_id = ANY($1) ORDER BY video_id, height DESC, name`, ids)
	return vs, err
}

// changedSince reads the videos updated at or after since, and the database's clock
// at the start of the query.
func (s *store) changedSince(ctx context.Context, in *interner, since time.Time) ([]*video, time.Time, error) {
	var now time.Time
	if err := s.pool.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
		return nil, time.Time{}, fmt.Errorf("edge: read database clock: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT id FROM videos WHERE updated_at >= $1`, since)
	if err != nil {
		return nil, now, fmt.Errorf("edge: list changed videos: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, now, fmt.Errorf("edge: list changed videos: %w", err)
	}
	if len(ids) == 0 {
		return nil, now, nil
	}
	vs, err := s.byIDs(ctx, in, ids)
	return vs, now, err
}

// versions reads up to limit ids greater than after, in order, with their versions.
func (s *store) versions(ctx context.Context, after int64, limit int) (ids, versions []int64, err error) {
	rows, err := s.pool.Query(ctx, `SELECT id, version FROM videos WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("edge: scan versions after %d: %w", after, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, v int64
		if err := rows.Scan(&id, &v); err != nil {
			return nil, nil, fmt.Errorf("edge: scan versions after %d: %w", after, err)
		}
		ids, versions = append(ids, id), append(versions, v)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("edge: scan versions after %d: %w", after, err)
	}
	return ids, versions, nil
}

// idRange returns the smallest and largest video id, (0, 0) for an empty catalog.
func (s *store) idRange(ctx context.Context) (lo, hi int64, err error) {
	err = s.pool.QueryRow(ctx, `SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM videos`).Scan(&lo, &hi)
	if err != nil {
		return 0, 0, fmt.Errorf("edge: read id range: %w", err)
	}
	return lo, hi, nil
}

// addViews adds counted views; ids are sorted. It does not touch version or
// updated_at: views are not a change edges need to hear of. The rows are locked in
// id order first, so that two edges flushing the same videos wait for each other
// instead of deadlocking.
func (s *store) addViews(ctx context.Context, ids, counts []int64) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT id FROM videos WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, ids); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE videos SET views = videos.views + d.n
			FROM unnest($1::bigint[], $2::bigint[]) AS d(id, n) WHERE videos.id = d.id`, ids, counts)
		return err
	})
	if err != nil {
		return fmt.Errorf("edge: add views of %d videos: %w", len(ids), err)
	}
	return nil
}

func (s *store) videos(ctx context.Context, in *interner, sql string, args ...any) ([]*video, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("edge: read videos: %w", err)
	}
	defer rows.Close()
	var out []*video
	var owner []byte
	for rows.Next() {
		v := &video{}
		var vis int16
		var key string
		if err := rows.Scan(&v.id, &v.version, &v.updatedAt, &vis, &v.ready, &owner, &key, &v.gen, &v.shareKey); err != nil {
			return nil, fmt.Errorf("edge: read videos: %w", err)
		}
		v.vis = uint8(vis)
		v.owner = in.str(owner) // one copy per user, not per video
		if f := folderOf(layout.VideoPrefix(v.id), key); f != "" {
			v.folder = in.intern(f)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("edge: read videos: %w", err)
	}
	return out, nil
}

// renditions attaches the ladders read by sql to vs, which are in id order as the
// rows are.
func (s *store) renditions(ctx context.Context, in *interner, vs []*video, sql string, args ...any) error {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("edge: read renditions: %w", err)
	}
	defer rows.Close()
	for i, fd := range rows.FieldDescriptions() {
		if i != 1 && i != 5 && fd.Format != pgx.BinaryFormatCode { // numbers; text reads the same either way
			return errors.New("edge: read renditions: the server did not answer in binary format")
		}
	}
	var cur []rendition
	i := 0
	var prefix []byte
	flush := func() {
		if len(cur) > 0 {
			vs[i].ladder = in.ladder(cur)
			cur = cur[:0]
		}
	}
	for rows.Next() {
		raw := rows.RawValues()
		if len(raw) != 6 || len(raw[0]) != 8 || len(raw[2]) != 4 || len(raw[3]) != 4 || len(raw[4]) != 4 {
			return errors.New("edge: read renditions: unexpected row shape")
		}
		id := int64(binary.BigEndian.Uint64(raw[0]))
		if id != vs[i].id {
			flush()
			for i < len(vs) && vs[i].id < id {
				i++
			}
			if i == len(vs) {
				break
			}
			if vs[i].id != id {
				continue // renditions of a video that appeared after the videos were read
			}
		}
		prefix = append(append(prefix[:0], layout.VideosFolder...), strconv.FormatInt(id, 10)...)
		prefix = append(prefix, '/')
		rel := raw[5]
		if bytes.HasPrefix(rel, prefix) && len(rel) > len(prefix) {
			rel = rel[len(prefix):]
		} else {
			rel = []byte(layout.VariantPlaylist(string(raw[1])))
		}
		cur = append(cur, rendition{name: in.str(raw[1]), rel: in.str(rel),
			width: int32(binary.BigEndian.Uint32(raw[2])), height: int32(binary.BigEndian.Uint32(raw[3])),
			bandwidth: int32(binary.BigEndian.Uint32(raw[4]))})
	}
	if i < len(vs) {
		flush()
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("edge: read renditions: %w", err)
	}
	return nil
}

// unavailable turns a failure to read PostgreSQL into the error clients see as 503.
func unavailable(err error) error {
	return fmt.Errorf("%w: %w", videoforge.Errorf(videoforge.EUNAVAILABLE, "the catalog database is unavailable"), err)
}
