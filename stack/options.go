package stack

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/catalog/relay"
	"github.com/videoforge/videoforge/catalog/revoke"
	"github.com/videoforge/videoforge/client"
	"github.com/videoforge/videoforge/edge"
	"github.com/videoforge/videoforge/playback"
	"github.com/videoforge/videoforge/schema"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/transcoder"
	"github.com/videoforge/videoforge/uploads"
)

// Options is the whole configuration of a command: what Parse fills from flags and the
// environment, and what New builds the stack from. Tests fill one directly.
type Options struct {
	// Command is the command the options are for ("dev", "catalog", "edge", "relay",
	// "transcoder"); it chooses the roles New runs.
	Command string

	Dev        DevOptions
	DB         DBOptions
	NATS       NATSOptions
	Auth       AuthOptions
	AWSRegion  string
	Gallery    GalleryOptions
	Playback   PlaybackOptions
	Relay      RelayOptions
	Revocation RevocationOptions
	Edge       edge.Config // the playback and NATS fields come from Playback and NATS
	Uploads    UploadOptions
	S3         storage.Config // the region comes from AWSRegion
	SQS        SQSOptions
	Transcoder transcoder.Config
	// TranscoderMetricsAddr is where a transcoder without a gallery serves /metrics.
	TranscoderMetricsAddr string
	// ShutdownGrace bounds how long the gallery's and the edge's requests in flight
	// may finish at shutdown.
	ShutdownGrace time.Duration
	Client        ClientOptions
	// LogFormat is how the command logs: text (the default) or JSON, one object a line.
	LogFormat LogFormat
}

// DevOptions are the settings of the dev stack's embedded parts.
type DevOptions struct {
	Data     string // data folder: database, NATS store, objects, keys
	NATSPort int    // the embedded nats-server's client port; 0 picks one
}

// DBOptions locate the catalog's database: a URL, or the seed's DB_* parts.
type DBOptions struct {
	URL                                       string
	Host, Port, Name, User, Password, SSLMode string
	Schema                                    string
	StatementTimeout                          time.Duration
	Migrate                                   bool // apply migrations before serving (catalog)
	// ReadURL is a read replica of the same database (catalog): the gallery's listing
	// and search read from it; empty reads everything from the primary.
	ReadURL string
}

// NATSOptions are the bus's settings.
type NATSOptions struct {
	URL      string // with the role's user in it; dev starts a server when empty
	Replicas int
}

// AuthOptions say whose tokens are accepted: a Cognito pool, or any OIDC issuer.
type AuthOptions struct{ JWKSURL, Issuer, ClientID, PoolID string }

// GalleryOptions are the gallery API's settings.
type GalleryOptions struct {
	Addr        string
	CORSOrigins []string
	Relay       bool // run the relay in the catalog's process when NATS is set
	// StreamAPI and CognitoDomain tell the web app's pages where the streaming API is
	// and how users sign in (web.Config).
	StreamAPI, CognitoDomain string
}

// PlaybackOptions turn stored object keys into media URLs.
type PlaybackOptions struct {
	BaseURL    string
	Key        tokenKey
	TTL        time.Duration
	SignPublic bool
}

// SetKey sets the playback signing key.
func (p *PlaybackOptions) SetKey(key []byte) { p.Key = tokenKey{key: key, set: len(key) > 0} }

// RelayOptions are the standalone relay's settings; in-process relays take the lease's
// defaults.
type RelayOptions struct {
	MetricsAddr              string
	LeaseTimeout, LeaseRenew time.Duration
}

// RevocationOptions are the revocation pusher's settings.
type RevocationOptions struct {
	KVSARN, DistributionID string
	Interval               time.Duration
}

// UploadOptions are the upload side's limits and resumable-upload buffers.
type UploadOptions struct {
	MaxSize     int64
	Types       []string
	URLLifetime time.Duration
	TusPartSize int
	TusTempDir  string
}

// SQSOptions name the SQS job queue; empty uses the JetStream work queue.
type SQSOptions struct{ QueueURL, DeadLetterURL, Endpoint string }

