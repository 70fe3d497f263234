// Package videoforge holds the domain types shared by every part of VideoForge (videos,
// jobs, renditions, catalog events, errors) and the interfaces between the parts.
package videoforge

import (
	"context"
	"time"
)

// Visibility says who may see a video.
type Visibility string

// Visibilities.
const (
	Public   Visibility = "public"   // listed and playable by everyone
	Unlisted Visibility = "unlisted" // playable by whoever has the id, never listed
	Private  Visibility = "private"  // only for its owner
)

// Valid reports whether v is one of the known visibilities.
func (v Visibility) Valid() bool {
	return v == Public || v == Unlisted || v == Private
}

// Status is where a video is in its life.
type Status string

// Statuses.
const (
	StatusUploaded   Status = "uploaded"   // the source is stored, no job has started
	StatusProcessing Status = "processing" // a transcoder works on it
	StatusReady      Status = "ready"      // playable
	StatusFailed     Status = "failed"     // the job failed; see the job's error
)

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	return s == StatusUploaded || s == StatusProcessing || s == StatusReady || s == StatusFailed
}

// Video is a catalog entry. Its JSON form is the gallery contract shared with the seed's
// clients; nullable columns are pointers so that they show as null. The event contract
// is EventVideo's.
type Video struct {
	ID           int64      `json:"id"`
	UserID       string     `json:"userId"`
	JobID        *int64     `json:"jobId"`
	Title        string     `json:"title"`
	Description  *string    `json:"description"`
	Visibility   Visibility `json:"visibility"`
	Status       Status     `json:"status"`
	Duration     *float64   `json:"duration"`
	Resolution   *string    `json:"resolution"`
	VideoCodec   *string    `json:"videoCodec"`
	AudioCodec   *string    `json:"audioCodec"`
	FileSize     *int64     `json:"fileSize"`
	ThumbnailURL *string    `json:"thumbnailUrl"`
	Views        int64      `json:"views"`
	CreatedAt    time.Time  `json:"createdAt"`
	UpdatedAt    time.Time  `json:"updatedAt"`

	// LadderComplete tells whether a ready video has every rendition of its ladder:
	// false while its job still makes more (the ones it has already play, and the
	// others join as they land), and for good if that job then failed; true once
	// every rendition is done. A video that is not ready has no ladder yet, and its
	// LadderComplete is true.
	LadderComplete bool `json:"ladderComplete"`

	// ShareKey is the unguessable key an unlisted video is read and streamed by
	// (?key=…). Only its owner's answers carry it, never an event.
	ShareKey string `json:"shareKey,omitempty"`

	// The row's storage details, which the gallery's answers never show.

	// S3Key is the object key of the folder of the video's current objects
	// (videos/<id>/a<attempt>, the committed attempt's) or, before it is ready, of its
	// source (the seed's s3_key).
	S3Key string `json:"-"`
	// Version grows by one on every change of the row.
	Version int64 `json:"-"`
	// Renditions are the ladder's variants.
	Renditions []Rendition `json:"-"`
	// TokenGen is the video's playback token generation: it grows each time the
	// video's access narrows, and tokens signed at an older one are refused.
	TokenGen int64 `json:"-"`
}

// EventVideo is the video of a catalog event: the gallery's fields and what consumers
// that serve the video need (its objects' folder, ladder and token generation), or,
// for a video that is not public or is deleted, only what narrows access (Trimmed).
type EventVideo struct {
	ID           int64      `json:"id"`
	UserID       string     `json:"userId"`
	JobID        *int64     `json:"jobId"`
	Title        string     `json:"title"`
	Description  *string    `json:"description"`
	Visibility   Visibility `json:"visibility"`
	Status       Status     `json:"status"`
	Duration     *float64   `json:"duration"`
	Resolution   *string    `json:"resolution"`
	VideoCodec   *string    `json:"videoCodec"`
	AudioCodec   *string    `json:"audioCodec"`
	FileSize     *int64     `json:"fileSize"`
	ThumbnailURL *string    `json:"thumbnailUrl"`
	Views        int64      `json:"views"`
	CreatedAt    time.Time  `json:"createdAt"`
	UpdatedAt    time.Time  `json:"updatedAt"`
	// LadderComplete is Video.LadderComplete; nil in a trimmed body, which does not
	// carry it.
	LadderComplete *bool `json:"ladderComplete,omitempty"`
	// S3Key is the folder of the video's current objects (Video.S3Key).
	S3Key string `json:"s3Key,omitempty"`
	// Renditions are the ladder's variants.
	Renditions []Rendition `json:"renditions,omitempty"`
	// TokenGen is the video's playback token generation (Video.TokenGen).
	TokenGen int64 `json:"tokenGen,omitempty"`
	// Trimmed marks a body that carries only id, visibility, status, token generation
	// and update time (a video that is not public), or only the id (a deleted one):
	// the rest is read from PostgreSQL by those allowed to.
	Trimmed bool `json:"trimmed,omitempty"`
}

