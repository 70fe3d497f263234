package storage

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// AbortMultipartUploads aborts every multipart upload open under prefix and returns how
// many it aborted. S3 keeps (and bills) the parts of an open multipart upload until it is
// completed or aborted, and they are listed nowhere else: a resumable upload given up
// leaves them behind.
func (s *Store) AbortMultipartUploads(ctx context.Context, prefix string) (int, error) {
	open, err := s.ListMultipartUploads(ctx, prefix)
	if err != nil {
		return 0, err
	}
	for i, u := range open {
		if err := s.AbortMultipartUpload(ctx, u.Key, u.UploadID); err != nil {
			return i, err
		}
	}
	return len(open), nil
}

// Multipart is an open multipart upload.
type Multipart struct {
	Key, UploadID string
	Initiated     time.Time
}

// ListMultipartUploads returns the multipart uploads open under prefix.
func (s *Store) ListMultipartUploads(ctx context.Context, prefix string) ([]Multipart, error) {
	var out []Multipart
	p := s3.NewListMultipartUploadsPaginator(s.s3, &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, translate("list multipart uploads "+prefix, err)
		}
		for _, u := range page.Uploads {
			out = append(out, Multipart{Key: aws.ToString(u.Key), UploadID: aws.ToString(u.UploadId), Initiated: aws.ToTime(u.Initiated)})
		}
	}
	return out, nil
}

// AbortMultipartUpload aborts one multipart upload; one already gone is no error.
func (s *Store) AbortMultipartUpload(ctx context.Context, key, uploadID string) error {
	_, err := s.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: aws.String(uploadID)})
	var gone *types.NoSuchUpload
	if err != nil && !errors.As(err, &gone) {
		return translate("abort multipart upload "+key, err)
	}
	return nil
}
