package revoke

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudfrontkeyvaluestore"
	kvstypes "github.com/aws/aws-sdk-go-v2/service/cloudfrontkeyvaluestore/types"
)

// Limits of the AWS APIs the AWS store keeps within.
const (
	// MaxKeysPerUpdate is the number of puts and deletes one UpdateKeys takes (the
	// KeyValueStore's quota: 50 keys or 3 MB per request).
	MaxKeysPerUpdate = 50
	// MaxInvalidationPaths is how many wildcard paths one CreateInvalidation carries:
	// CloudFront allows 15 wildcard paths in progress at a time; more are refused with
	// TooManyInvalidationsInProgress, which the pusher retries after a back-off.
	MaxInvalidationPaths = 15
	// maxConflicts bounds the retries of one UpdateKeys whose ETag went stale.
	maxConflicts = 10
)

// KVSAPI is the part of the KeyValueStore client the AWS store uses.
type KVSAPI interface {
	DescribeKeyValueStore(ctx context.Context, in *cloudfrontkeyvaluestore.DescribeKeyValueStoreInput, optFns ...func(*cloudfrontkeyvaluestore.Options)) (*cloudfrontkeyvaluestore.DescribeKeyValueStoreOutput, error)
	GetKey(ctx context.Context, in *cloudfrontkeyvaluestore.GetKeyInput, optFns ...func(*cloudfrontkeyvaluestore.Options)) (*cloudfrontkeyvaluestore.GetKeyOutput, error)
	UpdateKeys(ctx context.Context, in *cloudfrontkeyvaluestore.UpdateKeysInput, optFns ...func(*cloudfrontkeyvaluestore.Options)) (*cloudfrontkeyvaluestore.UpdateKeysOutput, error)
}

// InvalidationAPI is the part of the CloudFront client the AWS store uses.
type InvalidationAPI interface {
	CreateInvalidation(ctx context.Context, in *cloudfront.CreateInvalidationInput, optFns ...func(*cloudfront.Options)) (*cloudfront.CreateInvalidationOutput, error)
}

// AWS is the Store of a CloudFront distribution: revocations live in the
// KeyValueStore its playback function reads, and deleted videos are invalidated in
// its cache. The KeyValueStore also holds the token key; AWS only ever writes keys
// under revoked/.
//
// The KeyValueStore's requests are signed with SigV4A, which the SDK's client does
// itself (its internal/v4a module comes with it); credentials need
// cloudfront-keyvaluestore:DescribeKeyValueStore, GetKey and UpdateKeys on the store,
// and cloudfront:CreateInvalidation on the distribution.
type AWS struct {
	kvs            KVSAPI
	cf             InvalidationAPI
	kvsARN, distID string
}

// NewAWS returns the store for the KeyValueStore kvsARN and the distribution distID.
// A client built with config.LoadDefaultConfig serves for both; CloudFront's region
// is us-east-1 whatever the configuration says, the KeyValueStore's endpoint is global.
func NewAWS(cfg aws.Config, kvsARN, distID string) (*AWS, error) {
	if kvsARN == "" || distID == "" {
		return nil, errors.New("revoke: the AWS store needs both a KeyValueStore ARN and a distribution id")
	}
	kvs := cloudfrontkeyvaluestore.NewFromConfig(cfg)
	cf := cloudfront.NewFromConfig(cfg, func(o *cloudfront.Options) { o.Region = "us-east-1" })
	return NewAWSWithClients(kvs, cf, kvsARN, distID), nil
}

// NewAWSWithClients returns the store on clients made elsewhere.
func NewAWSWithClients(kvs KVSAPI, cf InvalidationAPI, kvsARN, distID string) *AWS {
	return &AWS{kvs: kvs, cf: cf, kvsARN: kvsARN, distID: distID}
}

