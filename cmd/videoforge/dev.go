package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/edge"
	"github.com/videoforge/videoforge/media"
	"github.com/videoforge/videoforge/pgcluster"
	"github.com/videoforge/videoforge/playback"
	"github.com/videoforge/videoforge/schema"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/transcoder"
	"github.com/videoforge/videoforge/uploads"
)

// defaultNATSPort is the embedded nats-server's client port unless NATS_PORT says
// otherwise, NATS's usual one so that the stock CLI finds it without flags.
const defaultNATSPort = 4222

func runDev(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("dev", "Runs every role in one process on embedded defaults: PostgreSQL from DATABASE_URL\n"+
		"when it answers, else a private cluster under the data folder; NATS from NATS_URL, else an\n"+
		"embedded nats-server under the data folder; the relay; the dev token issuer.")
	data := f.string("data", "VIDEOFORGE_DATA", defaultDataDir, "data folder (database, keys)")
	galleryAddr := f.string("gallery-addr", "GALLERY_ADDR", "127.0.0.1:8080", "address of the gallery API")
	dbURL := f.string("database-url", "DATABASE_URL", "", "PostgreSQL to use when it answers; else a private cluster is started")
	dbSchema := f.string("db-schema", "DB_SCHEMA", schema.DefaultSchema, "schema holding the catalog's tables")
	natsURLFlag := f.string("nats-url", "NATS_URL", "", "NATS to use; empty starts an embedded nats-server with its store under the data folder")
	natsPort := f.int("nats-port", "NATS_PORT", defaultNATSPort, "client port of the embedded nats-server on 127.0.0.1; 0 picks a free one")
	edgeAddr := f.string("edge-addr", "EDGE_ADDR", "127.0.0.1:8081", "address of the streaming edge")
	gf := f.gallery()
	uf := f.uploads()
	workers := f.int("transcoder-workers", "TRANSCODER_WORKERS", 1, "transcoder worker actors; 0 runs no transcoder in this process (run `videoforge transcoder` against the stack instead)")
	if err := f.parse(args); err != nil {
		return err
	}
	limits, err := uf.limits()
	if err != nil {
		return err
	}
	// A role that cannot start stops the start, naming its setting.
	tcfg := transcoder.DefaultConfig()
	tcfg.Workers, tcfg.ShutdownGrace, tcfg.Limits.MaxSize = *workers, 5*time.Second, limits.MaxSize
	if *workers < 0 {
		return fmt.Errorf("TRANSCODER_WORKERS=%d: want 0 (no transcoder in this process) or more", *workers)
	} else if *workers > 0 {
		if err := tcfg.Validate(); err != nil {
			return fmt.Errorf("transcoder: %w", err)
		}
	}
	// A role that fails while the stack runs stops the stack, with its error.
	ctx, failed := context.WithCancelCause(ctx)
	defer failed(nil)
	// The embedded S3 gateway makes the object folder the working folder.
	if *data, err = filepath.Abs(*data); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	if err := schema.ValidateSchema(*dbSchema); err != nil {
		return fmt.Errorf("DB_SCHEMA: %w", err)
	}
	if err := os.MkdirAll(*data, 0o755); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	ln, err := net.Listen("tcp", *galleryAddr)
	if err != nil {
		return fmt.Errorf("GALLERY_ADDR: %w", err)
	}
	defer ln.Close()
	edgeLn, err := net.Listen("tcp", *edgeAddr)
	if err != nil {
		return fmt.Errorf("EDGE_ADDR: %w", err)
	}
	defer edgeLn.Close()

	dsn, stopDB, err := devDatabase(ctx, *dbURL, filepath.Join(*data, "postgres"))
	if err != nil {
		return err
	}
	defer stopDB()
	if err := schema.Migrate(ctx, dsn, *dbSchema); err != nil {
		return err
	}
	natsKeys := filepath.Join(keyDir(*data), "nats")
	nb, stopNATS, err := devNATS(ctx, *natsURLFlag, filepath.Join(*data, "nats"), natsKeys, *natsPort)
	if err != nil {
		return err
	}
	defer stopNATS() // after the relay, before PostgreSQL
	issuer, err := auth.LoadOrCreateIssuer(keyDir(*data))
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	verifier, err := auth.NewVerifier(ctx, auth.DevConfig(base+"/.well-known/jwks.json"), nil)
	if err != nil {
		return err
	}
	dbCfg := postgres.Config{URL: dsn, Schema: *dbSchema, StatementTimeout: 10 * time.Second, AppName: "videoforge-dev"}
	s3Cfg, objects, stopS3, err := startDevStorage(ctx, *data)
	if err != nil {
		return err
	}
	defer stopS3() // after everything that stores objects
	st, err := storage.New(ctx, s3Cfg)
	if err != nil {
		return err
	}
	playbackKey, err := loadOrCreateSecret(filepath.Join(keyDir(*data), "playback-token.key"))
	if err != nil {
		return err
	}
	edgeBase := "http://" + edgeLn.Addr().String()
	gf.playback = &catalog.Playback{BaseURL: edgeBase, TokenKey: playbackKey}
	stopEdge, err := startDevEdge(ctx, edgeLn, dbCfg, nb.reader, edgeBase, playbackKey, verifier, func(e *edge.Edge, db *postgres.DB) (func(), error) {
		ms, err := media.New(media.Config{Root: objects, TokenKey: playbackKey, MaxUploadSize: limits.MaxSize,
			UploadOpen: uploads.SourceOpen(postgres.NewJobService(db))}, e.MediaAccess, st, slog.Default())
		if err != nil {
			return nil, err
		}
		e.SetMedia(ms.Handle, limits.MaxSize)
		e.SetMediaExpect(ms.Expect)
		return func() { ms.Close() }, nil
	})
	if err != nil {
		return err
	}
	defer stopEdge() // after the gallery and the relay, before NATS and PostgreSQL
	stopTranscoder := startDevTranscoder(ctx, tcfg, dbCfg, s3Cfg, nb.transcoder, failed)
	defer stopTranscoder()
	printDevBanner(stdout, base, edgeBase, *data, nb, natsKeys)
	var rp *inProcessRelay
	du := &devUploadSide{st: st, natsURL: nb.uploads, limits: limits, tusDir: filepath.Join(*data, "tus"),
		uploadURL: func(jobID int64, expires time.Time) string {
			return edgeBase + playback.UploadPath(playbackKey, jobID, expires)
		}}
	uploads := func(db *postgres.DB) (*catalog.Uploads, func(), error) { return du.start(ctx, db) }
	err = serveGalleryWith(ctx, ln, dbCfg, verifier, gf, uploads, func(s *catalog.Server) {
		s.Handle("GET /.well-known/jwks.json", issuer.JWKSHandler())
		rp = startRelay(ctx, dbCfg, nb.relay, bus.StreamOptions{}, devRevocations(), s.Registry())
	})
	rp.stop() // after the gallery, so that its last changes are published too
	if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause // a role failed and took the stack down
	}
	return err
}

