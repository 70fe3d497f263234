package stack

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// A setting is one configuration variable, declared once: the environment variable
// (which may also be given as a file, NAME_FILE, for secrets), the flag, the meaning,
// and the Options field it fills, whose type is its parser and whose value in
// DefaultOptions is its default. A setting without a variable is a flag only.
type setting struct {
	env, flag, doc string
	secret         bool // never shown: not in -h, not in errors
	field          func(*Options) any
}

// settings is every setting of every command. Commands (below) name the ones they read.
var settings = []setting{
	// PostgreSQL
	{env: "DATABASE_URL", flag: "database-url", doc: "PostgreSQL URL; when empty it is built from DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD and DB_SSLMODE (dev: used when it answers, else a private cluster is started)", secret: true, field: func(o *Options) any { return &o.DB.URL }},
	{env: "DATABASE_READ_URL", flag: "database-read-url", doc: "PostgreSQL URL of a read replica of the catalog's database (catalog): the gallery's listing and search read from it and fall back to the primary while it is down; GET /videos/{id} and every write stay on the primary; a URL without a password takes the primary's; empty reads everything from the primary", secret: true, field: func(o *Options) any { return &o.DB.ReadURL }},
	{env: "DB_HOST", flag: "db-host", doc: "PostgreSQL host, when DATABASE_URL is empty", field: func(o *Options) any { return &o.DB.Host }},
	{env: "DB_PORT", flag: "db-port", doc: "PostgreSQL port", field: func(o *Options) any { return &o.DB.Port }},
	{env: "DB_NAME", flag: "db-name", doc: "PostgreSQL database", field: func(o *Options) any { return &o.DB.Name }},
	{env: "DB_USER", flag: "db-user", doc: "PostgreSQL user", field: func(o *Options) any { return &o.DB.User }},
	{env: "DB_PASSWORD", flag: "db-password", doc: "PostgreSQL password", secret: true, field: func(o *Options) any { return &o.DB.Password }},
	{env: "DB_SSLMODE", flag: "db-sslmode", doc: "PostgreSQL sslmode", field: func(o *Options) any { return &o.DB.SSLMode }},
	{env: "DB_SCHEMA", flag: "db-schema", doc: "schema holding the catalog's tables", field: func(o *Options) any { return &o.DB.Schema }},
	{env: "DB_STATEMENT_TIMEOUT", flag: "db-statement-timeout", doc: "bound on each SQL statement", field: func(o *Options) any { return &o.DB.StatementTimeout }},
	{env: "MIGRATE_ON_START", flag: "migrate", doc: "apply pending migrations before serving", field: func(o *Options) any { return &o.DB.Migrate }},

	// NATS
	{env: "NATS_URL", flag: "nats-url", doc: "NATS server(s), comma-separated, with the role's NATS user in the URL (nats://relay:…@host:4222); the catalog runs the relay in-process and the transcoder takes jobs from the JetStream work queue when it is set; dev starts an embedded nats-server when it is empty", secret: true, field: func(o *Options) any { return &o.NATS.URL }},
	{env: "NATS_STREAM_REPLICAS", flag: "nats-replicas", doc: "copies of the CATALOG and JOBS streams in a NATS cluster (1 to 5)", field: func(o *Options) any { return &o.NATS.Replicas }},
	{env: "NATS_PORT", flag: "nats-port", doc: "client port of dev's embedded nats-server on 127.0.0.1; 0 picks a free one", field: func(o *Options) any { return &o.Dev.NATSPort }},

	// The gallery
	{env: "GALLERY_ADDR", flag: "gallery-addr", doc: "address the gallery API listens on", field: func(o *Options) any { return &o.Gallery.Addr }},
	{env: "CORS_ORIGINS", flag: "cors-origins", doc: "comma-separated browser origins allowed to call the API, or *", field: func(o *Options) any { return &o.Gallery.CORSOrigins }},
	{env: "SHUTDOWN_GRACE", flag: "shutdown-grace", doc: "how long requests in flight may finish at shutdown", field: func(o *Options) any { return &o.ShutdownGrace }},
	{env: "STREAM_API_URL", flag: "stream-api-url", doc: "the streaming API's base URL as browsers reach it, for the web app's pages: a path on the same origin (behind API Gateway) or the edge's own origin, which answers CORS", field: func(o *Options) any { return &o.Gallery.StreamAPI }},
	{env: "COGNITO_DOMAIN", flag: "cognito-domain", doc: "the Cognito hosted UI's base URL (https://<prefix>.auth.<region>.amazoncognito.com); with COGNITO_CLIENT_ID the web app signs users in through it (authorization code with PKCE)", field: func(o *Options) any { return &o.Gallery.CognitoDomain }},
	{env: "CATALOG_RELAY", flag: "relay", doc: "run the relay in the catalog's process when NATS_URL is set", field: func(o *Options) any { return &o.Gallery.Relay }},

	// Tokens
	{env: "JWKS_URL", flag: "jwks-url", doc: "URL of the token issuer's JWKS (derived from the Cognito pool when empty)", field: func(o *Options) any { return &o.Auth.JWKSURL }},
	{env: "JWT_ISSUER", flag: "jwt-issuer", doc: "expected iss of tokens (derived from the Cognito pool when empty)", field: func(o *Options) any { return &o.Auth.Issuer }},
	{env: "COGNITO_CLIENT_ID", flag: "jwt-client-id", doc: "expected client_id (access tokens) or aud (id tokens)", field: func(o *Options) any { return &o.Auth.ClientID }},
	{env: "COGNITO_USER_POOL_ID", flag: "cognito-user-pool-id", doc: "Cognito user pool whose tokens are accepted", field: func(o *Options) any { return &o.Auth.PoolID }},
	{env: "AWS_REGION", flag: "aws-region", doc: "AWS region of the Cognito pool, the bucket and the queue (the SDK's default chain, or the pool id's, when empty)", field: func(o *Options) any { return &o.AWSRegion }},

	// Playback
	{env: "PLAYBACK_BASE_URL", flag: "playback-base-url", doc: "origin of media URLs (the CDN domain, or the edge)", field: func(o *Options) any { return &o.Playback.BaseURL }},
	{env: "PLAYBACK_TOKEN_KEY", flag: "playback-token-key", doc: "key signing playback tokens, at least 32 bytes, or base64:<standard base64> of a binary key", secret: true, field: func(o *Options) any { return &o.Playback.Key }},
	{env: "PLAYBACK_TOKEN_TTL", flag: "playback-token-ttl", doc: "shortest life of a playback token; the relay keeps revocations this long plus the expiry window and a margin", field: func(o *Options) any { return &o.Playback.TTL }},
	{env: "PLAYBACK_SIGN_PUBLIC", flag: "playback-sign-public", doc: "give public videos token URLs too, for a CDN that serves no object without a token", field: func(o *Options) any { return &o.Playback.SignPublic }},

	// The relay and the revocation pusher
	{env: "RELAY_METRICS_ADDR", flag: "metrics-addr", doc: "address the relay serves Prometheus metrics on (/metrics); empty serves none", field: func(o *Options) any { return &o.Relay.MetricsAddr }},
	{env: "RELAY_LEASE_TIMEOUT", flag: "lease-timeout", doc: "how long the active relay's PostgreSQL session may stay silent before a standby fences it and takes over", field: func(o *Options) any { return &o.Relay.LeaseTimeout }},
	{env: "RELAY_LEASE_RENEW", flag: "lease-renew", doc: "how often the active relay renews its lease and standbys check it (at most a third of the timeout)", field: func(o *Options) any { return &o.Relay.LeaseRenew }},
	{env: "REVOCATION_KVS_ARN", flag: "revocation-kvs-arn", doc: "ARN of the CloudFront KeyValueStore the playback function reads revocations from; with REVOCATION_DISTRIBUTION_ID, revocations are pushed there, else old ones are only pruned", field: func(o *Options) any { return &o.Revocation.KVSARN }},
	{env: "REVOCATION_DISTRIBUTION_ID", flag: "revocation-distribution-id", doc: "CloudFront distribution in which deleted videos' objects are invalidated", field: func(o *Options) any { return &o.Revocation.DistributionID }},
	{env: "REVOCATION_INTERVAL", flag: "revocation-interval", doc: "how often revocations are read from PostgreSQL and pushed", field: func(o *Options) any { return &o.Revocation.Interval }},

	// The edge
	{env: "EDGE_ADDR", flag: "edge-addr", doc: "address the streaming edge listens on", field: func(o *Options) any { return &o.Edge.Addr }},
	{env: "EDGE_STALENESS", flag: "staleness", doc: "reconcile period: bound on serving a changed video's old state when events are lost", field: func(o *Options) any { return &o.Edge.Staleness }},
	{env: "EDGE_CORS_ORIGINS", flag: "edge-cors-origins", doc: "comma-separated browser origins allowed to call the streaming API", field: func(o *Options) any { return &o.Edge.CORSOrigins }},
	{env: "EDGE_READ_TIMEOUT", flag: "read-timeout", doc: "bound on reading a request, header included", field: func(o *Options) any { return &o.Edge.ReadTimeout }},
	{env: "EDGE_WRITE_TIMEOUT", flag: "write-timeout", doc: "bound on writing an answer", field: func(o *Options) any { return &o.Edge.WriteTimeout }},
	{env: "EDGE_IDLE_TIMEOUT", flag: "idle-timeout", doc: "bound on a kept-alive connection waiting for its next request", field: func(o *Options) any { return &o.Edge.IdleTimeout }},
	{env: "EDGE_MAX_CONNS_PER_IP", flag: "max-conns-per-ip", doc: "open connections per client address (0: 256, or no bound behind trusted proxies; negative: no bound)", field: func(o *Options) any { return &o.Edge.MaxConnsPerIP }},
	{env: "EDGE_TRUSTED_PROXIES", flag: "trusted-proxies", doc: "proxies in front of the edge that append to X-Forwarded-For (the client address is that many entries from the right)", field: func(o *Options) any { return &o.Edge.TrustedProxies }},
	{env: "EDGE_MISS_RATE", flag: "miss-rate", doc: "look-ups per second of unknown ids (PostgreSQL reads) per client address before 429; negative: no limit", field: func(o *Options) any { return &o.Edge.MissRate }},
	{env: "EDGE_MISS_BURST", flag: "miss-burst", doc: "burst of unknown-id look-ups per client address", field: func(o *Options) any { return &o.Edge.MissBurst }},
	{env: "EDGE_NEGATIVE_ENTRIES", flag: "negative-entries", doc: "unknown ids remembered as not found", field: func(o *Options) any { return &o.Edge.NegativeEntries }},
	{env: "EDGE_TOMBSTONE_RETENTION", flag: "tombstone-retention", doc: "how long a deleted video's version is remembered", field: func(o *Options) any { return &o.Edge.TombstoneRetention }},

	// Uploads
	{env: "UPLOAD_MAX_SIZE", flag: "upload-max-size", doc: "largest upload accepted, in bytes (dev: also the transcoder's)", field: func(o *Options) any { return &o.Uploads.MaxSize }},
	{env: "UPLOAD_TYPES", flag: "upload-types", doc: "accepted media types of uploads as sniffed from their first bytes (patterns)", field: func(o *Options) any { return &o.Uploads.Types }},
	{env: "UPLOAD_URL_TTL", flag: "upload-url-ttl", doc: "life of an upload URL; uploads not completed by then are given up and removed", field: func(o *Options) any { return &o.Uploads.URLLifetime }},
	{env: "TUS_PART_SIZE", flag: "tus-part-size", doc: "bytes of a resumable upload buffered on disk before they go to S3 as one part (at least 5 MiB, S3's smallest part)", field: func(o *Options) any { return &o.Uploads.TusPartSize }},
	{env: "TUS_TEMP_DIR", flag: "tus-temp-dir", doc: "folder for those buffers (the system's temporary folder when empty)", field: func(o *Options) any { return &o.Uploads.TusTempDir }},

	// Object storage and the job queue
	{env: "S3_BUCKET_NAME", flag: "s3-bucket", doc: "bucket of uploads and results; for the catalog, empty answers the upload routes 503", field: func(o *Options) any { return &o.S3.Bucket }},
	{env: "S3_ENDPOINT", flag: "s3-endpoint", doc: "S3-compatible server (path-style); empty means AWS", field: func(o *Options) any { return &o.S3.Endpoint }},
	{env: "S3_ACCESS_KEY_ID", flag: "s3-access-key-id", doc: "access key for an S3-compatible server; in AWS use the instance role", field: func(o *Options) any { return &o.S3.AccessKey }},
	{env: "S3_SECRET_ACCESS_KEY", flag: "s3-secret-access-key", doc: "secret key for an S3-compatible server", secret: true, field: func(o *Options) any { return &o.S3.SecretKey }},
	{env: "SQS_QUEUE_URL", flag: "sqs-queue-url", doc: "SQS queue of job messages; empty: the JetStream work queue at NATS_URL", field: func(o *Options) any { return &o.SQS.QueueURL }},
	{env: "SQS_DLQ_URL", flag: "sqs-dead-letter-queue-url", doc: "the SQS queue's dead-letter queue, watched to mark jobs whose last worker died failed; empty: not watched", field: func(o *Options) any { return &o.SQS.DeadLetterURL }},
	{env: "SQS_ENDPOINT", flag: "sqs-endpoint", doc: "SQS-compatible server; empty means AWS", field: func(o *Options) any { return &o.SQS.Endpoint }},

	// The transcoder
	{env: "TRANSCODER_WORKERS", flag: "transcoder-workers", doc: "worker actors, each running one ffmpeg at a time; in dev, 0 runs no transcoder in the process", field: func(o *Options) any { return &o.Transcoder.Workers }},
	{env: "TRANSCODER_MAX_ATTEMPTS", flag: "max-attempts", doc: "failures of the work itself (not outages, not shutdowns) before a job fails", field: func(o *Options) any { return &o.Transcoder.MaxAttempts }},
	{env: "TRANSCODER_MAX_RECEIVES", flag: "max-receives", doc: "receives of a message before the dead-letter queue, more than the attempts; with SQS, the redrive policy's maxReceiveCount", field: func(o *Options) any { return &o.Transcoder.MaxReceives }},
	{env: "TRANSCODER_VISIBILITY", flag: "transcoder-visibility", doc: "a received job's invisibility, renewed by the heartbeat every third of it", field: func(o *Options) any { return &o.Transcoder.Visibility }},
	{env: "TRANSCODER_SHUTDOWN_GRACE", flag: "transcoder-shutdown-grace", doc: "how long jobs in flight may finish at shutdown before they are handed back", field: func(o *Options) any { return &o.Transcoder.ShutdownGrace }},
	{env: "TRANSCODER_WORK_DIR", flag: "work-dir", doc: "folder for the jobs' files; the system's temporary folder when empty", field: func(o *Options) any { return &o.Transcoder.WorkDir }},
	{env: "TRANSCODER_LADDER", flag: "ladder", doc: "the ladder: name:height:bitrate, comma-separated (height is the short side)", field: func(o *Options) any { return &o.Transcoder.FFmpeg.Rungs }},
	{env: "TRANSCODER_PRESET", flag: "preset", doc: "x264 preset", field: func(o *Options) any { return &o.Transcoder.FFmpeg.Preset }},
	{env: "TRANSCODER_MAX_FPS", flag: "max-fps", doc: "frame rate cap", field: func(o *Options) any { return &o.Transcoder.FFmpeg.MaxFPS }},
	{env: "TRANSCODER_SEGMENT", flag: "segment", doc: "HLS segment length", field: func(o *Options) any { return &o.Transcoder.FFmpeg.SegmentDuration }},
	{env: "TRANSCODER_AUDIO_BITRATE", flag: "audio-bitrate", doc: "AAC bitrate of every variant", field: func(o *Options) any { return &bitrate{&o.Transcoder.FFmpeg.AudioBitrate} }},
	{env: "TRANSCODER_MAX_DURATION", flag: "max-duration", doc: "longest source accepted", field: func(o *Options) any { return &o.Transcoder.Limits.MaxDuration }},
	{env: "TRANSCODER_MAX_SIZE", flag: "max-size", doc: "largest source accepted, in bytes", field: func(o *Options) any { return &o.Transcoder.Limits.MaxSize }},
	{env: "TRANSCODER_PUBLISH_EARLY", flag: "publish-early", doc: "publish a stream copy of a source browsers already play (H.264, AAC) at once, before its ladder is done", field: func(o *Options) any { return &o.Transcoder.PublishEarly }},
	{env: "TRANSCODER_CHUNK_DURATION", flag: "chunk-duration", doc: "length of the chunks a long source's ladder is encoded in over every transcoder (a source longer than two is split); 0 keeps every source one piece", field: func(o *Options) any { return &o.Transcoder.ChunkDuration }},
	{env: "TRANSCODER_METRICS_ADDR", flag: "transcoder-metrics-addr", doc: "address the transcoder serves Prometheus metrics on (/metrics); empty serves none", field: func(o *Options) any { return &o.TranscoderMetricsAddr }},

	// Logs
	{env: "LOG_FORMAT", flag: "log-format", doc: "how the log on standard error is written: text, or json (one object a line, with request_id, video_id, job_id, trace_id and span_id where they apply)", field: func(o *Options) any { return &o.LogFormat }},

	// The dev stack and the clients (upload, token)
	{env: "VIDEOFORGE_DATA", flag: "data", doc: "data folder of the dev stack (database, objects, keys); upload and token mint tokens with its key", field: func(o *Options) any { return &o.Dev.Data }},
	{env: "GALLERY_URL", flag: "gallery", doc: "origin of the gallery API", field: func(o *Options) any { return &o.Client.Gallery }},
	{env: "EDGE_URL", flag: "edge", doc: "origin of the streaming API", field: func(o *Options) any { return &o.Client.Edge }},
	{env: "VIDEOFORGE_TOKEN", flag: "token", doc: "Bearer token; when empty one is minted with the dev stack's key (-data, -user)", secret: true, field: func(o *Options) any { return &o.Client.Token }},
	{flag: "user", doc: "user id (sub) of the minted token", field: func(o *Options) any { return &o.Client.User }},
	{flag: "ttl", doc: "how long the minted token is valid", field: func(o *Options) any { return &o.Client.TokenTTL }},
	{flag: "file", doc: "the video file to upload", field: func(o *Options) any { return &o.Client.File }},
	{flag: "title", doc: "title of the video (default: the file's name)", field: func(o *Options) any { return &o.Client.Title }},
	{flag: "description", doc: "description of the video", field: func(o *Options) any { return &o.Client.Description }},
	{flag: "visibility", doc: "public, unlisted or private", field: func(o *Options) any { return &o.Client.Visibility }},
	{flag: "timeout", doc: "how long to wait for the video to be ready", field: func(o *Options) any { return &o.Client.Timeout }},
	{flag: "tus", doc: "send the file with the tus protocol (resumable, in chunks) instead of one PUT; files over 5 GiB always go so", field: func(o *Options) any { return &o.Client.Tus }},
	{flag: "chunk", doc: "bytes per tus PATCH (API Gateway takes at most 10 MB per request)", field: func(o *Options) any { return &o.Client.ChunkSize }},
	{flag: "no-wait", doc: "stop once complete accepted the upload, without following the job", field: func(o *Options) any { return &o.Client.NoWait }},
}

