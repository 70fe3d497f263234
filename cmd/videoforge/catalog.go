package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/edge"
	"github.com/videoforge/videoforge/playback"
	"github.com/videoforge/videoforge/schema"
	"github.com/videoforge/videoforge/storage"
)

// authFlags are the token verification settings.
type authFlags struct {
	jwksURL, issuer, clientID, poolID, region *string
}

func (f *flags) auth() *authFlags {
	return &authFlags{
		jwksURL:  f.string("jwks-url", "JWKS_URL", "", "URL of the token issuer's JWKS (derived from the Cognito pool when empty)"),
		issuer:   f.string("jwt-issuer", "JWT_ISSUER", "", "expected iss of tokens (derived from the Cognito pool when empty)"),
		clientID: f.string("jwt-client-id", "COGNITO_CLIENT_ID", "", "expected client_id (access tokens) or aud (id tokens)"),
		poolID:   f.string("cognito-user-pool-id", "COGNITO_USER_POOL_ID", "", "Cognito user pool whose tokens are accepted"),
		region:   f.string("aws-region", "AWS_REGION", "", "AWS region of the Cognito pool (taken from the pool id when empty)"),
	}
}

func (a *authFlags) config() (auth.Config, error) {
	var cfg auth.Config
	if *a.poolID != "" {
		var err error
		if cfg, err = auth.CognitoConfig(*a.region, *a.poolID, *a.clientID); err != nil {
			return cfg, fmt.Errorf("COGNITO_USER_POOL_ID: %w", err)
		}
	}
	if *a.jwksURL != "" {
		cfg.JWKSURL = *a.jwksURL
	}
	if *a.issuer != "" {
		cfg.Issuer = *a.issuer
	}
	cfg.ClientID = *a.clientID
	if cfg.JWKSURL == "" || cfg.Issuer == "" {
		return cfg, errors.New("no token issuer configured: set COGNITO_USER_POOL_ID (and COGNITO_CLIENT_ID), or JWKS_URL and JWT_ISSUER")
	}
	return cfg, cfg.Validate()
}

// galleryFlags are the HTTP settings of the gallery.
type galleryFlags struct {
	cors  *string
	grace *time.Duration
	// playback is set after parsing: nil shows thumbnail keys as stored.
	playback *catalog.Playback
}

func (f *flags) gallery() *galleryFlags {
	return &galleryFlags{
		cors:  f.string("cors-origins", "CORS_ORIGINS", "*", "comma-separated browser origins allowed to call the API, or *"),
		grace: f.duration("shutdown-grace", "SHUTDOWN_GRACE", 10*time.Second, "how long requests in flight may finish at shutdown"),
	}
}

// playbackFlags are the settings that turn stored object keys into media URLs.
type playbackFlags struct {
	base, key  *string
	ttl        *time.Duration
	signPublic *bool
}

func (f *flags) playback() *playbackFlags {
	return &playbackFlags{
		base: f.string("playback-base-url", "PLAYBACK_BASE_URL", "", "origin of media URLs (the CDN domain, or the edge)"),
		key:  f.string("playback-token-key", "PLAYBACK_TOKEN_KEY", "", "key signing playback tokens, at least 32 bytes, or base64:<standard base64> of a binary key (or PLAYBACK_TOKEN_KEY_FILE)"),
		ttl:  f.duration("playback-token-ttl", "PLAYBACK_TOKEN_TTL", edge.DefaultTokenTTL, "shortest life of a playback token"),
		signPublic: f.bool("playback-sign-public", "PLAYBACK_SIGN_PUBLIC", false,
			"give public videos token URLs too, for a CDN that serves no object without a token"),
	}
}

// config returns the playback settings, or nil when no base URL is set. A key is
// required with a base URL, as unlisted and private videos need signed URLs.
func (p *playbackFlags) config() (*catalog.Playback, error) {
	if *p.base == "" {
		return nil, nil
	}
	if u, err := url.Parse(*p.base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("PLAYBACK_BASE_URL=%q: want an absolute http(s) URL", *p.base)
	}
	key, err := p.tokenKey()
	if err != nil {
		return nil, err
	}
	return &catalog.Playback{BaseURL: *p.base, TokenKey: key, TokenTTL: *p.ttl, SignPublic: *p.signPublic}, nil
}

// tokenKey is the signing key: its bytes, or "base64:<standard base64>" for a binary
// key (the form the CDN function's key store holds too).
func (p *playbackFlags) tokenKey() ([]byte, error) {
	key, err := playback.ParseKey(*p.key)
	if err != nil {
		return nil, fmt.Errorf("PLAYBACK_TOKEN_KEY: %w", err)
	}
	return key, nil
}

