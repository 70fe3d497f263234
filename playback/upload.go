package playback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/videoforge/videoforge/layout"
)

// UploadPath returns the path and query of the embedded media server's upload URL of
// a job, "/uploads/<jobId>/source?expires=<unix>&signature=<sig>", valid until expiry.
// Its signature covers the job and the expiry under a message no playback token can
// have, so that neither kind of token stands in for the other.
func UploadPath(key []byte, jobID int64, expiry time.Time) string {
	exp := expiry.Unix()
	return "/" + layout.UploadKey(jobID) + "?expires=" + strconv.FormatInt(exp, 10) +
		"&signature=" + uploadSig(key, jobID, exp)
}

func uploadSig(key []byte, jobID, expiry int64) string {
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "upload/%d/%d", jobID, expiry)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// CheckUpload verifies the expires and signature parameters of an upload URL for a job
// at time now.
func CheckUpload(key []byte, jobID int64, query url.Values, now time.Time) error {
	exp, err := strconv.ParseInt(query.Get("expires"), 10, 64)
	if err != nil {
		return fmt.Errorf("playback: check upload token: %w", ErrMalformed)
	}
	got, err := base64.RawURLEncoding.DecodeString(query.Get("signature"))
	want, _ := base64.RawURLEncoding.DecodeString(uploadSig(key, jobID, exp))
	if err != nil || !hmac.Equal(got, want) {
		return fmt.Errorf("playback: check upload token: %w", ErrSignature)
	}
	if now.Unix() >= exp {
		return fmt.Errorf("playback: check upload token: %w", ErrExpired)
	}
	return nil
}
