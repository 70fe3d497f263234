package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/catalog/revoke"
	"github.com/videoforge/videoforge/edge"
)

// revocationFlags are the settings of the revocation pusher that runs beside the relay.
type revocationFlags struct {
	kvsARN, distID *string
	interval, ttl  *time.Duration
}

func (f *flags) revocation() *revocationFlags {
	r := f.revocationWith(nil)
	r.ttl = f.duration("playback-token-ttl", "PLAYBACK_TOKEN_TTL", edge.DefaultTokenTTL,
		"shortest life of a playback token, as the edges sign them: revocations are kept this long plus the expiry window and a margin")
	return r
}

// revocationWith declares the pusher's flags but the token life, which is ttl: for a
// role whose playback flags declare it already (catalog).
func (f *flags) revocationWith(ttl *time.Duration) *revocationFlags {
	return &revocationFlags{ttl: ttl,
		kvsARN: f.string("revocation-kvs-arn", "REVOCATION_KVS_ARN", "",
			"ARN of the CloudFront KeyValueStore the playback function reads revocations from; with REVOCATION_DISTRIBUTION_ID, revocations are pushed there, else old ones are only pruned"),
		distID: f.string("revocation-distribution-id", "REVOCATION_DISTRIBUTION_ID", "",
			"CloudFront distribution in which deleted videos' objects are invalidated"),
		interval: f.duration("revocation-interval", "REVOCATION_INTERVAL", 5*time.Second,
			"how often revocations are read from PostgreSQL and pushed"),
	}
}

// revocationMargin is added to the longest token life before a revocation is dropped:
// an edge that missed the change keeps signing the old generation for up to its
// staleness (EDGE_STALENESS, 30 s by default), and the clocks of PostgreSQL and the
// CDN may differ a little.
const revocationMargin = time.Minute

// revocationConfig is what the pusher runs with; kvsARN and distID are both set or
// both empty.
type revocationConfig struct {
	kvsARN, distID string
	pusher         revoke.Config
}

func (r *revocationFlags) config() (revocationConfig, error) {
	arn, dist := strings.TrimSpace(*r.kvsARN), strings.TrimSpace(*r.distID)
	var errs []error
	if (arn == "") != (dist == "") {
		errs = append(errs, fmt.Errorf("REVOCATION_KVS_ARN=%q, REVOCATION_DISTRIBUTION_ID=%q: set both to push revocations to CloudFront, or neither", arn, dist))
	}
	if arn != "" && (!strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":key-value-store/")) {
		errs = append(errs, fmt.Errorf("REVOCATION_KVS_ARN=%q: want a KeyValueStore ARN (arn:aws:cloudfront::<account>:key-value-store/<id>)", arn))
	}
	if strings.ContainsAny(dist, "/: ") {
		errs = append(errs, fmt.Errorf("REVOCATION_DISTRIBUTION_ID=%q: want a distribution id such as E2EXAMPLE1234", dist))
	}
	if *r.interval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("REVOCATION_INTERVAL=%v: want at least 100ms", *r.interval))
	}
	if *r.ttl < time.Minute {
		errs = append(errs, fmt.Errorf("PLAYBACK_TOKEN_TTL=%v: want at least 1m", *r.ttl))
	}
	if err := errors.Join(errs...); err != nil {
		return revocationConfig{}, err
	}
	return revocationConfig{kvsARN: arn, distID: dist, pusher: revoke.Config{
		TokenLife: *r.ttl + edge.ExpiryWindow + revocationMargin,
		Interval:  *r.interval,
	}}, nil
}

// devRevocations is the pusher of the dev stack: no key store (its media server asks
// the edge), so it only prunes revocations older than any token the edge signs.
func devRevocations() revocationConfig {
	return revocationConfig{pusher: revoke.Config{TokenLife: edge.DefaultTokenTTL + edge.ExpiryWindow + revocationMargin,
		Interval: 5 * time.Second}}
}

// pushRevocations is the revocation pusher: it moves revocations to CloudFront's
// KeyValueStore (or, without one, only prunes old rows) until ctx ends.
func pushRevocations(ctx context.Context, dbCfg postgres.Config, rc revocationConfig, reg prometheus.Registerer, log *slog.Logger) error {
	var store revoke.Store
	if rc.kvsARN != "" {
		awsCfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return fmt.Errorf("revocations: load AWS config: %w", err)
		}
		if awsCfg.Region == "" {
			awsCfg.Region = "us-east-1" // both APIs are global; the clients only need one
		}
		s, err := revoke.NewAWS(awsCfg, rc.kvsARN, rc.distID)
		if err != nil {
			return err
		}
		store = s
	}
	dbCfg.MaxConns = 2
	dbCfg.AppName = "videoforge-revoke"
	db, err := postgres.Open(ctx, dbCfg)
	if err != nil {
		return err
	}
	defer db.Close()
	pc := rc.pusher
	pc.Metrics = reg
	p, err := revoke.New(postgres.NewRevocationLog(db), store, pc, log)
	if err != nil {
		return err
	}
	return p.Run(ctx)
}
