package stack

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/catalog/relay"
	"github.com/videoforge/videoforge/web"
)

// sameURL gives every NATS role the one URL of a production process.
func sameURL(url string) map[bus.Role]string {
	if url == "" {
		return map[bus.Role]string{}
	}
	m := map[bus.Role]string{}
	for _, r := range bus.Roles() {
		m[r] = url
	}
	return m
}

// buildCatalog is `videoforge catalog`: the gallery API, with the upload routes when a
// bucket is set and the relay in-process when NATS is.
func (s *Stack) buildCatalog(ctx context.Context) error {
	o := &s.opts
	if _, err := o.uploadLimits(); err != nil {
		return err
	}
	rev, err := o.revocations()
	if err != nil {
		return err
	}
	if s.dbCfg, err = o.database("videoforge-catalog"); err != nil {
		return err
	}
	if _, _, err := o.readDatabase(s.dbCfg, ""); err != nil {
		return err
	}
	if err := s.verify(ctx, false); err != nil {
		return err
	}
	if s.playback, err = o.playback(); err != nil {
		return err
	}
	s.natsURLs = sameURL(o.NATS.URL)
	s.s3Cfg = o.S3
	s.s3Cfg.Region = o.AWSRegion
	up, err := s.bucketUploads(ctx)
	if err != nil {
		return err
	}
	ln, err := s.listen(o.Gallery.Addr, "GALLERY_ADDR")
	if err != nil {
		return err
	}

	srv, err := s.addGallery(ctx, ln, up, web.Config{StreamAPI: o.Gallery.StreamAPI, MediaOrigins: []string{o.Playback.BaseURL},
		CognitoDomain: o.Gallery.CognitoDomain, ClientID: o.Auth.ClientID}, nil)
	if err != nil {
		return err
	}
	if o.NATS.URL == "" || !o.Gallery.Relay {
		s.log.Warn("no relay in this process: catalog events wait in the outbox for 'videoforge relay'", "nats_url_set", o.NATS.URL != "")
		return nil
	}
	// The lease takes its defaults: in-process relays stand by for one another too.
	s.addRelay(relay.Config{}, rev, srv.Registry())
	return nil
}

// buildRelay is `videoforge relay`: the relay and the revocation pusher.
func (s *Stack) buildRelay(ctx context.Context) error {
	o := &s.opts
	rev, err := o.revocations()
	if err != nil {
		return err
	}
	rc, err := o.relay()
	if err != nil {
		return err
	}
	if s.dbCfg, err = o.database("videoforge-relay"); err != nil {
		return err
	}
	if o.NATS.URL == "" {
		return errors.New("NATS_URL is empty: the relay needs a NATS server to publish to")
	}
	s.natsURLs = sameURL(o.NATS.URL)
	var reg prometheus.Registerer = prometheus.NewRegistry()
	if o.Relay.MetricsAddr != "" {
		if reg, err = s.addMetrics(o.Relay.MetricsAddr, "RELAY_METRICS_ADDR"); err != nil {
			return err
		}
	}
	s.dbCfg.MaxConns = 4 // the relay's own session is separate; the pool deletes old rows and prunes
	if _, err := s.database(ctx, false); err != nil {
		return err
	}
	s.addRelay(rc, rev, reg)
	return nil
}

// buildEdge is `videoforge edge`: the streaming API from memory.
func (s *Stack) buildEdge(ctx context.Context) error {
	var err error
	if s.dbCfg, err = s.opts.database("videoforge-edge"); err != nil {
		return err
	}
	s.natsURLs = sameURL(s.opts.NATS.URL)
	cfg := s.edgeConfig()
	if err := cfg.Validate(); err != nil {
		return err
	}
	// Private videos need their owner's token; without an issuer they are 404 to all.
	if err := s.verify(ctx, true); err != nil {
		return err
	}
	ln, err := s.listen(cfg.Addr, "EDGE_ADDR")
	if err != nil {
		return err
	}
	return s.addEdge(ctx, ln, cfg, nil)
}

// buildTranscoder is `videoforge transcoder`.
func (s *Stack) buildTranscoder(ctx context.Context) error {
	o := &s.opts
	var err error
	if s.dbCfg, err = o.database("videoforge-transcoder"); err != nil {
		return err
	}
	cfg, err := o.transcoder()
	if err != nil {
		return err
	}
	s.s3Cfg = o.S3
	s.s3Cfg.Region = o.AWSRegion
	if err := s.s3Cfg.Validate(); err != nil {
		return err
	}
	if o.SQS.QueueURL == "" && o.NATS.URL == "" {
		return errors.New("no job queue: set SQS_QUEUE_URL, or NATS_URL for the JetStream work queue")
	}
	s.natsURLs = sameURL(o.NATS.URL)
	if o.TranscoderMetricsAddr != "" {
		reg, err := s.addMetrics(o.TranscoderMetricsAddr, "TRANSCODER_METRICS_ADDR")
		if err != nil {
			return err
		}
		cfg.Metrics = reg
	}
	return s.addTranscoder(ctx, cfg)
}