// ClientOptions are the upload and token commands' settings.
type ClientOptions struct {
	Gallery, Edge, Token, User           string
	TokenTTL, Timeout                    time.Duration
	File, Title, Description, Visibility string
	Tus, NoWait                          bool
	ChunkSize                            int64
}

// DefaultDataDir is the dev stack's data folder unless VIDEOFORGE_DATA says otherwise.
const DefaultDataDir = ".videoforge"

// DefaultOptions are the defaults every setting shows in -h.
func DefaultOptions() Options {
	limits := uploads.DefaultLimits()
	return Options{
		Dev:        DevOptions{Data: DefaultDataDir, NATSPort: defaultNATSPort},
		DB:         DBOptions{Port: "5432", User: "postgres", SSLMode: "prefer", Schema: schema.DefaultSchema, StatementTimeout: 10 * time.Second},
		NATS:       NATSOptions{Replicas: 1},
		Gallery:    GalleryOptions{Addr: ":8080", CORSOrigins: []string{"*"}, Relay: true, StreamAPI: "/api/stream"},
		Playback:   PlaybackOptions{TTL: edge.DefaultTokenTTL},
		Relay:      RelayOptions{LeaseTimeout: 5 * time.Second, LeaseRenew: time.Second},
		Revocation: RevocationOptions{Interval: 5 * time.Second},
		Edge: edge.Config{Addr: edge.DefaultAddr, Staleness: edge.DefaultStaleness, CORSOrigins: []string{"*"},
			ReadTimeout: edge.DefaultReadTimeout, WriteTimeout: edge.DefaultWriteTimeout, IdleTimeout: edge.DefaultIdleTimeout,
			MissRate: edge.DefaultMissRate, MissBurst: edge.DefaultMissBurst, NegativeEntries: edge.DefaultNegativeEntries,
			TombstoneRetention: edge.DefaultTombstoneRetention},
		Uploads:       UploadOptions{MaxSize: limits.MaxSize, Types: []string{"video/*", "application/octet-stream"}, URLLifetime: limits.URLLifetime, TusPartSize: 8 << 20},
		Transcoder:    transcoder.DefaultConfig(),
		ShutdownGrace: 10 * time.Second,
		LogFormat:     "text",
		Client: ClientOptions{Gallery: "http://127.0.0.1:8080", Edge: "http://127.0.0.1:8081", TokenTTL: 24 * time.Hour,
			Timeout: 30 * time.Minute, Visibility: "public", ChunkSize: client.DefaultChunkSize},
	}
}

// database returns the database configuration, building the URL from the seed's DB_*
// settings when no URL was given.
func (o *Options) database(app string) (postgres.Config, error) {
	u := o.DB.URL
	if u == "" {
		var err error
		if u, err = o.DB.seedURL(); err != nil {
			return postgres.Config{}, err
		}
	}
	cfg := postgres.Config{URL: u, Schema: o.DB.Schema, StatementTimeout: o.DB.StatementTimeout, AppName: app}
	return cfg, cfg.Validate()
}

// readDatabase returns the configuration of the catalog's read replica
// (DATABASE_READ_URL), or false when none is set. It has the primary's schema and
// statement timeout and, when its URL names no password, the primary's password (an
// RDS replica has the primary's users, and the password is a secret file beside the
// URL, which is not): the URL is never shown in an error, as it may hold one.
func (o *Options) readDatabase(primary postgres.Config, app string) (postgres.Config, bool, error) {
	u := strings.TrimSpace(o.DB.ReadURL)
	if u == "" {
		return postgres.Config{}, false, nil
	}
	rc, err := pgconn.ParseConfig(u)
	if err != nil {
		return postgres.Config{}, false, errors.New("DATABASE_READ_URL: not a PostgreSQL URL or keyword/value string")
	}
	if rc.Password == "" {
		pc, err := pgconn.ParseConfig(primary.URL)
		if err == nil && pc.Password != "" {
			if u, err = withPassword(u, pc.Password); err != nil {
				return postgres.Config{}, false, err
			}
		}
	}
	u = shuffleHosts(u)
	cfg := postgres.Config{URL: u, Schema: primary.Schema, StatementTimeout: primary.StatementTimeout, AppName: app}
	if err := cfg.Validate(); err != nil {
		return postgres.Config{}, false, errors.New("DATABASE_READ_URL: not a usable PostgreSQL URL")
	}
	return cfg, true, nil
}

