// Package storage keeps VideoForge's objects (uploads, HLS ladders, thumbnails,
// storyboards) in S3 or any S3-compatible server through one aws-sdk-go-v2 client.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/videoforge/videoforge"
)

// PartSize is the size of one part of a multipart upload or ranged download; objects
// larger than it travel in parts, several at once.
const PartSize = 8 << 20

// Cache lifetimes. Playlists are short-lived so that a re-encode shows up; segments and
// images never change under their name.
const (
	CachePlaylist  = "public, max-age=10"
	CacheImmutable = "public, max-age=31536000, immutable"
	CacheDefault   = "private, max-age=0"
)

// Config says which bucket to use and how to reach it.
type Config struct {
	Bucket   string // S3_BUCKET_NAME
	Region   string // AWS_REGION; the SDK's default chain when empty
	Endpoint string // S3_ENDPOINT, for S3-compatible servers; path-style addressing
	// AccessKey and SecretKey, when set, replace the SDK's credential chain (for
	// S3-compatible servers); in AWS leave them empty and use a role.
	AccessKey string
	SecretKey string
}

// Validate checks the configuration before anything connects.
func (c Config) Validate() error {
	if c.Bucket == "" {
		return errors.New("S3_BUCKET_NAME is not set")
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return errors.New("S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together")
	}
	return nil
}

// Store is a bucket.
type Store struct {
	s3     *s3.Client
	bucket string
	up     *manager.Uploader
	down   *manager.Downloader
}

// New returns the store of cfg.Bucket.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	} else if cfg.Endpoint != "" {
		opts = append(opts, config.WithRegion("us-east-1"))
	}
	if cfg.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("storage: load AWS config: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			o.UsePathStyle = true
		}
		// Checksums only when the operation needs them: S3-compatible servers differ
		// in their support of the newer trailing checksums.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return NewFromClient(client, cfg.Bucket), nil
}

// NewFromClient returns the store of bucket through an existing client.
func NewFromClient(client *s3.Client, bucket string) *Store {
	return &Store{
		s3:     client,
		bucket: bucket,
		up: manager.NewUploader(client, func(u *manager.Uploader) {
			u.PartSize = PartSize
			u.Concurrency = 4
		}),
		down: manager.NewDownloader(client, func(d *manager.Downloader) {
			d.PartSize = PartSize
			d.Concurrency = 4
		}),
	}
}

// Client returns the underlying S3 client.
func (s *Store) Client() *s3.Client { return s.s3 }

// Bucket returns the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

// EnsureBucket creates the bucket unless it exists (an S3-compatible server of the dev
// stack or of tests; in AWS Terraform makes it).
func (s *Store) EnsureBucket(ctx context.Context) error {
	if _, err := s.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)}); err == nil {
		return nil
	}
	if _, err := s.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		return fmt.Errorf("storage: create bucket %s: %w", s.bucket, err)
	}
	return nil
}

// ContentType returns the media type of an object from its name.
func ContentType(key string) string {
	switch strings.ToLower(path.Ext(key)) {
	case ".m3u8":
		return "application/vnd.apple.mpegurl"
	case ".ts":
		return "video/mp2t"
	case ".m4s":
		return "video/iso.segment"
	case ".mp4":
		return "video/mp4"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".png":
		return "image/png"
	case ".webp":
		return "image/webp"
	case ".vtt":
		return "text/vtt; charset=utf-8"
	}
	if t := mime.TypeByExtension(path.Ext(key)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// CacheControl returns the Cache-Control header of an object from its name.
func CacheControl(key string) string {
	switch strings.ToLower(path.Ext(key)) {
	case ".m3u8", ".vtt":
		return CachePlaylist
	case ".ts", ".m4s", ".mp4", ".jpg", ".jpeg", ".png", ".webp":
		return CacheImmutable
	}
	return CacheDefault
}

// Put stores r under key with the content type and cache header its name calls for.
// Bodies over PartSize go as a multipart upload.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) error {
	_, err := s.up.Upload(ctx, &s3.PutObjectInput{
		Bucket:       aws.String(s.bucket),
		Key:          aws.String(key),
		Body:         r,
		ContentType:  aws.String(ContentType(key)),
		CacheControl: aws.String(CacheControl(key)),
	})
	if err != nil {
		return translate("put "+key, err)
	}
	return nil
}

// PutFile stores the file at name under key.
func (s *Store) PutFile(ctx context.Context, key, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	defer f.Close()
	return s.Put(ctx, key, f)
}

// PutDir stores every file under dir at prefix + its relative path, with the files
// named in last (relative paths) stored after all the others, in that order: a
// player that finds the master playlist then finds everything it points to.
func (s *Store) PutDir(ctx context.Context, dir, prefix string, last ...string) error {
	var first []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !slices.Contains(last, rel) {
			first = append(first, rel)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: put %s: %w", dir, err)
	}
	// A request cut off by ctx may still complete at the server after the caller
	// has moved on (and, say, removed the prefix). So the file in flight when ctx
	// ends gets FinishGrace to be answered, and no file starts after: when PutDir
	// returns, every object it wrote exists and no more will appear.
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(FinishGrace, cancel) })
	defer stop()
	for _, rel := range append(first, last...) {
		if ctx.Err() != nil {
			return fmt.Errorf("storage: put %s: %w", dir, context.Cause(ctx))
		}
		if err := s.PutFile(fctx, prefix+rel, filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
			return err
		}
	}
	return nil
}

