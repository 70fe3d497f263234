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
)

// Errors of Check, wrapped with the operation.
var (
	// ErrMalformed means the path is not of the form /t/<expiry>/<sig>/videos/<id>/....
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

// PublicPath returns the path of a public video's master playlist, served without a
// token: /videos/<id>/hls/master.m3u8.
func PublicPath(videoID int64) string {
	return "/videos/" + strconv.FormatInt(videoID, 10) + "/hls/master.m3u8"
}

// Sign returns the signed folder prefix of a video, "/t/<expiry>/<sig>/videos/<id>/",
// valid until expiry (whole seconds). Appending an object path inside the folder, such
// as "hls/master.m3u8", gives a URL path that Check accepts.
func Sign(key []byte, videoID int64, expiry time.Time) string {
	return string(AppendSigned(nil, key, videoID, expiry.Unix()))
}

// AppendSigned appends the signed folder prefix of Sign for an expiry in Unix seconds
// to dst.
func AppendSigned(dst, key []byte, videoID, expiry int64) []byte {
	var msg [64]byte
	m := appendMessage(msg[:0], expiry, strconv.AppendInt(nil, videoID, 10))
	var sum [sha256.Size]byte
	mac := hmac.New(sha256.New, key)
	mac.Write(m)
	mac.Sum(sum[:0])
	dst = append(dst, "/t/"...)
	dst = strconv.AppendInt(dst, expiry, 10)
	dst = append(dst, '/')
	dst = base64.RawURLEncoding.AppendEncode(dst, sum[:])
	dst = append(dst, "/videos/"...)
	dst = strconv.AppendInt(dst, videoID, 10)
	return append(dst, '/')
}

// appendMessage appends the signed message "<expiry>/videos/<id>/".
func appendMessage(dst []byte, expiry int64, id []byte) []byte {
	dst = strconv.AppendInt(dst, expiry, 10)
	dst = append(dst, "/videos/"...)
	dst = append(dst, id...)
	return append(dst, '/')
}

// Check verifies a token path "/t/<expiry>/<sig>/videos/<id>/<rest>" at time now and
// returns the object path it grants, "/videos/<id>/<rest>". The signature is compared
// in constant time; a rest with "." or ".." segments, empty segments or backslashes is
// malformed, so that a token for one folder never reaches another.
func Check(key []byte, path string, now time.Time) (string, error) {
	videoPath, expiry, id, sig, err := parse(path)
	if err != nil {
		return "", fmt.Errorf("playback: check token: %w", err)
	}
	want := make([]byte, 0, sha256.Size)
	mac := hmac.New(sha256.New, key)
	var msg [64]byte
	mac.Write(appendMessage(msg[:0], expiry, []byte(id)))
	want = mac.Sum(want)
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, want) {
		return "", fmt.Errorf("playback: check token: %w", ErrSignature)
	}
	if now.Unix() >= expiry {
		return "", fmt.Errorf("playback: check token: %w", ErrExpired)
	}
	return videoPath, nil
}

// parse splits a token path into its parts without judging the signature.
func parse(path string) (videoPath string, expiry int64, id, sig string, err error) {
	rest, ok := strings.CutPrefix(path, "/t/")
	if !ok {
		return "", 0, "", "", ErrMalformed
	}
	exp, rest, ok := strings.Cut(rest, "/")
	if !ok || !digits(exp, 19) {
		return "", 0, "", "", ErrMalformed
	}
	expiry, perr := strconv.ParseInt(exp, 10, 64)
	if perr != nil {
		return "", 0, "", "", ErrMalformed
	}
	sig, videoPath, ok = strings.Cut(rest, "/")
	if !ok || len(sig) != base64.RawURLEncoding.EncodedLen(sha256.Size) {
		return "", 0, "", "", ErrMalformed
	}
	videoPath = "/" + videoPath
	tail, ok := strings.CutPrefix(videoPath, "/videos/")
	if !ok {
		return "", 0, "", "", ErrMalformed
	}
	id, obj, ok := strings.Cut(tail, "/")
	if !ok || !digits(id, 19) || (len(id) > 1 && id[0] == '0') || obj == "" {
		return "", 0, "", "", ErrMalformed
	}
	if strings.ContainsAny(obj, "\\\x00") {
		return "", 0, "", "", ErrMalformed
	}
	for seg := range strings.SplitSeq(obj, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", 0, "", "", ErrMalformed
		}
	}
	return videoPath, expiry, id, sig, nil
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
