package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/catalog/relay"
	"github.com/videoforge/videoforge/catalog/revoke"
	"github.com/videoforge/videoforge/edge"
	"github.com/videoforge/videoforge/pgcluster"
	"github.com/videoforge/videoforge/playback"
	"github.com/videoforge/videoforge/schema"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/storage/s3gw"
	"github.com/videoforge/videoforge/transcoder"
	"github.com/videoforge/videoforge/uploads"
	"github.com/videoforge/videoforge/web"
)

// defaultNATSPort is the embedded nats-server's client port unless NATS_PORT says
// otherwise, NATS's usual one so that the stock CLI finds it without flags.
const defaultNATSPort = 4222

// DevBucket is the bucket of the dev stack's objects: the folder <data>/objects/videoforge.
const DevBucket = "videoforge"

// KeyDir is where the dev stack keeps its keys under its data folder.
func KeyDir(data string) string { return filepath.Join(data, "keys") }

// buildDev is `videoforge dev`: every role in one process, on PostgreSQL from
// DATABASE_URL when it answers (else a private cluster), NATS from NATS_URL (else an
// embedded nats-server), an embedded S3 gateway over the data folder and the dev token
// issuer.
func (s *Stack) buildDev(ctx context.Context) error {
	o := &s.opts
	tcfg, err := s.devTranscoderConfig()
	if err != nil {
		return err
	}
	limits, err := o.uploadLimits()
	if err != nil {
		return err
	}
	if err := schema.ValidateSchema(o.DB.Schema); err != nil {
		return fmt.Errorf("DB_SCHEMA: %w", err)
	}
	// The embedded S3 gateway makes the object folder the working folder.
	data, err := filepath.Abs(o.Dev.Data)
	if err == nil {
		err = os.MkdirAll(data, 0o755)
	}
	if err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	s.addrs.Data, s.addrs.NATSKeys = data, filepath.Join(KeyDir(data), "nats")
	galleryLn, err := s.listen(o.Gallery.Addr, "GALLERY_ADDR")
	if err != nil {
		return err
	}
	edgeLn, err := s.listen(o.Edge.Addr, "EDGE_ADDR")
	if err != nil {
		return err
	}
	if err := s.devParts(ctx, data); err != nil {
		return err
	}
	return s.devRoles(ctx, galleryLn, edgeLn, limits, tcfg)
}

// devTranscoderConfig is dev's transcoder, with uploads' size limit:
// TRANSCODER_WORKERS=0 runs none; one that cannot start stops the start, naming its
// setting.
func (s *Stack) devTranscoderConfig() (transcoder.Config, error) {
	cfg := s.opts.Transcoder
	cfg.ShutdownGrace, cfg.Limits.MaxSize = 5*time.Second, s.opts.Uploads.MaxSize
	if cfg.Workers < 0 {
		return cfg, fmt.Errorf("TRANSCODER_WORKERS=%d: want 0 (no transcoder in this process) or more", cfg.Workers)
	}
	if cfg.Workers == 0 {
		return cfg, nil
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("transcoder: %w", err)
	}
	return cfg, nil
}

// devRoles adds dev's roles: the gallery with the uploads (presigned PUTs to the
// media server, tus in a folder) and the dev issuer's JWKS, the relay, the edge with
// the media server, and the transcoder.
func (s *Stack) devRoles(ctx context.Context, galleryLn, edgeLn net.Listener, limits uploads.Limits, tcfg transcoder.Config) error {
	o := &s.opts
	o.DB.Migrate = true
	gallery, edgeBase := "http://"+galleryLn.Addr().String(), "http://"+edgeLn.Addr().String()
	var err error
	if s.verifier, err = auth.NewVerifier(ctx, auth.DevConfig(gallery+"/.well-known/jwks.json"), nil); err != nil {
		return err
	}
	o.Playback.BaseURL = edgeBase
	s.playback = &catalog.Playback{BaseURL: edgeBase, TokenKey: o.Playback.Key.key}
	if _, err := s.database(ctx, true); err != nil {
		return err
	}
	up, err := s.devUploads(ctx, limits, edgeBase)
	if err != nil {
		return err
	}
	site := web.Config{StreamAPI: edgeBase + edge.Prefix, MediaOrigins: []string{edgeBase}, DevSignIn: devSignIn}
	srv, err := s.addGallery(ctx, galleryLn, up, site, func(srv *catalog.Server) {
		srv.Handle("GET /.well-known/jwks.json", s.devIssuer.JWKSHandler())
		srv.Handle("POST "+devSignIn, web.DevSignIn(s.devIssuer.Mint, devTokenTTL))
	})
	if err != nil {
		return err
	}
	s.addRelay(relay.Config{}, devRevocations(), srv.Registry())
	if tcfg.Workers > 0 {
		if err := s.addTranscoder(ctx, tcfg); err != nil {
			return err
		}
	}
	return s.addEdge(ctx, edgeLn, s.edgeConfig(), func(e *edge.Edge) error { return s.devMedia(e, limits) })
}