// Put raises each entry's key to its generation. A key that already holds a higher
// one keeps it, so that a push delayed behind a newer one never lowers it: the store
// is read after its ETag is taken, and UpdateKeys is sent with that ETag, so a write
// that came in between fails it and the whole read and write are tried again.
func (s *AWS) Put(ctx context.Context, entries []Entry) error {
	for part := range slices.Chunk(entries, MaxKeysPerUpdate) {
		if err := s.update(ctx, part, true); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes the entries' keys, except those holding a higher generation than the
// entry (revoked again since the entry was read).
func (s *AWS) Delete(ctx context.Context, entries []Entry) error {
	for part := range slices.Chunk(entries, MaxKeysPerUpdate) {
		if err := s.update(ctx, part, false); err != nil {
			return err
		}
	}
	return nil
}

func (s *AWS) update(ctx context.Context, entries []Entry, put bool) error {
	for attempt := 1; ; attempt++ {
		d, err := s.kvs.DescribeKeyValueStore(ctx, &cloudfrontkeyvaluestore.DescribeKeyValueStoreInput{KvsARN: &s.kvsARN})
		if err != nil {
			return fmt.Errorf("revoke: describe KeyValueStore: %w", err)
		}
		if d.ETag == nil {
			return errors.New("revoke: describe KeyValueStore: no ETag in the answer")
		}
		in := &cloudfrontkeyvaluestore.UpdateKeysInput{KvsARN: &s.kvsARN, IfMatch: d.ETag}
		for _, e := range entries {
			held, ok, err := s.get(ctx, Key(e.VideoID))
			if err != nil {
				return err
			}
			switch {
			case put && (!ok || held < e.Gen):
				in.Puts = append(in.Puts, kvstypes.PutKeyRequestListItem{
					Key: aws.String(Key(e.VideoID)), Value: aws.String(strconv.FormatInt(e.Gen, 10))})
			case !put && ok && held <= e.Gen:
				in.Deletes = append(in.Deletes, kvstypes.DeleteKeyRequestListItem{Key: aws.String(Key(e.VideoID))})
			}
		}
		if len(in.Puts)+len(in.Deletes) == 0 {
			return nil
		}
		_, err = s.kvs.UpdateKeys(ctx, in)
		if err == nil {
			return nil
		}
		if !staleETag(err) || attempt == maxConflicts {
			return fmt.Errorf("revoke: update KeyValueStore (%d puts, %d deletes): %w", len(in.Puts), len(in.Deletes), err)
		}
	}
}

// get reads a key's generation; ok is false when the key is not there. A value that
// is not a number (never written by this package) counts as generation 0.
func (s *AWS) get(ctx context.Context, key string) (gen int64, ok bool, err error) {
	out, err := s.kvs.GetKey(ctx, &cloudfrontkeyvaluestore.GetKeyInput{KvsARN: &s.kvsARN, Key: &key})
	var nf *kvstypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("revoke: get key %s: %w", key, err)
	}
	gen, _ = strconv.ParseInt(aws.ToString(out.Value), 10, 64)
	return gen, true, nil
}

// staleETag reports whether UpdateKeys failed because the store changed since its
// ETag was read: a ConflictException, or a 412 Precondition Failed.
func staleETag(err error) bool {
	var conflict *kvstypes.ConflictException
	if errors.As(err, &conflict) {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusPreconditionFailed
}

// Invalidate asks CloudFront to drop the paths from its cache, in requests of at most
// MaxInvalidationPaths paths, each with a CallerReference of its own.
func (s *AWS) Invalidate(ctx context.Context, paths []string) error {
	for part := range slices.Chunk(paths, MaxInvalidationPaths) {
		ref, err := callerReference()
		if err != nil {
			return err
		}
		_, err = s.cf.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{
			DistributionId: &s.distID,
			InvalidationBatch: &cftypes.InvalidationBatch{
				CallerReference: &ref,
				Paths:           &cftypes.Paths{Quantity: aws.Int32(int32(len(part))), Items: part},
			},
		})
		if err != nil {
			return fmt.Errorf("revoke: invalidate %d paths: %w", len(part), err)
		}
	}
	return nil
}

// callerReference is unique per request: CloudFront takes a repeated reference with
// the same paths for the earlier request, and refuses it with other paths.
func callerReference() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("revoke: caller reference: %w", err)
	}
	return "videoforge-revoke-" + strconv.FormatInt(time.Now().UnixNano(), 10) + "-" + hex.EncodeToString(b[:]), nil
}
