package storage

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// AbortMultipartUploads aborts every multipart upload open under prefix and returns how
// many it aborted. S3 keeps (and bills) the parts of an open multipart upload until it is
// completed or aborted, and they are listed nowhere else: a resumable upload given up
// leaves them behind.
func (s *Store) AbortMultipartUploads(ctx context.Context, prefix string) (int, error) {
	n := 0
	p := s3.NewListMultipartUploadsPaginator(s.s3, &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return n, translate("list multipart uploads "+prefix, err)
		}
		for _, u := range page.Uploads {
			_, err := s.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(s.bucket), Key: u.Key, UploadId: u.UploadId})
			var gone *types.NoSuchUpload
			if err != nil && !errors.As(err, &gone) {
				return n, translate("abort multipart upload "+aws.ToString(u.Key), err)
			}
			n++
		}
	}
	return n, nil
}
