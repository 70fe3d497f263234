package edge

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/videoforge/videoforge/playback"
)

// Defaults applied by Config.withDefaults to zero fields.
const (
	DefaultAddr          = ":8081"
	DefaultTokenTTL      = time.Hour
	DefaultStaleness     = 30 * time.Second
	DefaultNegativeTTL   = 3 * time.Second
	DefaultFlushInterval = 2 * time.Second
	DefaultBatchSize     = 10_000
	DefaultCacheEntries  = 4_000_000
	// DefaultNegativeEntries bounds the ids remembered as unknown.
	DefaultNegativeEntries = 100_000
	// DefaultTombstoneRetention is how long a deleted video's version is remembered.
	DefaultTombstoneRetention = 10 * time.Minute
	// DefaultMissRate and DefaultMissBurst bound the PostgreSQL reads of one client.
	DefaultMissRate  = 20
	DefaultMissBurst = 100
	// Client bounds of the listener.
	DefaultReadTimeout   = 10 * time.Second
	DefaultWriteTimeout  = 10 * time.Second
	DefaultIdleTimeout   = time.Minute
	DefaultUploadTimeout = time.Hour
	DefaultMediaTimeout  = 10 * time.Minute
	DefaultMaxConnsPerIP = 256
	DefaultShutdownGrace = 10 * time.Second
	// ExpiryWindow is the step to which token expiries are rounded up
	// (playback.Expiry), so that the signed answers of an unlisted video are computed
	// once per window, not per request.
	ExpiryWindow = playback.ExpiryWindow
)