// shuffleHosts puts the hosts of a URL naming several (postgres://u@h1:5432,h2:5432/db,
// several replicas) in a random order: pgx connects to the first that answers, so each
// catalog process reads from a random replica and moves on to the next when it fails.
func shuffleHosts(conn string) string {
	scheme, rest, ok := strings.Cut(conn, "://")
	if !ok {
		return conn
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	hosts := strings.Split(rest[at+1:end], ",")
	if len(hosts) < 2 {
		return conn
	}
	rand.Shuffle(len(hosts), func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] })
	return scheme + "://" + rest[:at+1] + strings.Join(hosts, ",") + rest[end:]
}

// withPassword adds password to a PostgreSQL URL (postgres://) or keyword/value string.
func withPassword(conn, password string) (string, error) {
	if !strings.Contains(conn, "://") {
		r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
		return conn + " password='" + r.Replace(password) + "'", nil
	}
	u, err := url.Parse(conn)
	if err != nil {
		return "", errors.New("DATABASE_READ_URL: not a PostgreSQL URL")
	}
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String(), nil
}

// Database is the database configuration of the migrate command.
func (o *Options) Database() (postgres.Config, error) { return o.database("videoforge-" + o.Command) }

// seedURL builds a PostgreSQL URL from the parts the seed's services were given.
func (d DBOptions) seedURL() (string, error) {
	if d.Host == "" {
		return "", errors.New("no database configured: set DATABASE_URL, or DB_HOST and DB_NAME (with DB_PORT, DB_USER, DB_PASSWORD)")
	}
	if d.Name == "" {
		return "", errors.New("DB_HOST is set but DB_NAME is not")
	}
	for _, c := range d.Port {
		if c < '0' || c > '9' {
			return "", fmt.Errorf("DB_PORT=%q: not a port number", d.Port)
		}
	}
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(d.Host, d.Port), Path: "/" + d.Name, RawQuery: "sslmode=" + url.QueryEscape(d.SSLMode)}
	if d.Password != "" {
		u.User = url.UserPassword(d.User, d.Password)
	} else {
		u.User = url.User(d.User)
	}
	return u.String(), nil
}

// auth returns the token verification settings.
func (o *Options) auth() (auth.Config, error) {
	var cfg auth.Config
	a := o.Auth
	if a.PoolID != "" {
		var err error
		if cfg, err = auth.CognitoConfig(o.AWSRegion, a.PoolID, a.ClientID); err != nil {
			return cfg, fmt.Errorf("COGNITO_USER_POOL_ID: %w", err)
		}
	}
	if a.JWKSURL != "" {
		cfg.JWKSURL = a.JWKSURL
	}
	if a.Issuer != "" {
		cfg.Issuer = a.Issuer
	}
	cfg.ClientID = a.ClientID
	if cfg.JWKSURL == "" || cfg.Issuer == "" {
		return cfg, errors.New("no token issuer configured: set COGNITO_USER_POOL_ID (and COGNITO_CLIENT_ID), or JWKS_URL and JWT_ISSUER")
	}
	return cfg, cfg.Validate()
}

// playback returns the gallery's playback settings, or nil when no base URL is set. A
// key is required with a base URL, as unlisted and private videos need signed URLs.
func (o *Options) playback() (*catalog.Playback, error) {
	p := o.Playback
	if p.BaseURL == "" {
		return nil, nil
	}
	if u, err := url.Parse(p.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("PLAYBACK_BASE_URL=%q: want an absolute http(s) URL", p.BaseURL)
	}
	if !p.Key.set {
		_, err := playback.ParseKey("")
		return nil, fmt.Errorf("PLAYBACK_TOKEN_KEY: %w", err)
	}
	return &catalog.Playback{BaseURL: p.BaseURL, TokenKey: p.Key.key, TokenTTL: p.TTL, SignPublic: p.SignPublic}, nil
}

