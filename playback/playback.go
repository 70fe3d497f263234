// Package playback signs and checks the path tokens of playback URLs: a token covers a
// whole video folder until an expiry, so that the relative segment and variant URLs in
// the HLS playlists inherit it. The edge signs; the embedded media server and the CDN's
// function check.
package playback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/videoforge/videoforge/layout"
)

// Errors of Check, wrapped with the operation.
var (
	// ErrMalformed means the path is not of the form /t/<expiry>[.<gen>]/<sig>/videos/<id>/....
	ErrMalformed = errors.New("malformed token path")
	// ErrExpired means the token's expiry has passed.
	ErrExpired = errors.New("token expired")
	// ErrSignature means the signature does not match the expiry and the folder.
	ErrSignature = errors.New("bad token signature")
)

// MinKeyLength is the shortest signing key Validate accepts.
const MinKeyLength = 32

// ValidateKey checks that a signing key is long enough to resist guessing.
func ValidateKey(key []byte) error {
	if len(key) < MinKeyLength {
		return fmt.Errorf("playback: signing key has %d bytes, want at least %d", len(key), MinKeyLength)
	}
	return nil
}

// KeyPrefixBase64 marks a configured key given as the standard base64 encoding of
// its bytes, for binary keys: PLAYBACK_TOKEN_KEY, its _FILE, and the CDN function's
// key store all read the same form.
const KeyPrefixBase64 = "base64:"

// ParseKey reads a signing key as configured: "base64:<standard base64>" is the
// encoding of raw key bytes (a binary key, whatever bytes it holds); any other value
// is the key's own bytes. The key is then checked with ValidateKey.
func ParseKey(s string) ([]byte, error) {
	var key []byte
	if enc, ok := strings.CutPrefix(s, KeyPrefixBase64); ok {
		var err error
		if key, err = base64.StdEncoding.DecodeString(strings.TrimSpace(enc)); err != nil {
			return nil, fmt.Errorf("playback: signing key after %q is not standard base64: %w", KeyPrefixBase64, err)
		}
	} else {
		key = []byte(s)
	}
	return key, ValidateKey(key)
}

// ExpiryWindow is the step to which token expiries are rounded up, so that the signed
// URLs of a video are the same for everyone within a window: computed once per window
// by the edge, and one cache key at the CDN.
const ExpiryWindow = 5 * time.Minute

// Expiry returns the expiry of tokens signed at now with life ttl: now+ttl rounded up
// to the next ExpiryWindow boundary. Every part that signs URLs (the edge, the gallery)
// takes it from here.
func Expiry(now time.Time, ttl time.Duration) time.Time {
	step := int64(ExpiryWindow / time.Second)
	t := now.Add(ttl).Unix()
	return time.Unix((t+step-1)/step*step, 0)
}

// PublicPath returns the path of a public video's master playlist, served without a
// token: /videos/<id>/hls/master.m3u8.
func PublicPath(videoID int64) string {
	return "/" + layout.VideoPrefix(videoID) + layout.MasterPlaylist
}

// Sign returns the signed folder prefix of a video, "/t/<expiry>[.<gen>]/<sig>/videos/<id>/",
// valid until expiry (whole seconds) for tokens of generation gen and later (see Grant).
// Appending an object path inside the folder, such as "hls/master.m3u8", gives a URL
// path that Check accepts.
func Sign(key []byte, videoID, gen int64, expiry time.Time) string {
	return string(AppendSigned(nil, key, videoID, gen, expiry.Unix()))
}

// AppendSigned appends the signed folder prefix of Sign for an expiry in Unix seconds
// to dst.
func AppendSigned(dst, key []byte, videoID, gen, expiry int64) []byte {
	start := len(dst)
	dst = append(dst, "/t/"...)
	dst = strconv.AppendInt(dst, expiry, 10)
	if gen > 0 {
		dst = append(dst, '.')
		dst = strconv.AppendInt(dst, gen, 10)
	}
	stamp := len(dst)
	dst = append(dst, layout.VideosPath...)
	dst = strconv.AppendInt(dst, videoID, 10)
	dst = append(dst, '/')
	// The message is "<expiry>[.<gen>]/videos/<id>/", the path without "/t/" and the
	// signature; the signature then goes in between.
	var sum [sha256.Size]byte
	mac := hmac.New(sha256.New, key)
	mac.Write(dst[start+3:])
	mac.Sum(sum[:0])
	var tail [48]byte
	n := copy(tail[:], dst[stamp:])
	dst = append(dst[:stamp], '/')
	dst = base64.RawURLEncoding.AppendEncode(dst, sum[:])
	return append(dst, tail[:n]...)
}