// devSignIn is where the dev stack's pages mint a token for a user name, living
// devTokenTTL.
const (
	devSignIn   = "/dev/signin"
	devTokenTTL = 12 * time.Hour
)

// devRevocations is the pusher of the dev stack: no key store (its media server asks
// the edge), so it only prunes revocations older than any token the edge signs.
func devRevocations() revocations {
	return revocations{pusher: revoke.Config{TokenLife: edge.DefaultTokenTTL + playback.ExpiryWindow + revocationMargin,
		Interval: 5 * time.Second}}
}

// devParts starts the embedded parts and fills the shared parts' settings from them.
func (s *Stack) devParts(ctx context.Context, data string) error {
	o := &s.opts
	dsn, err := s.devDatabase(ctx, o.DB.URL, filepath.Join(data, "postgres"))
	if err != nil {
		return err
	}
	s.dbCfg = postgres.Config{URL: dsn, Schema: o.DB.Schema, StatementTimeout: o.DB.StatementTimeout, AppName: "videoforge-dev", MaxConns: 16}
	if err := s.devNATS(ctx, o.NATS.URL, filepath.Join(data, "nats"), o.Dev.NATSPort); err != nil {
		return err
	}
	if err := s.devStorage(ctx, data); err != nil {
		return err
	}
	if err := s.writeTranscoderEnv(data); err != nil {
		return err
	}
	issuer, err := auth.LoadOrCreateIssuer(KeyDir(data))
	if err != nil {
		return err
	}
	s.devIssuer = issuer
	key, err := loadOrCreateSecret(filepath.Join(KeyDir(data), "playback-token.key"))
	if err != nil {
		return err
	}
	o.Playback.SetKey(key)
	return nil
}

// devDatabase returns the URL of the database the dev stack uses: url when it answers,
// else the "videoforge" database of a private cluster in dir.
func (s *Stack) devDatabase(ctx context.Context, url, dir string) (string, error) {
	if url != "" {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		err := postgres.Ping(pctx, url)
		if err == nil {
			s.log.Info("using PostgreSQL from DATABASE_URL")
			return url, nil
		}
		s.log.Warn("DATABASE_URL does not answer; starting a private cluster instead", "err", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cl, err := pgcluster.Start(sctx, dir, pgcluster.Options{Fsync: true, Log: s.log})
	if err != nil {
		return "", err
	}
	s.onClose(func() {
		if err := cl.Stop(); err != nil {
			s.log.Error("stopping PostgreSQL", "err", err)
		}
	})
	if err := postgres.CreateDatabase(sctx, cl.DSN("postgres"), "videoforge"); err != nil {
		return "", err
	}
	s.log.Info("private PostgreSQL started", "dir", dir, "port", cl.Port)
	return cl.DSN("videoforge"), nil
}

// devNATS sets the NATS URL each role connects with: url for every role when set, else
// those of an embedded nats-server with its store in dir. The embedded server requires
// credentials: one user per role with that role's permissions (bus.Permissions), their
// passwords kept in the data folder (made at first start).
func (s *Stack) devNATS(ctx context.Context, url, dir string, port int) error {
	if url != "" {
		s.log.Info("using NATS from NATS_URL")
		s.natsURLs, s.addrs.NATS = sameURL(url), url
		return nil
	}
	keys := s.addrs.NATSKeys
	creds, err := bus.LoadOrCreateCredentials(keys)
	if err != nil {
		return fmt.Errorf("embedded NATS: %w", err)
	}
	if port == defaultNATSPort {
		// Another NATS (a system one, say) may hold the usual port: the URL printed in
		// the banner is what matters, so take any free one then.
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
			s.log.Info("NATS's usual port is taken; the embedded server takes a free one", "port", port)
			port = 0
		} else {
			l.Close()
		}
	}
	srv, err := bus.Start(ctx, bus.ServerConfig{StoreDir: dir, Port: port, Log: s.log, Credentials: creds})
	if err != nil {
		return fmt.Errorf("embedded NATS (NATS_PORT=%d): %w", port, err)
	}
	s.onClose(srv.Shutdown)
	u := srv.ClientURL()
	s.log.Info("embedded NATS started", "url", u, "store", dir, "credentials", keys)
	s.natsURLs = map[bus.Role]string{}
	for _, r := range bus.Roles() {
		s.natsURLs[r] = creds.URL(u, r)
	}
	s.addrs.NATSServer, s.addrs.NATS = u, s.natsURLs[bus.RoleReader]
	// The streams exist before any part starts, so that the edge knows the stream's
	// position from its first snapshot. Declaring them is the relay's right.
	_, err = s.conn(ctx, bus.RoleRelay)
	return err
}

// devStorage serves <data>/objects over the S3 API (s3gw), so that the dev stack takes
// the same S3 code path as AWS, and creates the bucket. The gateway runs once per
// process, and makes the object folder the process's working folder: data must be
// absolute.
func (s *Stack) devStorage(ctx context.Context, data string) error {
	dir := filepath.Join(data, "objects")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("object folder: %w", err)
	}
	secret, err := loadOrCreateSecret(filepath.Join(KeyDir(data), "s3-secret.key"))
	if err != nil {
		return err
	}
	cfg := storage.Config{Bucket: DevBucket, Region: s3gw.Region, AccessKey: "videoforge-dev", SecretKey: hex.EncodeToString(secret)}
	g, err := s3gw.Start(dir, cfg.AccessKey, cfg.SecretKey)
	if err != nil {
		return fmt.Errorf("embedded S3: %w", err)
	}
	s.onClose(func() {
		if err := g.Stop(); err != nil {
			s.log.Warn("embedded S3 stopped", "err", err)
		}
	})
	cfg.Endpoint = g.Endpoint
	s.s3Cfg, s.objectRoot = cfg, filepath.Join(dir, DevBucket)
	st, err := s.objects(ctx)
	if err != nil {
		return err
	}
	if err := st.EnsureBucket(ctx); err != nil {
		return fmt.Errorf("embedded S3: %w", err)
	}
	s.log.Info("embedded S3 started", "endpoint", cfg.Endpoint, "folder", dir)
	return nil
}

