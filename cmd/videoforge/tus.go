package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/uploads"
)

// tusFlags are the settings of resumable uploads kept in the bucket (catalog).
type tusFlags struct {
	partSize, tempDir flag.Getter
}

// tus returns the settings of resumable uploads in the bucket, declaring them the
// first time: the catalog's upload flags hold them, and runCatalog checks them.
func (f *flags) tus() *tusFlags {
	if f.Lookup("tus-part-size") == nil {
		f.int("tus-part-size", "TUS_PART_SIZE", 8<<20,
			"bytes of a resumable upload buffered on disk before they go to S3 as one part (at least 5 MiB, S3's smallest part)")
		f.string("tus-temp-dir", "TUS_TEMP_DIR", "", "folder for those buffers (the system's temporary folder when empty)")
	}
	return &tusFlags{partSize: f.Lookup("tus-part-size").Value.(flag.Getter), tempDir: f.Lookup("tus-temp-dir").Value.(flag.Getter)}
}

func (t *tusFlags) validate() error {
	if n := t.partSize.Get().(int); n < 5<<20 {
		return fmt.Errorf("TUS_PART_SIZE=%d: want at least 5242880 (5 MiB), S3's smallest part", n)
	}
	return nil
}

// inBucket is the upload side's setting of resumable uploads in the bucket, locked
// across instances through db.
func (t *tusFlags) inBucket(db *postgres.DB) uploads.Tus {
	return uploads.Tus{InBucket: true, PartSize: int64(t.partSize.Get().(int)), TempDir: t.tempDir.Get().(string),
		Locker: postgres.NewUploadLocker(db, nil)}
}

// storageConfig is the bucket of the catalog's uploads.
func (c *catalogUploadFlags) storageConfig() storage.Config {
	return storage.Config{Bucket: *c.bucket, Region: *c.region, Endpoint: *c.endpoint, AccessKey: *c.key, SecretKey: *c.secret}
}

// withBucketTus returns inner, which serves resumable uploads in the bucket already
// (catalogUploadFlags.setup): its other arguments are what the upload side now takes
// from the catalog's flags and the gallery server.
func withBucketTus(_ context.Context, inner func(*postgres.DB) (*catalog.Uploads, func(), error), _ *storage.Store,
	_ uploads.Limits, _ *tusFlags, _ func(context.Context, string) (*auth.User, error),
	_ *func(*catalog.Server)) func(*postgres.DB) (*catalog.Uploads, func(), error) {
	return inner
}
