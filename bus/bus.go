// Package bus connects VideoForge to NATS JetStream: it runs an embedded nats-server for
// single-machine setups, connects to a server or cluster with endless reconnects,
// declares the CATALOG and JOBS streams, and publishes and decodes the catalog events
// whose subjects and bodies are the public contract described in the README.
package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream names and the subjects they capture. The subjects are a public, versioned
// interface: consumers subscribe to them with the stock nats CLI as well as with code.
const (
	// CatalogStream holds catalog changes, one message per committed change of a
	// video, on videoforge.catalog.video.<id>.<created|updated|deleted>.
	CatalogStream = "CATALOG"
	// CatalogSubjects is the subject filter of CatalogStream.
	CatalogSubjects = "videoforge.catalog.>"

	// JobsStream holds the life of transcoding jobs, on
	// videoforge.jobs.<jobId>.<queued|started|progress|completed|failed>.
	JobsStream = "JOBS"
	// JobsSubjects is the subject filter of JobsStream.
	JobsSubjects = "videoforge.jobs.>"
)

// Stream limits. A consumer that falls further behind than MaxAge (an edge that was
// off for a week) reloads its state from PostgreSQL, the source of truth, instead of
// replaying the stream.
const (
	// DuplicateWindow is how long JetStream remembers message ids (Nats-Msg-Id): a
	// publish repeated within it, as the relay does after a crash between the ack
	// and marking the row sent, is acknowledged without being stored again.
	DuplicateWindow = 2 * time.Minute
	// CatalogMaxAge is how long catalog events are kept.
	CatalogMaxAge = 7 * 24 * time.Hour
	// CatalogMaxBytes bounds the catalog stream's storage; the oldest events go first.
	CatalogMaxBytes = 1 << 30
	// JobsMaxAge is how long job events are kept.
	JobsMaxAge = 7 * 24 * time.Hour
	// JobsMaxBytes bounds the jobs stream's storage; the oldest events go first.
	JobsMaxBytes = 256 << 20
	// MaxEventSize bounds one event's body; a catalog event is a few kilobytes.
	MaxEventSize = 1 << 20
)

// StreamOptions tune the declared streams for the NATS deployment at hand. The zero
// value suits a single server.
type StreamOptions struct {
	// Replicas is the number of copies of each stream in a cluster; 0 means 1.
	// Declaring an existing stream with another count scales it.
	Replicas int
}

// CatalogStreamConfig returns the configuration EnsureStreams declares for CATALOG.
func CatalogStreamConfig(opt StreamOptions) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        CatalogStream,
		Description: "VideoForge catalog changes: videoforge.catalog.video.<id>.<created|updated|deleted>",
		Subjects:    []string{CatalogSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      CatalogMaxAge,
		MaxBytes:    CatalogMaxBytes,
		MaxMsgSize:  MaxEventSize,
		Duplicates:  DuplicateWindow,
		Replicas:    replicas(opt),
		AllowDirect: true, // edges read single messages without a consumer
	}
}

// JobsStreamConfig returns the configuration EnsureStreams declares for JOBS.
func JobsStreamConfig(opt StreamOptions) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        JobsStream,
		Description: "VideoForge job events: videoforge.jobs.<jobId>.<queued|started|progress|completed|failed>",
		Subjects:    []string{JobsSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      JobsMaxAge,
		MaxBytes:    JobsMaxBytes,
		MaxMsgSize:  MaxEventSize,
		Duplicates:  DuplicateWindow,
		Replicas:    replicas(opt),
		AllowDirect: true,
	}
}

func replicas(opt StreamOptions) int {
	if opt.Replicas <= 0 {
		return 1
	}
	return opt.Replicas
}

// EnsureStreams declares the CATALOG and JOBS streams, creating them or bringing an
// existing one's settings up to date. Calling it again, from any number of processes,
// changes nothing.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, opt StreamOptions) error {
	for _, cfg := range []jetstream.StreamConfig{CatalogStreamConfig(opt), JobsStreamConfig(opt)} {
		if err := EnsureStream(ctx, js, cfg); err != nil {
			return err
		}
	}
	return nil
}

// EnsureStream creates a stream, or updates it when its settings differ from cfg.
//
// A stream whose settings already match is left alone rather than updated in place:
// an update rewrites the stream's store configuration while consumers may be being
// created on it, which nats-server v2.15 does without a lock (its race detector
// reports it), and there is nothing to change anyway.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	if s, err := js.Stream(ctx, cfg.Name); err == nil && sameStream(s.CachedInfo().Config, cfg) {
		return nil
	} else if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("bus: look up stream %s: %w", cfg.Name, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("bus: declare stream %s: %w", cfg.Name, err)
	}
	return nil
}

// sameStream reports whether an existing stream has the settings cfg asks for. A
// numeric setting cfg leaves at zero takes the server's default, whatever it is.
func sameStream(have, want jetstream.StreamConfig) bool {
	same := func(h, w int64) bool { return w == 0 || h == w }
	return have.Description == want.Description && slices.Equal(have.Subjects, want.Subjects) &&
		have.Storage == want.Storage && have.Retention == want.Retention && have.Discard == want.Discard &&
		same(int64(have.MaxAge), int64(want.MaxAge)) && same(have.MaxBytes, want.MaxBytes) &&
		same(int64(have.MaxMsgSize), int64(want.MaxMsgSize)) && same(int64(have.Duplicates), int64(want.Duplicates)) &&
		same(int64(have.Replicas), int64(want.Replicas)) && have.AllowDirect == want.AllowDirect
}
