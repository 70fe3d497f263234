package storage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestAbortMultipartUploads: the multipart uploads under a prefix are aborted, with
// their parts; those under other prefixes stay.
func TestAbortMultipartUploads(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	c := st.Client()
	open := func(key string) string {
		t.Helper()
		out, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(st.Bucket()), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(st.Bucket()), Key: aws.String(key), UploadId: out.UploadId,
			PartNumber: aws.Int32(1), Body: strings.NewReader("part one")}); err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.UploadId)
	}
	open("uploads/1/source")
	open("uploads/1/source") // a second attempt of the same upload
	keep := open("uploads/12/source")

	listed, err := st.ListMultipartUploads(ctx, "uploads/")
	if err != nil || len(listed) != 3 {
		t.Fatalf("listed %v, %v; want 3", listed, err)
	}
	for _, u := range listed {
		if u.Initiated.IsZero() || time.Since(u.Initiated) > time.Hour {
			t.Errorf("%s initiated %v", u.Key, u.Initiated)
		}
	}
	n, err := st.AbortMultipartUploads(ctx, "uploads/1/")
	if err != nil || n != 2 {
		t.Fatalf("aborted %d, %v; want 2", n, err)
	}
	out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(st.Bucket()), Prefix: aws.String("uploads/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) != 1 || aws.ToString(out.Uploads[0].UploadId) != keep {
		t.Errorf("open multipart uploads afterwards: %d, want only uploads/12/source's", len(out.Uploads))
	}
	if n, err := st.AbortMultipartUploads(ctx, "uploads/1/"); err != nil || n != 0 {
		t.Errorf("again: %d, %v", n, err)
	}
}
