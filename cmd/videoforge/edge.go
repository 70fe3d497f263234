package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"

	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/edge"
)

func runEdge(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("edge", "Serves the streaming API (/api/stream) from memory, kept current by the CATALOG stream and PostgreSQL.")
	addr := f.string("addr", "EDGE_ADDR", edge.DefaultAddr, "address to listen on")
	natsURL := f.string("nats-url", "NATS_URL", "", "NATS server(s) to follow catalog events from, with the read-only NATS user in the URL (nats://reader:…@host:4222); empty reconciles with PostgreSQL only")
	pf := f.playback()
	stale := f.duration("staleness", "EDGE_STALENESS", edge.DefaultStaleness, "reconcile period: bound on serving a changed video's old state when events are lost")
	cors := f.string("cors-origins", "EDGE_CORS_ORIGINS", "*", "comma-separated browser origins allowed to call the streaming API")
	readTimeout := f.duration("read-timeout", "EDGE_READ_TIMEOUT", edge.DefaultReadTimeout, "bound on reading a request, header included")
	writeTimeout := f.duration("write-timeout", "EDGE_WRITE_TIMEOUT", edge.DefaultWriteTimeout, "bound on writing an answer")
	idleTimeout := f.duration("idle-timeout", "EDGE_IDLE_TIMEOUT", edge.DefaultIdleTimeout, "bound on a kept-alive connection waiting for its next request")
	maxConns := f.int("max-conns-per-ip", "EDGE_MAX_CONNS_PER_IP", 0, "open connections per client address (0: 256, or no bound behind trusted proxies; negative: no bound)")
	proxies := f.int("trusted-proxies", "EDGE_TRUSTED_PROXIES", 0, "proxies in front of the edge that append to X-Forwarded-For (the client address is that many entries from the right)")
	missRate := f.string("miss-rate", "EDGE_MISS_RATE", strconv.Itoa(edge.DefaultMissRate), "look-ups per second of unknown ids (PostgreSQL reads) per client address before 429; negative: no limit")
	missBurst := f.int("miss-burst", "EDGE_MISS_BURST", edge.DefaultMissBurst, "burst of unknown-id look-ups per client address")
	negEntries := f.int("negative-entries", "EDGE_NEGATIVE_ENTRIES", edge.DefaultNegativeEntries, "unknown ids remembered as not found")
	tombstones := f.duration("tombstone-retention", "EDGE_TOMBSTONE_RETENTION", edge.DefaultTombstoneRetention, "how long a deleted video's version is remembered")
	grace := f.duration("shutdown-grace", "SHUTDOWN_GRACE", edge.DefaultShutdownGrace, "how long requests in flight may finish on SIGTERM")
	dbf := f.database()
	af := f.auth()
	if err := f.parse(args); err != nil {
		return err
	}
	rate, err := strconv.ParseFloat(*missRate, 64)
	if err != nil {
		return fmt.Errorf("EDGE_MISS_RATE=%q: not a number", *missRate)
	}
	dbCfg, err := dbf.config("videoforge-edge")
	if err != nil {
		return err
	}
	var key []byte
	if *pf.key != "" {
		if key, err = pf.tokenKey(); err != nil {
			return err
		}
	}
	cfg := edge.Config{Addr: *addr, NATSURL: *natsURL, BaseURL: *pf.base, TokenKey: key, TokenTTL: *pf.ttl, SignPublic: *pf.signPublic, Staleness: *stale,
		CORSOrigins: splitList(*cors), ReadTimeout: *readTimeout, WriteTimeout: *writeTimeout, IdleTimeout: *idleTimeout,
		MaxConnsPerIP: *maxConns, TrustedProxies: *proxies, MissRate: rate, MissBurst: *missBurst,
		NegativeEntries: int64(*negEntries), TombstoneRetention: *tombstones, ShutdownGrace: *grace}
	if err := cfg.Validate(); err != nil {
		return err
	}
	// Private videos need their owner's token; without an issuer they are 404 to all.
	var verifier edge.Verifier
	if authCfg, err := af.config(); err == nil {
		v, err := auth.NewVerifier(ctx, authCfg, nil)
		if err != nil {
			return err
		}
		verifier = v
	} else {
		slog.Warn("no token issuer configured: private videos are not served", "reason", err)
	}
	db, err := postgres.Open(ctx, dbCfg)
	if err != nil {
		return err
	}
	defer db.Close()
	e, err := edge.New(cfg, postgres.NewEdgeCatalog(db), verifier, slog.Default())
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("EDGE_ADDR: %w", err)
	}
	slog.Info("edge listening", "addr", ln.Addr().String(), "nats", *natsURL != "")
	return e.Run(ctx, ln)
}