// devUploadSide is the dev stack's upload side: presigned PUTs to the media server,
// resumable uploads in a folder (one process takes every request), and the janitor.
type devUploadSide struct {
	st        *storage.Store
	natsURL   string
	limits    uploads.Limits
	tusDir    string
	uploadURL func(jobID int64, expires time.Time) string
}

// start builds the upload side on db and runs it until the returned stop.
func (d *devUploadSide) start(ctx context.Context, db *postgres.DB) (*catalog.Uploads, func(), error) {
	q, events, stop, err := devQueue(ctx, d.natsURL)
	if err != nil {
		return nil, nil, err
	}
	return startUploads(ctx, uploads.Config{Jobs: postgres.NewJobService(db), Objects: d.st, Queue: q, Events: events, Limits: d.limits,
		URL: func(_ context.Context, jobID int64, _ string, expires time.Time) (string, error) {
			return d.uploadURL(jobID, expires), nil
		},
		Tus: uploads.Tus{Dir: d.tusDir},
	}, stop)
}

// startDevTranscoder runs the in-process transcoder (none when cfg.Workers is 0) until
// stop is called; if it fails meanwhile, failed stops the stack with its error.
func startDevTranscoder(ctx context.Context, cfg transcoder.Config, dbCfg postgres.Config, s3Cfg storage.Config, natsURL string,
	failed context.CancelCauseFunc) (stop func()) {
	if cfg.Workers == 0 {
		return func() {}
	}
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() {
		dbCfg.AppName = "videoforge-dev-transcoder"
		err := serveTranscoder(tctx, transcoderSettings{Config: cfg, DB: dbCfg, S3: s3Cfg, NATSURL: natsURL}, slog.Default())
		if err != nil && tctx.Err() == nil {
			failed(fmt.Errorf("transcoder: %w", err))
		}
		done <- err
	}()
	return func() {
		cancel()
		if err := <-done; err != nil && tctx.Err() == nil {
			slog.Error("transcoder stopped", "err", err)
		}
	}
}

// printDevBanner tells where the dev stack answers. The NATS line names the read-only
// user, so that the stock CLI and the upload command can follow events; the other
// roles' passwords stay in the data folder.
func printDevBanner(w io.Writer, base, edgeBase, data string, nb devBus, natsKeys string) {
	watch := "nats sub 'videoforge.catalog.>' --server " + nb.reader
	users := "every role connects with NATS_URL"
	if nb.server != "" {
		users = "read-only user; each role has its own, in " + natsKeys
		watch = fmt.Sprintf("nats sub 'videoforge.catalog.>' --server %s --user %s --password \"$(cat %s)\"",
			nb.server, bus.RoleReader, bus.PasswordFile(natsKeys, bus.RoleReader))
	}
	fmt.Fprintf(w, `VideoForge dev stack is up.
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
Stop with Ctrl-C.
`, base, data, nb.reader, edgeBase, watch, users)
}