// FinishGrace is how long PutDir lets the file in flight finish after its context
// ends.
const FinishGrace = 10 * time.Second

// Object is what Head tells about an object.
type Object struct {
	Size         int64
	ContentType  string
	CacheControl string
	ETag         string // the entity tag, quotes included, as S3 gives it
	VersionID    string // the version in a versioned bucket; "" otherwise
}

// Head returns an object's size and headers; ENOTFOUND when it does not exist.
func (s *Store) Head(ctx context.Context, key string) (*Object, error) {
	out, err := s.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, translate("head "+key, err)
	}
	return &Object{Size: aws.ToInt64(out.ContentLength), ContentType: aws.ToString(out.ContentType),
		CacheControl: aws.ToString(out.CacheControl), ETag: aws.ToString(out.ETag), VersionID: aws.ToString(out.VersionId)}, nil
}

// Seal returns the object at key as it is now, for DownloadSource to read exactly
// that object later; ENOTFOUND when it does not exist.
func (s *Store) Seal(ctx context.Context, key string) (videoforge.Source, error) {
	o, err := s.Head(ctx, key)
	if err != nil {
		return videoforge.Source{}, err
	}
	return videoforge.Source{Key: key, Size: o.Size, ETag: o.ETag, VersionID: o.VersionID}, nil
}

// Download writes the object at key to the file name, in ranged parts for large
// objects, and returns its size.
func (s *Store) Download(ctx context.Context, key, name string) (int64, error) {
	return s.download(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}, name)
}

// DownloadSource writes the sealed object src to the file name: its version when the
// bucket keeps versions, and in any case only while its entity tag is the sealed one,
// checked on every ranged part. An object changed or removed since it was sealed is
// EINVALID, with a message that says so.
func (s *Store) DownloadSource(ctx context.Context, src videoforge.Source, name string) (int64, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(src.Key)}
	if src.ETag != "" {
		in.IfMatch = aws.String(src.ETag)
	}
	if src.VersionID != "" {
		in.VersionId = aws.String(src.VersionID)
	}
	n, err := s.download(ctx, in, name)
	var api smithy.APIError
	switch {
	case videoforge.ErrorCode(err) == videoforge.ENOTFOUND:
		return 0, videoforge.Errorf(videoforge.EINVALID, "the upload %s is gone", src.Key)
	case errors.As(err, &api) && api.ErrorCode() == "PreconditionFailed":
		return 0, videoforge.Errorf(videoforge.EINVALID, "the upload %s was changed after it was completed", src.Key)
	case err != nil:
		return 0, err
	case src.Size > 0 && n != src.Size:
		os.Remove(name)
		return 0, videoforge.Errorf(videoforge.EINVALID, "the upload %s has %d bytes, not the %d it had when completed", src.Key, n, src.Size)
	}
	return n, nil
}

// ReadSource returns the sealed object src from byte off to its end, checked like
// DownloadSource: a source changed or removed since it was sealed is EINVALID. The
// caller closes it. Readers that seek (ffmpeg over the transcoder's source server)
// open one per position.
func (s *Store) ReadSource(ctx context.Context, src videoforge.Source, off int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(src.Key), Range: aws.String(fmt.Sprintf("bytes=%d-", off))}
	if src.ETag != "" {
		in.IfMatch = aws.String(src.ETag)
	}
	if src.VersionID != "" {
		in.VersionId = aws.String(src.VersionID)
	}
	out, err := s.s3.GetObject(ctx, in)
	var api smithy.APIError
	switch {
	case err == nil:
		return out.Body, nil
	case videoforge.ErrorCode(translate("", err)) == videoforge.ENOTFOUND:
		return nil, videoforge.Errorf(videoforge.EINVALID, "the upload %s is gone", src.Key)
	case errors.As(err, &api) && api.ErrorCode() == "PreconditionFailed":
		return nil, videoforge.Errorf(videoforge.EINVALID, "the upload %s was changed after it was completed", src.Key)
	}
	return nil, translate("read "+src.Key, err)
}

func (s *Store) download(ctx context.Context, in *s3.GetObjectInput, name string) (int64, error) {
	key := aws.ToString(in.Key)
	f, err := os.Create(name)
	if err != nil {
		return 0, fmt.Errorf("storage: download %s: %w", key, err)
	}
	n, err := s.down.Download(ctx, f, in)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return 0, translate("download "+key, err)
	}
	return n, nil
}

// Get returns the body of the object at key; the caller closes it.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, translate("get "+key, err)
	}
	return out.Body, nil
}

// List returns the keys under prefix, in lexical order.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.s3, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, translate("list "+prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

// DeletePrefix removes every object under prefix, a thousand per request.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	keys, err := s.List(ctx, prefix)
	if err != nil {
		return err
	}
	for batch := range slices.Chunk(keys, 1000) {
		ids := make([]types.ObjectIdentifier, len(batch))
		for i, k := range batch {
			ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		_, err := s.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(s.bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return translate("delete "+prefix, err)
		}
	}
	return nil
}

// translate turns S3's missing-object answers into ENOTFOUND and wraps the rest.
func translate(op string, err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var api smithy.APIError
	if errors.As(err, &nsk) || errors.As(err, &nf) || (errors.As(err, &api) && (api.ErrorCode() == "NotFound" || api.ErrorCode() == "NoSuchKey")) {
		return fmt.Errorf("storage: %s: %w", op, videoforge.Errorf(videoforge.ENOTFOUND, "object not found"))
	}
	return fmt.Errorf("storage: %s: %w", op, err)
}
