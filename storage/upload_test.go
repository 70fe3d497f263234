package storage_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
)

// TestPresignPut: a client without credentials PUTs through the presigned URL, and the
// upload checks see its size and sniffed type.
func TestPresignPut(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	if _, err := st.Size(ctx, "uploads/1/source"); videoforge.ErrorCode(err) != videoforge.ENOTFOUND {
		t.Fatalf("size before the PUT: %v, want ENOTFOUND", err)
	}
	url, err := st.PresignPut(ctx, "uploads/1/source", time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	body := "plain text, not a video"
	req, _ := http.NewRequest("PUT", url, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("presigned PUT: %d", res.StatusCode)
	}
	if n, err := st.Size(ctx, "uploads/1/source"); err != nil || n != int64(len(body)) {
		t.Errorf("size %d, %v", n, err)
	}
	if typ, err := st.Sniff(ctx, "uploads/1/source"); err != nil || !strings.HasPrefix(typ, "text/plain") {
		t.Errorf("sniffed %q, %v", typ, err)
	}
	// Tampering with the signed URL is refused.
	req, _ = http.NewRequest("PUT", strings.Replace(url, "uploads/1/", "uploads/2/", 1), strings.NewReader(body))
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == 200 {
		t.Error("PUT to another key with the same signature was accepted")
	}
}
