package transcoder

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/videoforge/videoforge"
)

// NATSEvents publishes job events to JetStream (the JOBS stream captures
// videoforge.jobs.>).
type NATSEvents struct {
	JS jetstream.JetStream
}

// PublishJobEvent publishes e on videoforge.jobs.<jobId>.<type> and waits for the ack.
func (n NATSEvents) PublishJobEvent(ctx context.Context, e videoforge.JobEvent) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := n.JS.Publish(ctx, videoforge.JobSubject(e.JobID, e.Type), body); err != nil {
		return fmt.Errorf("publish job event: %w", err)
	}
	return nil
}
