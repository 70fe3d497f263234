package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge"
)

// EdgeCatalog implements videoforge.EdgeCatalog on PostgreSQL. Renditions are
// decoded from their binary form directly, without a copy per row, so that a
// snapshot of a million videos is read in seconds.
type EdgeCatalog struct {
	db *DB
}

var _ videoforge.EdgeCatalog = (*EdgeCatalog)(nil)

// NewEdgeCatalog returns the edge's view of the catalog over db.
func NewEdgeCatalog(db *DB) *EdgeCatalog {
	return &EdgeCatalog{db: db}
}

const edgeVideoSelect = `SELECT id, version, (extract(epoch FROM updated_at) * 1000000)::bigint,
	CASE visibility WHEN 'public' THEN 0 WHEN 'unlisted' THEN 1 ELSE 2 END::int2,
	status = 'ready', user_id, s3_key,
	token_gen, CASE WHEN visibility = 'unlisted' THEN share_key ELSE '' END
	FROM videos`

const edgeRenditionSelect = `SELECT video_id, name, width, height, bandwidth, playlist FROM renditions`

// Now returns the database's clock.
func (c *EdgeCatalog) Now(ctx context.Context) (time.Time, error) {
	var now time.Time
	if err := c.db.pool.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
		return time.Time{}, fmt.Errorf("postgres: read database clock: %w", err)
	}
	return now, nil
}

// VideoIDRange returns the smallest and largest video id, (0, 0) for an empty catalog.
func (c *EdgeCatalog) VideoIDRange(ctx context.Context) (lo, hi int64, err error) {
	err = c.db.pool.QueryRow(ctx, `SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM videos`).Scan(&lo, &hi)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: read id range: %w", err)
	}
	return lo, hi, nil
}

// ReadVideoRange sends up to limit videos with lo < id ≤ hi in id order, then their
// renditions.
func (c *EdgeCatalog) ReadVideoRange(ctx context.Context, lo, hi int64, limit int, sink videoforge.EdgeRowSink) error {
	n, first, last, err := c.videos(ctx, sink, edgeVideoSelect+` WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3`, lo, hi, limit)
	if err != nil || n == 0 {
		return err
	}
	return c.renditions(ctx, sink, edgeRenditionSelect+` WHERE video_id BETWEEN $1 AND $2 ORDER BY video_id, height DESC, name`,
		first, last)
}

// ReadVideosByID sends the given videos that exist, in id order, then their renditions.
func (c *EdgeCatalog) ReadVideosByID(ctx context.Context, ids []int64, sink videoforge.EdgeRowSink) error {
	n, _, _, err := c.videos(ctx, sink, edgeVideoSelect+` WHERE id = ANY($1) ORDER BY id`, ids)
	if err != nil || n == 0 {
		return err
	}
	return c.renditions(ctx, sink, edgeRenditionSelect+` WHERE video_id = ANY($1) ORDER BY video_id, height DESC, name`, ids)
}

// ChangedSince returns the ids of the videos updated at or after since, and the
// database's clock read just before them.
func (c *EdgeCatalog) ChangedSince(ctx context.Context, since time.Time) ([]int64, time.Time, error) {
	now, err := c.Now(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	rows, err := c.db.pool.Query(ctx, `SELECT id FROM videos WHERE updated_at >= $1`, since)
	if err != nil {
		return nil, now, fmt.Errorf("postgres: list changed videos: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, now, fmt.Errorf("postgres: list changed videos: %w", err)
	}
	return ids, now, nil
}

// Versions returns up to limit ids greater than after, in order, with their versions.
func (c *EdgeCatalog) Versions(ctx context.Context, after int64, limit int) (ids, versions []int64, err error) {
	rows, err := c.db.pool.Query(ctx, `SELECT id, version FROM videos WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: scan versions after %d: %w", after, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, v int64
		if err := rows.Scan(&id, &v); err != nil {
			return nil, nil, fmt.Errorf("postgres: scan versions after %d: %w", after, err)
		}
		ids, versions = append(ids, id), append(versions, v)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("postgres: scan versions after %d: %w", after, err)
	}
	return ids, versions, nil
}

// AddViews adds counted views; ids are sorted. It does not touch version or
// updated_at. The rows are locked in id order first, so that two edges flushing the
// same videos wait for each other instead of deadlocking.
func (c *EdgeCatalog) AddViews(ctx context.Context, ids, counts []int64) error {
	err := pgx.BeginFunc(ctx, c.db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT id FROM videos WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, ids); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE videos SET views = videos.views + d.n
			FROM unnest($1::bigint[], $2::bigint[]) AS d(id, n) WHERE videos.id = d.id`, ids, counts)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: add views of %d videos: %w", len(ids), err)
	}
	return nil
}

// videos sends the videos read by sql to sink and returns how many there were and
// the first and last id.
func (c *EdgeCatalog) videos(ctx context.Context, sink videoforge.EdgeRowSink, sql string, args ...any) (n int, first, last int64, err error) {
	rows, err := c.db.pool.Query(ctx, sql, args...)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("postgres: read videos: %w", err)
	}
	defer rows.Close()
	var v videoforge.EdgeVideoRow
	var updatedAt int64
	var vis int16
	for rows.Next() {
		if err := rows.Scan(&v.ID, &v.Version, &updatedAt, &vis, &v.Ready, &v.Owner, &v.S3Key, &v.TokenGen, &v.ShareKey); err != nil {
			return 0, 0, 0, fmt.Errorf("postgres: read videos: %w", err)
		}
		v.UpdatedAt = time.UnixMicro(updatedAt)
		switch vis {
		case 0:
			v.Visibility = videoforge.Public
		case 1:
			v.Visibility = videoforge.Unlisted
		default:
			v.Visibility = videoforge.Private
		}
		if n == 0 {
			first = v.ID
		}
		n, last = n+1, v.ID
		sink.Video(&v)
	}
	if err := rows.Err(); err != nil {
		return 0, 0, 0, fmt.Errorf("postgres: read videos: %w", err)
	}
	return n, first, last, nil
}

// renditions sends the renditions read by sql to sink, decoding the binary values in
// place.
func (c *EdgeCatalog) renditions(ctx context.Context, sink videoforge.EdgeRowSink, sql string, args ...any) error {
	rows, err := c.db.pool.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("postgres: read renditions: %w", err)
	}
	defer rows.Close()
	for i, fd := range rows.FieldDescriptions() {
		if i != 1 && i != 5 && fd.Format != pgx.BinaryFormatCode { // numbers; text reads the same either way
			return errors.New("postgres: read renditions: the server did not answer in binary format")
		}
	}
	var r videoforge.EdgeRenditionRow
	for rows.Next() {
		raw := rows.RawValues()
		if len(raw) != 6 || len(raw[0]) != 8 || len(raw[2]) != 4 || len(raw[3]) != 4 || len(raw[4]) != 4 {
			return errors.New("postgres: read renditions: unexpected row shape")
		}
		r.VideoID = int64(binary.BigEndian.Uint64(raw[0]))
		r.Name, r.Playlist = raw[1], raw[5]
		r.Width = int32(binary.BigEndian.Uint32(raw[2]))
		r.Height = int32(binary.BigEndian.Uint32(raw[3]))
		r.Bandwidth = int32(binary.BigEndian.Uint32(raw[4]))
		if !sink.Rendition(&r) {
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: read renditions: %w", err)
	}
	return nil
}
