package edge

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/layout"
)

// store reads the catalog through a videoforge.EdgeCatalog into held videos. Strings
// and ladders that repeat across videos are shared, so that a snapshot of a million
// videos is held in a few hundred megabytes.
type store struct {
	videoforge.EdgeCatalog
}

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
	r := &reader{in: in}
	if err := s.ReadVideoRange(ctx, lo, hi, limit, r); err != nil {
		return nil, err
	}
	return r.done(), nil
}

// byIDs reads the given videos (those that exist), in id order.
func (s *store) byIDs(ctx context.Context, in *interner, ids []int64) ([]*video, error) {
	r := &reader{in: in}
	if err := s.ReadVideosByID(ctx, ids, r); err != nil {
		return nil, err
	}
	return r.done(), nil
}

// changedSince reads the videos updated at or after since, and the database's clock
// at the start of the query.
func (s *store) changedSince(ctx context.Context, in *interner, since time.Time) ([]*video, time.Time, error) {
	ids, now, err := s.ChangedSince(ctx, since)
	if err != nil {
		return nil, now, err
	}
	if len(ids) == 0 {
		return nil, now, nil
	}
	vs, err := s.byIDs(ctx, in, ids)
	return vs, now, err
}

// reader builds held videos from the rows of one read: the videos in id order, then
// the renditions in the same order, which are attached as shared ladders.
type reader struct {
	in     *interner
	vs     []*video
	cur    []rendition // the ladder of vs[i] being read
	i      int
	prefix []byte
}

var _ videoforge.EdgeRowSink = (*reader)(nil)

// Video implements videoforge.EdgeRowSink.
func (r *reader) Video(row *videoforge.EdgeVideoRow) {
	v := &video{id: row.ID, version: row.Version, updatedAt: row.UpdatedAt.UnixMicro(), vis: visOf(row.Visibility),
		ready: row.Ready, gen: row.TokenGen, shareKey: row.ShareKey}
	v.owner = r.in.str(row.Owner) // one copy per user, not per video
	if f := folderOf(layout.VideoPrefix(v.id), row.S3Key); f != "" {
		v.folder = r.in.intern(f)
	}
	r.vs = append(r.vs, v)
}

// Rendition implements videoforge.EdgeRowSink.
func (r *reader) Rendition(row *videoforge.EdgeRenditionRow) bool {
	vs := r.vs
	id := row.VideoID
	if r.i == len(vs) {
		return false
	}
	if id != vs[r.i].id {
		r.flush()
		for r.i < len(vs) && vs[r.i].id < id {
			r.i++
		}
		if r.i == len(vs) {
			return false
		}
		if vs[r.i].id != id {
			return true // renditions of a video that appeared after the videos were read
		}
	}
	r.prefix = append(append(r.prefix[:0], layout.VideosFolder...), strconv.FormatInt(id, 10)...)
	r.prefix = append(r.prefix, '/')
	rel := row.Playlist
	if bytes.HasPrefix(rel, r.prefix) && len(rel) > len(r.prefix) {
		rel = rel[len(r.prefix):]
	} else {
		rel = []byte(layout.VariantPlaylist(string(row.Name)))
	}
	r.cur = append(r.cur, rendition{name: r.in.str(row.Name), rel: r.in.str(rel),
		width: row.Width, height: row.Height, bandwidth: row.Bandwidth})
	return true
}

// flush attaches the ladder read so far to vs[i].
func (r *reader) flush() {
	if len(r.cur) > 0 {
		r.vs[r.i].ladder = r.in.ladder(r.cur)
		r.cur = r.cur[:0]
	}
}

// done returns the videos read, with their ladders.
func (r *reader) done() []*video {
	if r.i < len(r.vs) {
		r.flush()
	}
	return r.vs
}

// unavailable turns a failure to read PostgreSQL into the error clients see as 503.
func unavailable(err error) error {
	return fmt.Errorf("%w: %w", videoforge.Errorf(videoforge.EUNAVAILABLE, "the catalog database is unavailable"), err)
}
