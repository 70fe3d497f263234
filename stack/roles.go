package stack

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/catalog/relay"
	"github.com/videoforge/videoforge/catalog/revoke"
	"github.com/videoforge/videoforge/edge"
	"github.com/videoforge/videoforge/transcoder"
	"github.com/videoforge/videoforge/transcoder/jsqueue"
	"github.com/videoforge/videoforge/transcoder/sqs"
	"github.com/videoforge/videoforge/uploads"
	"github.com/videoforge/videoforge/web"
)

// addGallery adds the gallery API on ln (GALLERY_ADDR), with the upload side when up
// is set; mount adds routes outside the API (the dev issuer's JWKS).
func (s *Stack) addGallery(ctx context.Context, ln net.Listener, up *uploads.Uploads, site web.Config, mount func(*catalog.Server)) (*catalog.Server, error) {
	s.addrs.Gallery = "http://" + ln.Addr().String()
	db, err := s.database(ctx, s.opts.DB.Migrate)
	if err != nil {
		return nil, err
	}
	cfg := catalog.Config{CORSOrigins: s.opts.Gallery.CORSOrigins, Runtime: "go", Playback: s.playback}
	if up != nil {
		cfg.Uploads = up.Gallery()
	}
	videos, err := s.videoStore(ctx, db)
	if err != nil {
		return nil, err
	}
	srv := catalog.NewServer(cfg, videos, s.verifier, db.Ping, s.log)
	pages, err := web.New(site)
	if err != nil {
		return nil, err
	}
	pages.Mount(srv.Handle)
	if mount != nil {
		mount(srv)
	}
	grace := s.opts.ShutdownGrace
	s.log.Info("gallery listening", "addr", ln.Addr().String(), "schema", s.dbCfg.Schema)
	s.add(role{name: "gallery", grace: grace, run: func(ctx context.Context) error { return srv.Serve(ctx, ln, grace) }})
	s.add(role{name: "search-common", run: func(ctx context.Context) error { return s.refreshSearchCommon(ctx, db) }})
	if up != nil {
		s.add(role{name: "uploads", run: up.Run}) // its janitor stops after the gallery
	}
	return srv, nil
}

// searchCommonEvery is how often the gallery gives the catalog's new common words their
// search slots (postgres.RefreshSearchCommon).
const searchCommonEvery = 15 * time.Minute

