package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

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
	dbf := f.database()
	af := f.auth()
	if err := f.parse(args); err != nil {
		return err
	}
	dbCfg, err := dbf.config("videoforge-edge")
	if err != nil {
		return err
	}
	cfg := edge.Config{Addr: *addr, NATSURL: *natsURL, BaseURL: *pf.base, TokenKey: []byte(*pf.key), TokenTTL: *pf.ttl, SignPublic: *pf.signPublic, Staleness: *stale}
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
	e, err := edge.New(cfg, db.Pool(), verifier, slog.Default())
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