// Config holds an edge's settings. The zero value of each optional field takes the
// default named after it.
type Config struct {
	// Addr is where the HTTP server listens (EDGE_ADDR); used by the command only.
	Addr string
	// NATSURL is the NATS server or cluster to take catalog events from (NATS_URL);
	// empty runs on reconciliation with PostgreSQL alone.
	NATSURL string
	// BaseURL is the origin that playback URLs start with (PLAYBACK_BASE_URL): the CDN
	// domain in AWS, the edge itself when embedded.
	BaseURL string
	// TokenKey signs playback tokens (PLAYBACK_TOKEN_KEY or PLAYBACK_TOKEN_KEY_FILE).
	TokenKey []byte
	// TokenTTL is the shortest life of a playback token (PLAYBACK_TOKEN_TTL); tokens
	// live up to ExpiryWindow longer.
	TokenTTL time.Duration
	// SignPublic gives public videos token URLs too (PLAYBACK_SIGN_PUBLIC), for a CDN
	// that cannot tell a public video's folder from a private one's: with it, no object
	// is served without a token, and the CDN's cache key (the path after the token is
	// checked and removed) stays the same for everyone.
	SignPublic bool
	// Staleness bounds how long the edge may serve a changed video's old state when
	// events are lost (EDGE_STALENESS): the reconcile period.
	Staleness time.Duration
	// NegativeTTL is how long an unknown id is remembered as not found.
	NegativeTTL time.Duration
	// FlushInterval is how often counted views are written to PostgreSQL.
	FlushInterval time.Duration
	// BatchSize is the number of videos read per snapshot query.
	BatchSize int
	// CacheEntries bounds the number of videos held.
	CacheEntries int64
	// NegativeEntries bounds the number of unknown ids remembered (EDGE_NEGATIVE_ENTRIES).
	NegativeEntries int64
	// TombstoneRetention is how long a deleted video's version is remembered, so that
	// an older event arriving late is ignored (EDGE_TOMBSTONE_RETENTION). After it, a
	// late event names an id not held, which is read from PostgreSQL before it could
	// be served.
	TombstoneRetention time.Duration
	// MissRate is how many look-ups per second of ids neither held nor remembered as
	// unknown (each a PostgreSQL read) one client address may make (EDGE_MISS_RATE);
	// beyond MissBurst (EDGE_MISS_BURST) it is answered 429 with Retry-After. A
	// negative rate disables the limit.
	MissRate  float64
	MissBurst int
	// ReadTimeout bounds reading a request, its header included, from its first byte
	// (EDGE_READ_TIMEOUT): a client that trickles a header in is cut off after it.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing an answer (EDGE_WRITE_TIMEOUT).
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for its next request
	// (EDGE_IDLE_TIMEOUT).
	IdleTimeout time.Duration
	// UploadTimeout bounds reading an upload's body on the media server's PUT route,
	// the one route given more than ReadTimeout; MediaTimeout bounds writing the media
	// server's objects (DefaultUploadTimeout and DefaultMediaTimeout when zero).
	UploadTimeout, MediaTimeout time.Duration
	// MaxConnsPerIP bounds the open connections of one client address
	// (EDGE_MAX_CONNS_PER_IP); more are answered 429 and closed. Negative: no bound,
	// the default when TrustedProxies is set (the proxies are the only peers then).
	MaxConnsPerIP int
	// TrustedProxies is how many proxies in front of the edge append to
	// X-Forwarded-For (EDGE_TRUSTED_PROXIES): the client address that misses are
	// counted under is then the entry that many places from the right (entries a
	// client wrote itself, further left, are ignored). 0: the connection's address.
	TrustedProxies int
	// ShutdownGrace bounds how long requests in flight may finish once Run's context
	// ends (SHUTDOWN_GRACE); connections still open then are closed.
	ShutdownGrace time.Duration
	// CORSOrigins are the browser origins that may call the streaming API
	// (EDGE_CORS_ORIGINS, comma-separated): "*" for any, the default. Answers carry
	// Access-Control-Allow-Origin for them and OPTIONS preflights are answered.
	CORSOrigins []string
	// Runtime is reported by /health.
	Runtime string
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	if c.Staleness == 0 {
		c.Staleness = DefaultStaleness
	}
	if c.NegativeTTL == 0 {
		c.NegativeTTL = DefaultNegativeTTL
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.CacheEntries == 0 {
		c.CacheEntries = DefaultCacheEntries
	}
	if c.NegativeEntries == 0 {
		c.NegativeEntries = DefaultNegativeEntries
	}
	if c.TombstoneRetention == 0 {
		c.TombstoneRetention = DefaultTombstoneRetention
	}
	if c.MissRate == 0 {
		c.MissRate = DefaultMissRate
	}
	if c.MissBurst == 0 {
		c.MissBurst = DefaultMissBurst
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.UploadTimeout == 0 {
		c.UploadTimeout = DefaultUploadTimeout
	}
	if c.MediaTimeout == 0 {
		c.MediaTimeout = DefaultMediaTimeout
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = DefaultMaxConnsPerIP
		if c.TrustedProxies > 0 {
			c.MaxConnsPerIP = -1
		}
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	if len(c.CORSOrigins) == 0 {
		c.CORSOrigins = []string{"*"}
	}
	if c.Runtime == "" {
		c.Runtime = "go"
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	return c
}

// Validate checks the configuration after defaults are applied and names the
// variable of each bad setting.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if u, err := url.Parse(c.BaseURL); c.BaseURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("PLAYBACK_BASE_URL=%q: want an absolute http(s) URL", c.BaseURL))
	}
	if err := playback.ValidateKey(c.TokenKey); err != nil {
		errs = append(errs, fmt.Errorf("PLAYBACK_TOKEN_KEY: %w", err))
	}
	if c.TokenTTL < time.Minute {
		errs = append(errs, fmt.Errorf("PLAYBACK_TOKEN_TTL=%v: want at least 1m", c.TokenTTL))
	}
	if c.Staleness < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("EDGE_STALENESS=%v: want at least 100ms", c.Staleness))
	}
	if c.NegativeTTL < 0 || c.FlushInterval < 0 || c.BatchSize < 0 || c.CacheEntries < 0 {
		errs = append(errs, errors.New("edge: negative interval, batch size or cache size"))
	}
	if c.NegativeEntries < 0 {
		errs = append(errs, fmt.Errorf("EDGE_NEGATIVE_ENTRIES=%d: want a positive number", c.NegativeEntries))
	}
	if c.TombstoneRetention < 0 {
		errs = append(errs, fmt.Errorf("EDGE_TOMBSTONE_RETENTION=%v: want a positive duration", c.TombstoneRetention))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"EDGE_READ_TIMEOUT", c.ReadTimeout}, {"EDGE_WRITE_TIMEOUT", c.WriteTimeout}, {"EDGE_IDLE_TIMEOUT", c.IdleTimeout},
		{"EDGE_UPLOAD_TIMEOUT", c.UploadTimeout}, {"EDGE_MEDIA_TIMEOUT", c.MediaTimeout}, {"SHUTDOWN_GRACE", c.ShutdownGrace}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s=%v: want a positive duration", d.name, d.v))
		}
	}
	for _, o := range c.CORSOrigins {
		if o == "*" {
			continue
		}
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || strings.HasSuffix(o, "/") {
			errs = append(errs, fmt.Errorf("EDGE_CORS_ORIGINS: %q: want \"*\" or an origin such as https://player.example", o))
		}
	}
	if c.TrustedProxies < 0 {
		errs = append(errs, fmt.Errorf("EDGE_TRUSTED_PROXIES=%d: want 0 or more", c.TrustedProxies))
	}
	if c.MissBurst < 0 {
		errs = append(errs, fmt.Errorf("EDGE_MISS_BURST=%d: want a positive number", c.MissBurst))
	}
	return errors.Join(errs...)
}