// writeTranscoderEnv writes the variables with which `videoforge transcoder` joins
// the dev stack, so that more transcoders (on other cores, with TRANSCODER_WORKERS=0
// in dev for none but them) take its jobs and chunks: 0600, as they hold secrets.
func (s *Stack) writeTranscoderEnv(data string) error {
	path := filepath.Join(KeyDir(data), "transcoder.env")
	var b strings.Builder
	for _, kv := range [][2]string{{"DATABASE_URL", s.dbCfg.URL}, {"DB_SCHEMA", s.dbCfg.Schema},
		{"NATS_URL", s.natsURLs[bus.RoleTranscoder]}, {"S3_BUCKET_NAME", s.s3Cfg.Bucket}, {"S3_ENDPOINT", s.s3Cfg.Endpoint},
		{"AWS_REGION", s.s3Cfg.Region}, {"S3_ACCESS_KEY_ID", s.s3Cfg.AccessKey}, {"S3_SECRET_ACCESS_KEY", s.s3Cfg.SecretKey}} {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	s.addrs.TranscoderEnv = path
	return nil
}

// loadOrCreateSecret reads a random key kept in a file, creating it (0600) when absent.
func loadOrCreateSecret(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		return b, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("make key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("key folder: %w", err)
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return key, nil
}

// PrintBanner tells where the dev stack answers. The NATS line names the read-only
// user, so that the stock CLI and the upload command can follow events; the other
// roles' passwords stay in the data folder.
func (a Addrs) PrintBanner(w io.Writer) {
	watch := "nats sub 'videoforge.catalog.>' --server " + a.NATS
	users := "every role connects with NATS_URL"
	if a.NATSServer != "" {
		users = "read-only user; each role has its own, in " + a.NATSKeys
		watch = fmt.Sprintf("nats sub 'videoforge.catalog.>' --server %s --user %s --password \"$(cat %s)\"",
			a.NATSServer, bus.RoleReader, bus.PasswordFile(a.NATSKeys, bus.RoleReader))
	}
	fmt.Fprintf(w, `VideoForge dev stack is up.
  web app       %[1]s/   (sign in with any user name)
  gallery API   %[1]s/api/gallery   (health: %[1]s/api/gallery/health)
  streaming     %[4]s/api/stream    (health: %[4]s/api/stream/health)
  media         %[4]s/videos/<id>/a<attempt>/hls/master.m3u8   (objects in %[2]s/objects)
  metrics       %[1]s/metrics  %[4]s/metrics
  dev JWKS      %[1]s/.well-known/jwks.json
  NATS          %[3]s   (streams CATALOG and JOBS; %[6]s)
  data folder   %[2]s
Mint a token:   videoforge token -data %[2]s -user alice
Upload a video: videoforge upload -data %[2]s -user alice -gallery %[1]s -edge %[4]s -nats-url %[3]s -file clip.mp4 -title 'My clip'
Watch events:   %[5]s
More workers:   (set -a; . %[7]s; exec videoforge transcoder)
Stop with Ctrl-C.
`, a.Gallery, a.Data, a.NATS, a.Edge, watch, users, a.TranscoderEnv)
}