// refreshSearchCommon runs postgres.RefreshSearchCommon now and every
// searchCommonEvery until ctx ends; a failure is logged and tried again next time.
func (s *Stack) refreshSearchCommon(ctx context.Context, db *postgres.DB) error {
	t := time.NewTicker(searchCommonEvery)
	defer t.Stop()
	for {
		filled, err := postgres.RefreshSearchCommon(ctx, db)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.Warn("search common words: not refreshed", "err", err)
		case len(filled) > 0:
			s.log.Info("search common words: slots filled", "lexemes", filled)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// videoStore is the gallery's video store over the primary db, with its listings read
// from the read replica when DATABASE_READ_URL names one. The gallery's readiness stays
// the primary's: while the replica is down, listings fall back to the primary.
func (s *Stack) videoStore(ctx context.Context, db *postgres.DB) (videoforge.VideoService, error) {
	rc, ok, err := s.opts.readDatabase(s.dbCfg, s.dbCfg.AppName+"-read")
	if err != nil || !ok {
		return postgres.NewVideoService(db), err
	}
	replica, err := postgres.Open(ctx, rc)
	if err != nil {
		return nil, fmt.Errorf("read replica: %w", err)
	}
	s.onClose(replica.Close)
	s.log.Info("gallery listings read from the read replica (DATABASE_READ_URL); by id and writes from the primary")
	return postgres.NewReplicaVideoService(db, replica, s.log), nil
}

// addRelay adds the relay (publishing the outbox to CATALOG) and the revocation pusher
// beside it. rc is the lease; reg gets both metrics.
func (s *Stack) addRelay(rc relay.Config, rev revocations, reg prometheus.Registerer) {
	rc.Metrics = reg
	s.add(role{name: "relay", run: func(ctx context.Context) error {
		conn, err := s.conn(ctx, bus.RoleRelay)
		if conn == nil {
			return err // nil: stopped while waiting for NATS
		}
		r, err := relay.New(postgres.NewOutbox(s.db), conn, rc, s.log)
		if err != nil {
			return err
		}
		return r.Run(ctx)
	}})
	s.add(role{name: "revocations", run: func(ctx context.Context) error { return s.pushRevocations(ctx, rev, reg) }})
}

// pushRevocations moves revocations to CloudFront's KeyValueStore (or, without one,
// only prunes old rows) until ctx ends.
func (s *Stack) pushRevocations(ctx context.Context, rev revocations, reg prometheus.Registerer) error {
	var store revoke.Store
	if rev.kvsARN != "" {
		awsCfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return fmt.Errorf("revocations: load AWS config: %w", err)
		}
		if awsCfg.Region == "" {
			awsCfg.Region = "us-east-1" // both APIs are global; the clients only need one
		}
		if store, err = revoke.NewAWS(awsCfg, rev.kvsARN, rev.distID); err != nil {
			return err
		}
	}
	pc := rev.pusher
	pc.Metrics = reg
	p, err := revoke.New(postgres.NewRevocationLog(s.db), store, pc, s.log)
	if err != nil {
		return err
	}
	return p.Run(ctx)
}

// addEdge adds the streaming edge on ln (EDGE_ADDR); media, when set, adds the media
// server to it (dev).
func (s *Stack) addEdge(ctx context.Context, ln net.Listener, cfg edge.Config, media func(*edge.Edge) error) error {
	s.addrs.Edge = "http://" + ln.Addr().String()
	db, err := s.database(ctx, false)
	if err != nil {
		return err
	}
	var verifier auth.TokenVerifier
	if s.verifier != nil {
		verifier = s.verifier
	}
	e, err := edge.New(cfg, postgres.NewEdgeCatalog(db), verifier, s.log)
	if err != nil {
		return err
	}
	if media != nil {
		if err := media(e); err != nil {
			return err
		}
	}
	s.log.Info("edge listening", "addr", ln.Addr().String(), "nats", cfg.NATSURL != "")
	s.add(role{name: "edge", grace: cfg.ShutdownGrace, ready: e.WaitReady,
		run: func(ctx context.Context) error { return e.Run(ctx, ln) }})
	return nil
}

// addTranscoder adds the transcoder: jobs from SQS when its URL is set, else from the
// JetStream work queue; job events on NATS when it is set.
func (s *Stack) addTranscoder(ctx context.Context, cfg transcoder.Config) error {
	db, err := s.database(ctx, false)
	if err != nil {
		return err
	}
	st, err := s.objects(ctx)
	if err != nil {
		return err
	}
	s.add(role{name: "transcoder", grace: cfg.ShutdownGrace, run: func(ctx context.Context) error {
		q, dead, events, err := s.jobQueue(ctx, cfg)
		if q == nil {
			return err
		}
		tr, err := transcoder.New(cfg, q, st, postgres.NewJobService(db), events, s.log)
		if err != nil {
			return err
		}
		if dead != nil {
			tr.WatchDeadLetters(dead)
		}
		return tr.Run(ctx)
	}})
	return nil
}

// jobQueue returns the transcoder's queue, its dead letters (nil: not watched) and the
// job events (nil without NATS). A nil queue with a nil error means ctx ended first.
func (s *Stack) jobQueue(ctx context.Context, cfg transcoder.Config) (q, dead transcoder.Queue, events transcoder.Events, err error) {
	if s.natsURLs[bus.RoleTranscoder] != "" {
		conn, err := s.conn(ctx, bus.RoleTranscoder)
		if conn == nil {
			return nil, nil, nil, err
		}
		events = bus.JobEvents{JS: conn.JetStream()}
		if s.opts.SQS.QueueURL == "" {
			jq, err := jsqueue.New(ctx, conn.JetStream(), jsqueue.Config{AckWait: cfg.Visibility, MaxReceives: cfg.MaxReceives, Replicas: s.streams.Replicas})
			if err != nil {
				return nil, nil, nil, err
			}
			dead, err := jq.DeadLetters(ctx)
			return jq, dead, events, err
		}
	}
	c, err := sqs.NewClient(ctx, sqs.ClientConfig{Region: s.opts.AWSRegion, Endpoint: s.opts.SQS.Endpoint})
	if err != nil {
		return nil, nil, nil, err
	}
	if q, err = sqs.New(c, sqs.Config{URL: s.opts.SQS.QueueURL, Visibility: cfg.Visibility}); err != nil {
		return nil, nil, nil, err
	}
	if s.opts.SQS.DeadLetterURL != "" {
		if dead, err = sqs.New(c, sqs.Config{URL: s.opts.SQS.DeadLetterURL, Visibility: cfg.Visibility}); err != nil {
			return nil, nil, nil, err
		}
	}
	return q, dead, events, nil
}

// addMetrics serves a new registry, with the Go and process collectors, as /metrics on
// addr, for the roles that have no HTTP server of their own; env names the setting.
func (s *Stack) addMetrics(addr, env string) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := s.listen(addr, env)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.log.Info(s.opts.Command+" metrics", "addr", ln.Addr().String())
	s.add(role{name: "metrics", grace: time.Second, run: func(ctx context.Context) error {
		go func() { <-ctx.Done(); srv.Close() }()
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			return err
		}
		return nil
	}})
	return reg, nil
}

// edgeConfig is the edge's configuration with the playback and NATS settings filled in.
func (s *Stack) edgeConfig() edge.Config {
	cfg := s.opts.Edge
	cfg.NATSURL = s.natsURLs[bus.RoleReader]
	cfg.BaseURL, cfg.TokenKey, cfg.TokenTTL, cfg.SignPublic = s.opts.Playback.BaseURL, s.opts.Playback.Key.key, s.opts.Playback.TTL, s.opts.Playback.SignPublic
	cfg.ShutdownGrace = s.opts.ShutdownGrace
	return cfg
}

// verify sets the token verifier from the options; optional says a missing issuer is
// only a warning (the edge: private videos are then 404 to all).
func (s *Stack) verify(ctx context.Context, optional bool) error {
	cfg, err := s.opts.auth()
	if err != nil && optional {
		s.log.Warn("no token issuer configured: private videos are not served", "reason", err)
		return nil
	}
	if err != nil {
		return err
	}
	s.verifier, err = auth.NewVerifier(ctx, cfg, nil)
	return err
}