// EventBody is all of v as an event carries it, with nothing trimmed.
func (v *Video) EventBody() *EventVideo {
	complete := v.LadderComplete
	return &EventVideo{ID: v.ID, UserID: v.UserID, JobID: v.JobID, Title: v.Title, Description: v.Description,
		Visibility: v.Visibility, Status: v.Status, Duration: v.Duration, Resolution: v.Resolution,
		VideoCodec: v.VideoCodec, AudioCodec: v.AudioCodec, FileSize: v.FileSize, ThumbnailURL: v.ThumbnailURL,
		Views: v.Views, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt, LadderComplete: &complete, S3Key: v.S3Key,
		Renditions: v.Renditions, TokenGen: v.TokenGen}
}

// EventVideoOf is what an event of type typ may carry of v. An event of a video that is
// not public carries only what narrows access (its id, visibility, status, token
// generation and update time), and a deleted event only the id: the bus is readable by
// every subscriber, and what a private or unlisted video is called, who owns it, where
// its objects are and its share key are not theirs to read.
func EventVideoOf(typ string, v *Video) *EventVideo {
	switch {
	case typ == EventDeleted:
		return &EventVideo{ID: v.ID, Trimmed: true}
	case v.Visibility != Public:
		return &EventVideo{ID: v.ID, Visibility: v.Visibility, Status: v.Status, TokenGen: v.TokenGen,
			UpdatedAt: v.UpdatedAt, Trimmed: true}
	}
	return v.EventBody()
}

// Rendition is one variant of a video's HLS ladder.
type Rendition struct {
	Name      string `json:"name"` // e.g. "720p"
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	Bandwidth int    `json:"bandwidth"` // bits per second, as in the master playlist
	Playlist  string `json:"playlist"`  // object key of the variant playlist
}

// VideoFilter selects and orders videos for a listing.
type VideoFilter struct {
	Viewer string // the authenticated caller's user id, "" for anonymous

	UserID string  // only this owner's videos, when not ""
	Status *Status // only this status, when not nil
	Search string  // full-text query (words, "quoted phrases", -negation), when not ""
	Sort   string  // one of the Sort* constants; "" means SortNewest

	// Cursor, when not nil, starts the listing right after this video in the Sort
	// order (keyset pagination): only its ID and its sort key (CreatedAt, Title or
	// Views) are read, and Offset then skips rows after it (the gallery leaves it 0).
	// A search ordered by relevance cannot have one.
	Cursor *Video

	Offset int
	Limit  int
}

// Sort orders accepted by VideoFilter.Sort and the gallery's sort parameter.
const (
	SortNewest = "-createdAt"
	SortOldest = "createdAt"
	SortTitle  = "title"
	SortViews  = "views" // most viewed first
)

// VideoUpdate holds the fields an owner may change; nil fields stay as they are.
type VideoUpdate struct {
	Title       *string     `json:"title"`
	Description *string     `json:"description"`
	Visibility  *Visibility `json:"visibility"`
}

// VideoService is the catalog's store of videos. Every change writes its catalog event
// in the same transaction.
type VideoService interface {
	// FindVideoByID returns the video if viewer may see it: private videos are
	// ENOTFOUND for everybody but their owner.
	FindVideoByID(ctx context.Context, id int64, viewer string) (*Video, error)
	// FindVideos returns one page of the videos the filter selects and the total count.
	FindVideos(ctx context.Context, filter VideoFilter) ([]*Video, int, error)
	// CreateVideo inserts v and sets its ID, Version and times.
	CreateVideo(ctx context.Context, v *Video) error
	// UpdateVideo applies upd to the video if userID owns it (EFORBIDDEN otherwise).
	UpdateVideo(ctx context.Context, id int64, userID string, upd VideoUpdate) (*Video, error)
	// DeleteVideo removes the video if userID owns it (EFORBIDDEN otherwise).
	DeleteVideo(ctx context.Context, id int64, userID string) error
}

// Event types of the CATALOG stream.
const (
	EventCreated = "created"
	EventUpdated = "updated"
	EventDeleted = "deleted"
)

// Event is a catalog change as published on videoforge.catalog.video.<id>.<type>.
type Event struct {
	ID         string      `json:"id"` // also the Nats-Msg-Id, for de-duplication
	Type       string      `json:"type"`
	OccurredAt time.Time   `json:"occurredAt"`
	Version    int64       `json:"version"`
	Video      *EventVideo `json:"video"`
}

// Subject returns the NATS subject the event is published on.
func (e *Event) Subject() string {
	return CatalogSubject(e.Video.ID, e.Type)
}