var (
	dbSettings      = []string{"DATABASE_URL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DB_SSLMODE", "DB_SCHEMA", "DB_STATEMENT_TIMEOUT"}
	authSettings    = []string{"JWKS_URL", "JWT_ISSUER", "COGNITO_CLIENT_ID", "COGNITO_USER_POOL_ID", "AWS_REGION"}
	playSettings    = []string{"PLAYBACK_BASE_URL", "PLAYBACK_TOKEN_KEY", "PLAYBACK_TOKEN_TTL", "PLAYBACK_SIGN_PUBLIC"}
	revokeSettings  = []string{"REVOCATION_KVS_ARN", "REVOCATION_DISTRIBUTION_ID", "REVOCATION_INTERVAL"}
	uploadSettings  = []string{"UPLOAD_MAX_SIZE", "UPLOAD_TYPES", "UPLOAD_URL_TTL"}
	bucketSettings  = []string{"S3_BUCKET_NAME", "S3_ENDPOINT", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "SQS_QUEUE_URL", "SQS_ENDPOINT"}
	edgeSettings    = []string{"EDGE_STALENESS", "EDGE_CORS_ORIGINS", "EDGE_READ_TIMEOUT", "EDGE_WRITE_TIMEOUT", "EDGE_IDLE_TIMEOUT", "EDGE_MAX_CONNS_PER_IP", "EDGE_TRUSTED_PROXIES", "EDGE_MISS_RATE", "EDGE_MISS_BURST", "EDGE_NEGATIVE_ENTRIES", "EDGE_TOMBSTONE_RETENTION"}
	encodeSettings  = []string{"TRANSCODER_MAX_ATTEMPTS", "TRANSCODER_MAX_RECEIVES", "TRANSCODER_VISIBILITY", "TRANSCODER_SHUTDOWN_GRACE", "TRANSCODER_WORK_DIR", "TRANSCODER_LADDER", "TRANSCODER_PRESET", "TRANSCODER_MAX_FPS", "TRANSCODER_SEGMENT", "TRANSCODER_AUDIO_BITRATE", "TRANSCODER_MAX_DURATION", "TRANSCODER_MAX_SIZE", "TRANSCODER_PUBLISH_EARLY", "TRANSCODER_CHUNK_DURATION"}
	commandSettings = map[string][][]string{
		"dev": {{"LOG_FORMAT", "VIDEOFORGE_DATA", "GALLERY_ADDR=127.0.0.1:8080", "EDGE_ADDR=127.0.0.1:8081", "DATABASE_URL", "DB_SCHEMA", "NATS_URL", "NATS_PORT",
			"CORS_ORIGINS", "SHUTDOWN_GRACE", "TRANSCODER_WORKERS", "TRANSCODER_PUBLISH_EARLY", "TRANSCODER_CHUNK_DURATION"}, uploadSettings},
		"catalog": {{"LOG_FORMAT", "GALLERY_ADDR", "CORS_ORIGINS", "SHUTDOWN_GRACE", "MIGRATE_ON_START", "DATABASE_READ_URL", "NATS_URL", "NATS_STREAM_REPLICAS", "CATALOG_RELAY", "TUS_PART_SIZE", "TUS_TEMP_DIR", "STREAM_API_URL", "COGNITO_DOMAIN"},
			dbSettings, authSettings, playSettings, revokeSettings, uploadSettings, bucketSettings},
		"edge":  {{"LOG_FORMAT", "EDGE_ADDR", "NATS_URL", "SHUTDOWN_GRACE"}, edgeSettings, playSettings, dbSettings, authSettings},
		"relay": {{"LOG_FORMAT", "NATS_URL=nats://127.0.0.1:4222", "NATS_STREAM_REPLICAS", "RELAY_METRICS_ADDR", "RELAY_LEASE_TIMEOUT", "RELAY_LEASE_RENEW", "PLAYBACK_TOKEN_TTL"}, revokeSettings, dbSettings},
		"transcoder": {{"LOG_FORMAT", "NATS_URL", "NATS_STREAM_REPLICAS", "SQS_QUEUE_URL", "SQS_DLQ_URL", "SQS_ENDPOINT", "S3_BUCKET_NAME", "AWS_REGION", "S3_ENDPOINT", "S3_ACCESS_KEY_ID",
			"S3_SECRET_ACCESS_KEY", "TRANSCODER_WORKERS", "TRANSCODER_METRICS_ADDR"}, encodeSettings, dbSettings},
		"migrate": {{"LOG_FORMAT"}, dbSettings},
		"token":   {{"VIDEOFORGE_DATA", "user", "ttl"}},
		"upload": {{"file", "title", "description", "visibility", "GALLERY_URL", "EDGE_URL", "NATS_URL=nats://127.0.0.1:4222", "VIDEOFORGE_TOKEN", "VIDEOFORGE_DATA",
			"user=alice", "timeout", "tus", "chunk", "no-wait"}},
		"seed": {{"GALLERY_URL", "EDGE_URL", "NATS_URL=nats://127.0.0.1:4222", "VIDEOFORGE_TOKEN", "VIDEOFORGE_DATA", "timeout"}},
	}
)

