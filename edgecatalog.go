package videoforge

import (
	"context"
	"time"
)

// EdgeCatalog is what an edge reads from the catalog database, the source of truth
// behind its cache, and the one thing it writes there, counted views. Videos are
// streamed row by row to an EdgeRowSink so that a snapshot of a million videos is
// decoded without building intermediate copies.
type EdgeCatalog interface {
	// Now returns the database's clock.
	Now(ctx context.Context) (time.Time, error)
	// VideoIDRange returns the smallest and largest video id, (0, 0) for an empty
	// catalog.
	VideoIDRange(ctx context.Context) (lo, hi int64, err error)
	// ReadVideoRange sends to sink up to limit videos with lo < id ≤ hi in id order,
	// then their renditions.
	ReadVideoRange(ctx context.Context, lo, hi int64, limit int, sink EdgeRowSink) error
	// ReadVideosByID sends to sink the given videos that exist, in id order, then
	// their renditions.
	ReadVideosByID(ctx context.Context, ids []int64, sink EdgeRowSink) error
	// ChangedSince returns the ids of the videos updated at or after since, and the
	// database's clock read just before them.
	ChangedSince(ctx context.Context, since time.Time) (ids []int64, now time.Time, err error)
	// Versions returns up to limit video ids greater than after, in order, with their
	// versions.
	Versions(ctx context.Context, after int64, limit int) (ids, versions []int64, err error)
	// AddViews adds counts[i] views to video ids[i]; ids are sorted. Version and
	// updated_at are left alone: views are not a change edges need to hear of.
	AddViews(ctx context.Context, ids, counts []int64) error
}

// EdgeRowSink receives the rows an EdgeCatalog reads. The rows and the byte slices
// in them are valid only during the call; a sink copies what it keeps.
type EdgeRowSink interface {
	// Video receives one video; videos come in id order.
	Video(v *EdgeVideoRow)
	// Rendition receives one rendition, after every video, in (video id, height
	// descending, name) order. Returning false stops the reading.
	Rendition(r *EdgeRenditionRow) bool
}

// EdgeVideoRow is what an edge holds of a video.
type EdgeVideoRow struct {
	ID, Version int64
	UpdatedAt   time.Time
	Visibility  Visibility
	Ready       bool   // Status is StatusReady
	Owner       []byte // the owner's user id
	S3Key       string
	TokenGen    int64
	ShareKey    string // an unlisted video's key, "" for the others
}

// EdgeRenditionRow is one rendition of a video as an edge reads it.
type EdgeRenditionRow struct {
	VideoID                  int64
	Name                     []byte
	Width, Height, Bandwidth int32
	Playlist                 []byte // the renditions.playlist column, the variant playlist's object key
}
