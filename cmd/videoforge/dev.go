package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/pgcluster"
	vfsql "github.com/videoforge/videoforge/sql"
)

func runDev(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("dev", "Runs every role in one process on embedded defaults: PostgreSQL from DATABASE_URL\n"+
		"when it answers, else a private cluster under the data folder; NATS from NATS_URL, else an\n"+
		"embedded nats-server under the data folder; the relay; the dev token issuer.")
	data := f.string("data", "VIDEOFORGE_DATA", defaultDataDir, "data folder (database, keys)")
	galleryAddr := f.string("gallery-addr", "GALLERY_ADDR", "127.0.0.1:8080", "address of the gallery API")
	dbURL := f.string("database-url", "DATABASE_URL", "", "PostgreSQL to use when it answers; else a private cluster is started")
	schema := f.string("db-schema", "DB_SCHEMA", vfsql.DefaultSchema, "schema holding the catalog's tables")
	natsURLFlag := f.string("nats-url", "NATS_URL", "", "NATS to use; empty starts an embedded nats-server with its store under the data folder")
	natsPort := f.Int("nats-port", 4222, "client port of the embedded nats-server on 127.0.0.1; 0 picks a free one"+envNote("NATS_PORT"))
	f.env["nats-port"] = "NATS_PORT"
	gf := f.gallery()
	if err := f.parse(args); err != nil {
		return err
	}
	if err := vfsql.ValidateSchema(*schema); err != nil {
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

	dsn, stopDB, err := devDatabase(ctx, *dbURL, filepath.Join(*data, "postgres"))
	if err != nil {
		return err
	}
	defer stopDB()
	if err := vfsql.Migrate(ctx, dsn, *schema); err != nil {
		return err
	}
	natsURL, stopNATS, err := devNATS(ctx, *natsURLFlag, filepath.Join(*data, "nats"), *natsPort)
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
	fmt.Fprintf(stdout, `VideoForge dev stack is up.
  gallery API   %[1]s/api/gallery   (health: %[1]s/api/gallery/health)
  metrics       %[1]s/metrics
  dev JWKS      %[1]s/.well-known/jwks.json
  NATS          %[3]s   (streams CATALOG and JOBS)
  data folder   %[2]s
Mint a token:   videoforge token -data %[2]s -user alice
Watch events:   nats sub 'videoforge.catalog.>' --server %[3]s
Stop with Ctrl-C.
`, base, *data, natsURL)
	dbCfg := postgres.Config{URL: dsn, Schema: *schema, StatementTimeout: 10 * time.Second, AppName: "videoforge-dev"}
	var rp *inProcessRelay
	err = serveGallery(ctx, ln, dbCfg, verifier, gf, func(s *catalog.Server) {
		s.Handle("GET /.well-known/jwks.json", issuer.JWKSHandler())
		rp = startRelay(ctx, dbCfg, natsURL, bus.StreamOptions{}, s.Registry())
	})
	rp.stop() // after the gallery, so that its last changes are published too
	return err
}

// devNATS returns the URL of the NATS the dev stack uses: url when set, else that of
// an embedded nats-server with its store in dir, which stop shuts down.
func devNATS(ctx context.Context, url, dir string, port int) (string, func(), error) {
	if url != "" {
		slog.Info("using NATS from NATS_URL")
		return url, func() {}, nil
	}
	srv, err := bus.Start(ctx, bus.ServerConfig{StoreDir: dir, Port: port, Log: slog.Default()})
	if err != nil {
		return "", nil, fmt.Errorf("embedded NATS (NATS_PORT=%d): %w", port, err)
	}
	slog.Info("embedded NATS started", "url", srv.ClientURL(), "store", dir)
	return srv.ClientURL(), srv.Shutdown, nil
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
	if err := createDatabase(sctx, cl.DSN("postgres"), "videoforge"); err != nil {
		stop()
		return "", nil, err
	}
	slog.Info("private PostgreSQL started", "dir", dir, "port", cl.Port)
	return cl.DSN("videoforge"), stop, nil
}

// createDatabase creates a database unless it exists.
func createDatabase(ctx context.Context, adminDSN, name string) error {
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}