// A Grant is what a good token allows: reading the objects of one video's folder.
type Grant struct {
	// Path is the object path asked for, "/" and the object's key inside the video's
	// folder (layout.VideoPrefix).
	Path string
	// VideoID is the video the token was signed for.
	VideoID int64
	// Gen is the token generation the video had when the token was signed. A video's
	// generation grows each time its access narrows (made unlisted or private), so a
	// verifier that knows the current generation refuses a Grant whose Gen is lower:
	// the tokens handed out before the change stop working.
	Gen int64
}

// Check verifies a token path "/t/<expiry>[.<gen>]/<sig>/videos/<id>/<rest>" at time
// now and returns what it grants. The signature is compared in constant time; a rest
// with "." or ".." segments, empty segments or backslashes is malformed, so that a
// token for one folder never reaches another. Check cannot know of revocations: the
// caller compares the Grant's Gen with the video's current generation.
func Check(key []byte, path string, now time.Time) (Grant, error) {
	g, stamp, expiry, sig, err := parse(path)
	if err != nil {
		return Grant{}, fmt.Errorf("playback: check token: %w", err)
	}
	want := make([]byte, 0, sha256.Size)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(stamp))
	n := len(layout.VideosPath)
	mac.Write([]byte(g.Path[:strings.IndexByte(g.Path[n:], '/')+n+1]))
	want = mac.Sum(want)
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, want) {
		return Grant{}, fmt.Errorf("playback: check token: %w", ErrSignature)
	}
	if now.Unix() >= expiry {
		return Grant{}, fmt.Errorf("playback: check token: %w", ErrExpired)
	}
	return g, nil
}

// parse splits a token path into its parts without judging the signature: the grant,
// the stamp as it is signed ("<expiry>[.<gen>]", without leading zeros), the expiry
// and the signature.
func parse(path string) (g Grant, stamp string, expiry int64, sig string, err error) {
	rest, ok := strings.CutPrefix(path, "/t/")
	if !ok {
		return Grant{}, "", 0, "", ErrMalformed
	}
	st, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return Grant{}, "", 0, "", ErrMalformed
	}
	exp, gen, hasGen := strings.Cut(st, ".")
	if !digits(exp, 19) || hasGen && (!digits(gen, 19) || gen[0] == '0') {
		return Grant{}, "", 0, "", ErrMalformed
	}
	expiry, perr := strconv.ParseInt(exp, 10, 64)
	if perr != nil {
		return Grant{}, "", 0, "", ErrMalformed
	}
	stamp = strconv.FormatInt(expiry, 10)
	if hasGen {
		if g.Gen, perr = strconv.ParseInt(gen, 10, 64); perr != nil {
			return Grant{}, "", 0, "", ErrMalformed
		}
		stamp += "." + gen
	}
	sig, videoPath, ok := strings.Cut(rest, "/")
	if !ok || len(sig) != base64.RawURLEncoding.EncodedLen(sha256.Size) {
		return Grant{}, "", 0, "", ErrMalformed
	}
	var obj string
	if g.VideoID, obj, ok = layout.SplitVideoKey(videoPath); !ok {
		return Grant{}, "", 0, "", ErrMalformed
	}
	if strings.ContainsAny(obj, "\\\x00") {
		return Grant{}, "", 0, "", ErrMalformed
	}
	for seg := range strings.SplitSeq(obj, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return Grant{}, "", 0, "", ErrMalformed
		}
	}
	g.Path = "/" + videoPath
	return g, stamp, expiry, sig, nil
}

func digits(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
