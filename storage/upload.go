package storage

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Size returns the size of the object at key; ENOTFOUND when it does not exist.
func (s *Store) Size(ctx context.Context, key string) (int64, error) {
	o, err := s.Head(ctx, key)
	if err != nil {
		return 0, err
	}
	return o.Size, nil
}

// Sniff returns the media type of the object's first 512 bytes, as
// http.DetectContentType sees them.
func (s *Store) Sniff(ctx context.Context, key string) (string, error) {
	out, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), Range: aws.String("bytes=0-511")})
	if err != nil {
		return "", translate("sniff "+key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, 512))
	if err != nil {
		return "", translate("sniff "+key, err)
	}
	return http.DetectContentType(b), nil
}

// PresignPut returns a URL that lets whoever holds it PUT the object at key until
// expires, without credentials of their own.
func (s *Store) PresignPut(ctx context.Context, key string, expires time.Time) (string, error) {
	req, err := s3.NewPresignClient(s.s3).PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)},
		s3.WithPresignExpires(time.Until(expires)))
	if err != nil {
		return "", translate("presign "+key, err)
	}
	return req.URL, nil
}