// Variables returns every environment variable the command reads (through its flags),
// in the table's order.
func Variables(command string) []string {
	var out []string
	for _, name := range commandNames(command) {
		if s := lookup(name); s.env != "" {
			out = append(out, s.env)
		}
	}
	return out
}

// Commands returns the commands that take settings.
func Commands() []string {
	var out []string
	for c := range commandSettings {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

func commandNames(command string) []string {
	var out []string
	for _, group := range commandSettings[command] {
		for _, n := range group {
			n, _, _ = strings.Cut(n, "=")
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// lookup finds a setting by its variable, or by its flag for flag-only settings.
func lookup(name string) setting {
	for _, s := range settings {
		if s.env == name || (s.env == "" && s.flag == name) {
			return s
		}
	}
	panic("stack: no setting " + name)
}

// helpOutput is where -h and flag errors are printed.
var helpOutput io.Writer = os.Stderr

// Parse reads command's settings: a flag given on the command line wins, else the
// environment variable (or the file named by NAME_FILE), else the default. A bad value
// is an error naming the variable; -h prints the flags with their variables and
// defaults and returns flag.ErrHelp.
func Parse(command, summary string, args []string) (Options, error) {
	o := DefaultOptions()
	o.Command = command
	if _, ok := commandSettings[command]; !ok {
		return o, fmt.Errorf("stack: no command %q", command)
	}
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.SetOutput(helpOutput)
	vars := map[string]setting{} // flag -> setting
	for _, group := range commandSettings[command] {
		for _, entry := range group {
			name, def, hasDef := strings.Cut(entry, "=")
			s := lookup(name)
			v := valueOf(s.field(&o))
			if hasDef {
				if err := v.Set(def); err != nil {
					panic("stack: default of " + name + ": " + err.Error())
				}
			}
			if _, dup := vars[s.flag]; !dup {
				fs.Var(v, s.flag, s.doc+envNote(s.env))
				vars[s.flag] = s
			}
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: videoforge %s [flags]\n\n%s\n\nflags (each also read from the environment variable shown):\n", command, summary)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		s := vars[f.Name]
		if given[f.Name] || s.env == "" {
			return
		}
		v, ok, err := lookupEnv(s.env)
		if err != nil || !ok {
			errs = append(errs, err)
			return
		}
		if err := f.Value.Set(v); err != nil {
			if s.secret {
				errs = append(errs, fmt.Errorf("%s: %w", s.env, err))
			} else {
				errs = append(errs, fmt.Errorf("%s=%q: %w", s.env, v, err))
			}
		}
	})
	return o, errors.Join(errs...)
}

func envNote(env string) string {
	if env == "" {
		return ""
	}
	return " ($" + env + ")"
}

// lookupEnv reads NAME, or the contents of the file named by NAME_FILE without its
// trailing line break.
func lookupEnv(name string) (string, bool, error) {
	if v, ok := os.LookupEnv(name); ok {
		return v, true, nil
	}
	if path, ok := os.LookupEnv(name + "_FILE"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", false, fmt.Errorf("%s_FILE: %w", name, err)
		}
		return strings.TrimRight(string(b), "\r\n"), true, nil
	}
	return "", false, nil
}