func runCatalog(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("catalog", "Serves the gallery API (/api/gallery) on PostgreSQL.")
	addr := f.string("addr", "GALLERY_ADDR", ":8080", "address to listen on")
	dbf := f.database()
	af := f.auth()
	gf := f.gallery()
	pf := f.playback()
	migrate := f.bool("migrate", "MIGRATE_ON_START", false, "apply pending migrations before serving")
	nf := f.nats("", "NATS server(s) the in-process relay publishes catalog events to, with the catalog's NATS user in the URL (nats://catalog:…@host:4222); empty runs no relay")
	withRelay := f.bool("relay", "CATALOG_RELAY", true, "run the relay in this process when NATS_URL is set")
	rf := f.revocationWith(pf.ttl) // the in-process relay's revocation pusher
	uf := f.catalogUploads()
	tf := f.tus()
	if err := f.parse(args); err != nil {
		return err
	}
	if err := tf.validate(); err != nil {
		return err
	}
	streams, err := nf.streams()
	if err != nil {
		return err
	}
	revCfg, err := rf.config()
	if err != nil {
		return err
	}
	dbCfg, err := dbf.config("videoforge-catalog")
	if err != nil {
		return err
	}
	authCfg, err := af.config()
	if err != nil {
		return err
	}
	if gf.playback, err = pf.config(); err != nil {
		return err
	}
	uploads, err := uf.setup(ctx, *nf.url, streams)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("GALLERY_ADDR: %w", err)
	}
	if *migrate {
		if err := schema.Migrate(ctx, dbCfg.URL, dbCfg.Schema); err != nil {
			ln.Close()
			return err
		}
	}
	verifier, err := auth.NewVerifier(ctx, authCfg, nil)
	if err != nil {
		ln.Close()
		return err
	}
	var mountTus func(*catalog.Server)
	if uploads != nil {
		// Resumable uploads in the bucket: the way for files over S3's 5 GB per PUT.
		st, err := storage.New(ctx, uf.storageConfig())
		if err != nil {
			ln.Close()
			return err
		}
		limits, _ := uf.limits.limits() // checked by setup
		uploads = withBucketTus(ctx, uploads, st, limits, tf, verifier.Verify, &mountTus)
	}
	slog.Info("gallery listening", "addr", ln.Addr().String(), "schema", dbCfg.Schema)
	fmt.Fprintf(stdout, "gallery API   http://%s%s\n", ln.Addr(), catalog.Prefix)
	relay := *nf.url != "" && *withRelay
	if !relay {
		slog.Warn("no relay in this process: catalog events wait in the outbox for 'videoforge relay'", "nats_url_set", *nf.url != "")
	}
	var rp *inProcessRelay
	err = serveGalleryWith(ctx, ln, dbCfg, verifier, gf, uploads, func(s *catalog.Server) {
		if mountTus != nil {
			mountTus(s)
		}
		if relay {
			rp = startRelay(ctx, dbCfg, *nf.url, streams, revCfg, s.Registry())
		}
	})
	rp.stop()
	return err
}

// serveGallery opens the database and serves the gallery on ln until ctx ends; extra
// adds routes outside the API (the dev issuer's JWKS).
func serveGallery(ctx context.Context, ln net.Listener, dbCfg postgres.Config, verifier catalog.Verifier, gf *galleryFlags, extra func(*catalog.Server)) error {
	return serveGalleryWith(ctx, ln, dbCfg, verifier, gf, nil, extra)
}

// serveGalleryWith is serveGallery with the upload routes configured by uploads, which
// returns their configuration over the gallery's database and a function that stops
// what it started.
func serveGalleryWith(ctx context.Context, ln net.Listener, dbCfg postgres.Config, verifier catalog.Verifier, gf *galleryFlags,
	uploads func(*postgres.DB) (*catalog.Uploads, func(), error), extra func(*catalog.Server)) error {
	db, err := postgres.Open(ctx, dbCfg)
	if err != nil {
		ln.Close()
		return err
	}
	defer db.Close()
	cfg := catalog.Config{CORSOrigins: splitList(*gf.cors), Runtime: "go", Playback: gf.playback}
	if uploads != nil {
		up, stop, err := uploads(db)
		if err != nil {
			ln.Close()
			return err
		}
		defer stop()
		cfg.Uploads = up
	}
	srv := catalog.NewServer(cfg, postgres.NewVideoService(db), verifier, db.Ping, slog.Default())
	if extra != nil {
		extra(srv)
	}
	return srv.Serve(ctx, ln, *gf.grace)
}

func runMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("migrate", "Applies the embedded migrations to the catalog schema.")
	dbf := f.database()
	if err := f.parse(args); err != nil {
		return err
	}
	cfg, err := dbf.config("videoforge-migrate")
	if err != nil {
		return err
	}
	if err := schema.Migrate(ctx, cfg.URL, cfg.Schema); err != nil {
		return err
	}
	cur, _, err := schema.Version(ctx, cfg.URL, cfg.Schema)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema %s is at version %d\n", cfg.Schema, cur)
	return nil
}

func runToken(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("token", "Prints a Bearer token signed by the dev stack's key, for curl and tests.")
	data := f.string("data", "VIDEOFORGE_DATA", defaultDataDir, "data folder of the dev stack")
	user := f.string("user", "", "", "user id (sub) of the token")
	ttl := f.duration("ttl", "", 24*time.Hour, "how long the token is valid")
	if err := f.parse(args); err != nil {
		return err
	}
	if *user == "" {
		return errors.New("-user is required, e.g. -user alice")
	}
	iss, err := auth.LoadIssuer(keyDir(*data))
	if err != nil {
		return err
	}
	tok, err := iss.Mint(*user, *ttl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

const defaultDataDir = ".videoforge"

func keyDir(data string) string { return data + string(os.PathSeparator) + "keys" }