// streams returns the NATS streams' options.
func (o *Options) streams() (bus.StreamOptions, error) {
	if r := o.NATS.Replicas; r < 1 || r > 5 {
		return bus.StreamOptions{}, fmt.Errorf("NATS_STREAM_REPLICAS=%d: want 1 to 5", r)
	}
	return bus.StreamOptions{Replicas: o.NATS.Replicas}, nil
}

// relay returns the standalone relay's lease settings.
func (o *Options) relay() (relay.Config, error) {
	r := o.Relay
	rc := relay.Config{LeaseTimeout: r.LeaseTimeout, LeaseRenew: r.LeaseRenew}
	if r.LeaseTimeout <= 0 || r.LeaseRenew <= 0 || rc.Validate() != nil {
		return rc, fmt.Errorf("RELAY_LEASE_TIMEOUT=%v, RELAY_LEASE_RENEW=%v: want positive durations, the timeout at least three renewals",
			r.LeaseTimeout, r.LeaseRenew)
	}
	return rc, nil
}

// revocationMargin is added to the longest token life before a revocation is dropped:
// an edge that missed the change keeps signing the old generation for up to its
// staleness (EDGE_STALENESS, 30 s by default), and the clocks of PostgreSQL and the
// CDN may differ a little.
const revocationMargin = time.Minute

// revocations returns the pusher's settings; the key store and the distribution are
// both set or both empty.
func (o *Options) revocations() (revocations, error) {
	arn, dist := strings.TrimSpace(o.Revocation.KVSARN), strings.TrimSpace(o.Revocation.DistributionID)
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
	if o.Revocation.Interval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("REVOCATION_INTERVAL=%v: want at least 100ms", o.Revocation.Interval))
	}
	if o.Playback.TTL < time.Minute {
		errs = append(errs, fmt.Errorf("PLAYBACK_TOKEN_TTL=%v: want at least 1m", o.Playback.TTL))
	}
	if err := errors.Join(errs...); err != nil {
		return revocations{}, err
	}
	return revocations{kvsARN: arn, distID: dist, pusher: revoke.Config{
		TokenLife: o.Playback.TTL + playback.ExpiryWindow + revocationMargin,
		Interval:  o.Revocation.Interval,
	}}, nil
}

// revocations is what the pusher runs with.
type revocations struct {
	kvsARN, distID string
	pusher         revoke.Config
}

// uploadLimits returns the upload side's limits.
func (o *Options) uploadLimits() (uploads.Limits, error) {
	u := o.Uploads
	l := uploads.Limits{MaxSize: u.MaxSize, Types: u.Types, URLLifetime: u.URLLifetime}
	switch {
	case l.MaxSize <= 0:
		return l, fmt.Errorf("UPLOAD_MAX_SIZE=%d: want a positive number of bytes", u.MaxSize)
	case len(l.Types) == 0:
		return l, errors.New("UPLOAD_TYPES is empty")
	case l.URLLifetime < time.Minute:
		return l, fmt.Errorf("UPLOAD_URL_TTL=%v: want at least 1m", l.URLLifetime)
	case u.TusPartSize < 5<<20:
		return l, fmt.Errorf("TUS_PART_SIZE=%d: want at least 5242880 (5 MiB), S3's smallest part", u.TusPartSize)
	}
	return l, nil
}

// transcoder returns the transcoder's settings.
func (o *Options) transcoder() (transcoder.Config, error) {
	cfg := o.Transcoder
	switch {
	case cfg.FFmpeg.MaxFPS < 0:
		return cfg, fmt.Errorf("TRANSCODER_MAX_FPS=%v: not a frame rate", cfg.FFmpeg.MaxFPS)
	case cfg.Limits.MaxSize < 0:
		return cfg, fmt.Errorf("TRANSCODER_MAX_SIZE=%d: not a number of bytes", cfg.Limits.MaxSize)
	case cfg.Workers < 0:
		return cfg, fmt.Errorf("TRANSCODER_WORKERS=%d: want 0 (dev: no transcoder in this process) or more", cfg.Workers)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("transcoder: %w", err)
	}
	return cfg, nil
}
