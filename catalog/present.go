package catalog

import (
	"crypto/subtle"
	"strings"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/playback"
)

// Playback says how the gallery turns stored object keys into URLs a player can load.
type Playback struct {
	// BaseURL is the origin of media URLs (PLAYBACK_BASE_URL): the CDN, or the edge.
	BaseURL string
	// TokenKey signs the URLs of videos that are not public (PLAYBACK_TOKEN_KEY).
	TokenKey []byte
	// TokenTTL is how long a signed URL lives (PLAYBACK_TOKEN_TTL).
	TokenTTL time.Duration
	// SignPublic signs public videos' URLs too (PLAYBACK_SIGN_PUBLIC), as the edge does.
	SignPublic bool
}

// present rewrites the video's thumbnail object key (inside the video's folder,
// layout.VideoPrefix, where the transcoder stores it) into a URL: plain for public
// videos, carrying a path token for the others, which the gallery only shows to those
// allowed to see them. Without playback settings, or for a value that is not a key of
// the video's folder, it stays as stored. The share key of an unlisted video is shown to
// its owner (viewer) only.
func (s *Server) present(v *videoforge.Video, viewer string) {
	if v.UserID != viewer || v.Visibility != videoforge.Unlisted {
		v.ShareKey = ""
	}
	gen := v.TokenGen
	p := s.cfg.Playback
	if p == nil || v.ThumbnailURL == nil {
		return
	}
	folder := layout.VideoPrefix(v.ID)
	rel, ok := strings.CutPrefix(*v.ThumbnailURL, folder)
	if !ok || rel == "" {
		return
	}
	base := strings.TrimRight(p.BaseURL, "/")
	var u string
	if v.Visibility == videoforge.Public && !p.SignPublic {
		u = base + "/" + folder + rel
	} else {
		ttl := p.TokenTTL
		if ttl <= 0 {
			ttl = time.Hour
		}
		u = base + playback.Sign(p.TokenKey, v.ID, gen, playback.Expiry(time.Now(), ttl)) + rel
	}
	v.ThumbnailURL = &u
}

// SameShareKey tells, in time that does not depend on where they differ, whether got
// is an unlisted video's share key want.
func SameShareKey(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