// startDevEdge runs the streaming edge on ln until stop is called, with the playback
// token key kept in the data folder, and waits until it has loaded the catalog.
func startDevEdge(ctx context.Context, ln net.Listener, dbCfg postgres.Config, natsURL, baseURL string, key []byte, verifier edge.Verifier,
	withMedia func(*edge.Edge, *postgres.DB) (func(), error)) (stop func(), err error) {
	cfg := edge.Config{NATSURL: natsURL, BaseURL: baseURL, TokenKey: key}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dbCfg.AppName = "videoforge-dev-edge"
	db, err := postgres.Open(ctx, dbCfg)
	if err != nil {
		return nil, err
	}
	e, err := edge.New(cfg, postgres.NewEdgeCatalog(db), verifier, slog.Default())
	if err != nil {
		db.Close()
		return nil, err
	}
	closeMedia, err := withMedia(e, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	ectx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := e.Run(ectx, ln); err != nil {
			slog.Error("edge stopped", "err", err)
		}
	}()
	stop = func() {
		cancel()
		<-done
		closeMedia()
		db.Close()
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := e.WaitReady(wctx); err != nil {
		stop()
		return nil, fmt.Errorf("edge: not ready: %w", err)
	}
	return stop, nil
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

// devBus holds the NATS URL each role of the dev stack connects with, its user's
// credentials in it.
type devBus struct {
	relay, transcoder, uploads, reader string
	// server is the embedded server's URL without credentials; empty with NATS_URL.
	server string
}

// devNATS returns the NATS URLs the dev stack uses: url for every role when set, else
// those of an embedded nats-server with its store in dir, which stop shuts down. The
// embedded server requires credentials: one user per role with that role's permissions
// (bus.Permissions), their passwords kept in keys (made at first start).
func devNATS(ctx context.Context, url, dir, keys string, port int) (devBus, func(), error) {
	if url != "" {
		slog.Info("using NATS from NATS_URL")
		return devBus{relay: url, transcoder: url, uploads: url, reader: url}, func() {}, nil
	}
	creds, err := bus.LoadOrCreateCredentials(keys)
	if err != nil {
		return devBus{}, nil, fmt.Errorf("embedded NATS: %w", err)
	}
	if port == defaultNATSPort {
		// Another NATS (a system one, say) may hold the usual port: the URL printed in
		// the banner is what matters, so take any free one then.
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
			slog.Info("NATS's usual port is taken; the embedded server takes a free one", "port", port)
			port = 0
		} else {
			l.Close()
		}
	}
	srv, err := bus.Start(ctx, bus.ServerConfig{StoreDir: dir, Port: port, Log: slog.Default(), Credentials: creds})
	if err != nil {
		return devBus{}, nil, fmt.Errorf("embedded NATS (NATS_PORT=%d): %w", port, err)
	}
	slog.Info("embedded NATS started", "url", srv.ClientURL(), "store", dir, "credentials", keys)
	u := srv.ClientURL()
	b := devBus{server: u, relay: creds.URL(u, bus.RoleRelay), transcoder: creds.URL(u, bus.RoleTranscoder),
		uploads: creds.URL(u, bus.RoleUploads), reader: creds.URL(u, bus.RoleReader)}
	// The streams exist before any part starts, so that the edge knows the stream's
	// position from its first snapshot. Declaring them is the relay's right.
	conn, err := bus.Connect(ctx, b.relay, "videoforge-dev", slog.Default())
	if err == nil {
		err = bus.EnsureStreams(ctx, conn.JetStream(), bus.StreamOptions{})
		conn.Close()
	}
	if err != nil {
		srv.Shutdown()
		return devBus{}, nil, fmt.Errorf("embedded NATS: %w", err)
	}
	return b, srv.Shutdown, nil
}

// devDatabase returns the URL of the database the dev stack uses: url when it answers,
// else the "videoforge" database of a private cluster in dir, which stop shuts down.
func devDatabase(ctx context.Context, url, dir string) (dsn string, stop func(), err error) {
	if url != "" {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		conn, err := pgx.Connect(pctx, url)
		if err == nil {
			conn.Close(ctx)
			slog.Info("using PostgreSQL from DATABASE_URL")
			return url, func() {}, nil
		}
		slog.Warn("DATABASE_URL does not answer; starting a private cluster instead", "err", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cl, err := pgcluster.Start(sctx, dir, pgcluster.Options{Fsync: true, Log: slog.Default()})
	if err != nil {
		return "", nil, err
	}
	stop = func() {
		if err := cl.Stop(); err != nil {
			slog.Error("stopping PostgreSQL", "err", err)
		}
	}
	if err := postgres.CreateDatabase(sctx, cl.DSN("postgres"), "videoforge"); err != nil {
		stop()
		return "", nil, err
	}
	slog.Info("private PostgreSQL started", "dir", dir, "port", cl.Port)
	return cl.DSN("videoforge"), stop, nil
}
