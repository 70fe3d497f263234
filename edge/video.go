package edge

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/playback"
)

// Compact forms of visibility and status: a million held videos should not each
// carry two string headers for them.
const (
	visPublic uint8 = iota
	visUnlisted
	visPrivate
)

func visOf(v videoforge.Visibility) uint8 {
	switch v {
	case videoforge.Public:
		return visPublic
	case videoforge.Unlisted:
		return visUnlisted
	}
	return visPrivate // unknown visibilities are treated as the most restrictive
}

// video is what the edge holds of a catalog entry: only what its answers need. Values
// are immutable once in the cache, except for the lazily built answers and the count
// of views not yet flushed.
type video struct {
	id, version int64
	updatedAt   int64  // Unix microseconds
	owner       string // the owner's user id, kept for every video so that a video made private plays for its owner at once
	vis         uint8
	ready       bool
	notFound    bool        // a negative entry: the id is unknown to PostgreSQL
	partial     bool        // from a trimmed event: only vis, ready, gen and version are known
	gen         int64       // the token generation: tokens are signed at it
	shareKey    string      // an unlisted video's key (?key=), "" for the others
	folder      string      // the current objects' folder inside the video's, "a3/" (or "" for the flat layout)
	ladder      []rendition // shared between videos with the same ladder

	ans       atomic.Pointer[answers]
	pending   atomic.Int64          // views counted and not yet flushed
	nextDirty atomic.Pointer[video] // link in the view counter's list of videos with pending views
}

// rendition is one variant; rel is the variant playlist's path inside the video's
// folder, such as layout.VariantPlaylist("720p").
type rendition struct {
	name, rel                string
	width, height, bandwidth int32
}

// answers are the ready-to-send bodies of one video for one expiry window (0 for
// public videos, whose URLs carry no token).
type answers struct {
	window                       int64
	stream, qualities, thumbnail []byte
}

// fromVideo converts an event's video to the held form. The event of a
// video that is not public is taken as trimmed whatever it carries (the catalog's are):
// what it narrows applies, and the rest, the owner and the share key above all, comes
// from PostgreSQL.
func fromVideo(v *videoforge.EventVideo, version int64) *video {
	x := &video{id: v.ID, version: version, updatedAt: v.UpdatedAt.UnixMicro(), vis: visOf(v.Visibility),
		ready: v.Status == videoforge.StatusReady, gen: v.TokenGen, partial: v.Trimmed || v.Visibility != videoforge.Public}
	if x.partial {
		return x
	}
	x.owner = v.UserID
	prefix := layout.VideoPrefix(v.ID)
	x.folder = folderOf(prefix, v.S3Key)
	for _, r := range v.Renditions {
		x.ladder = append(x.ladder, rendition{name: r.Name, rel: relPath(prefix, r.Name, r.Playlist),
			width: int32(r.Width), height: int32(r.Height), bandwidth: int32(r.Bandwidth)})
	}
	return x
}

// folderOf returns the folder of a video's current objects relative to its folder
// prefix (videos/<id>/), from the row's s3_key: "a3/" for videos/<id>/a3, "" when the
// key is the folder itself or not inside it (a source not transcoded yet).
func folderOf(prefix, key string) string {
	rel, ok := strings.CutPrefix(key, prefix)
	if !ok || rel == "" || strings.Contains(rel, "/") {
		return ""
	}
	return rel + "/"
}

// relPath returns a variant playlist's path inside the video folder; a key outside
// the folder (which a folder token would not cover) falls back to the storage layout.
func relPath(prefix, name, key string) string {
	if rel, ok := strings.CutPrefix(key, prefix); ok && rel != "" {
		return rel
	}
	return layout.VariantPlaylist(name)
}

// window returns the expiry of tokens signed at now (playback.Expiry), in Unix seconds.
func window(now time.Time, ttl time.Duration) int64 { return playback.Expiry(now, ttl).Unix() }

type streamBody struct {
	VideoID   string  `json:"videoId"`
	URL       string  `json:"url"`
	Format    string  `json:"format"`
	ExpiresAt *string `json:"expiresAt"`
}

type quality struct {
	Name      string `json:"name"`
	Width     int32  `json:"width"`
	Height    int32  `json:"height"`
	Bandwidth int32  `json:"bandwidth"`
	URL       string `json:"url"`
}

type qualitiesBody struct {
	VideoID   string    `json:"videoId"`
	Qualities []quality `json:"qualities"`
}

type thumbnailBody struct {
	VideoID string `json:"videoId"`
	URL     string `json:"url"`
}

// build computes the answers of v: plain URLs when expiry is 0, else URLs under a
// folder token valid until expiry (Unix seconds).
func (v *video) build(base string, key []byte, expiry int64) *answers {
	id := strconv.FormatInt(v.id, 10)
	folder := base + layout.VideosPath + id + "/"
	var exp *string
	if expiry != 0 {
		folder = base + string(playback.AppendSigned(nil, key, v.id, v.gen, expiry))
		s := time.Unix(expiry, 0).UTC().Format(time.RFC3339)
		exp = &s
	}
	qs := qualitiesBody{VideoID: id, Qualities: make([]quality, 0, len(v.ladder))}
	for _, r := range v.ladder {
		qs.Qualities = append(qs.Qualities, quality{Name: r.name, Width: r.width, Height: r.height, Bandwidth: r.bandwidth, URL: folder + r.rel})
	}
	return &answers{
		window:    expiry,
		stream:    mustJSON(streamBody{VideoID: id, URL: folder + v.folder + layout.MasterPlaylist, Format: "hls", ExpiresAt: exp}),
		qualities: mustJSON(qs),
		thumbnail: mustJSON(thumbnailBody{VideoID: id, URL: folder + v.folder + layout.ThumbnailFile}),
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("edge: encode answer: " + err.Error()) // only fixed struct types are encoded
	}
	return b
}

// narrowedBy returns what is held (v) with the access a trimmed event (t) gives, when
// that is narrower in anything (visibility, readiness, token generation), else nil.
// Everything else stays as held until PostgreSQL's row is read.
func (v *video) narrowedBy(t *video) *video {
	if t.vis <= v.vis && (t.ready || !v.ready) && t.gen <= v.gen {
		return nil
	}
	n := &video{id: v.id, version: t.version, updatedAt: t.updatedAt, vis: max(v.vis, t.vis), ready: v.ready && t.ready,
		gen: max(v.gen, t.gen), folder: v.folder, ladder: v.ladder, owner: v.owner}
	if n.vis == visUnlisted {
		n.shareKey = v.shareKey
	}
	return n
}

// sameKey tells whether got is the share key want, in time that does not depend on
// where they differ, without allocating.
func sameKey(got []byte, want string) bool {
	if want == "" || len(got) != len(want) {
		return false
	}
	var d byte
	for i := range got {
		d |= got[i] ^ want[i]
	}
	return d == 0
}
