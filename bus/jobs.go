package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/videoforge/videoforge"
)

// WatchJob hands every event of job jobID in the JOBS stream, from its first, to
// handle (in order, on one goroutine; undecodable ones are skipped) until stop is
// called or ctx ends.
func (c *Conn) WatchJob(ctx context.Context, jobID int64, handle func(videoforge.JobEvent)) (stop func(), err error) {
	cons, err := c.js.OrderedConsumer(ctx, JobsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{videoforge.JobSubjectPrefix + strconv.FormatInt(jobID, 10) + ".>"},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("bus: watch job %d: %w", jobID, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var e videoforge.JobEvent
		if json.Unmarshal(m.Data(), &e) == nil {
			handle(e)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("bus: watch job %d: %w", jobID, err)
	}
	return cc.Stop, nil
}

// JobEvents publishes job events to JetStream, on videoforge.jobs.<jobId>.<type>
// (the JOBS stream captures them): the transcoder's and the upload side's events.
type JobEvents struct {
	JS jetstream.JetStream
}

// PublishJobEvent publishes e and waits for JetStream's ack.
func (n JobEvents) PublishJobEvent(ctx context.Context, e videoforge.JobEvent) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := n.JS.Publish(ctx, videoforge.JobSubject(e.JobID, e.Type), body); err != nil {
		return fmt.Errorf("bus: publish job event: %w", err)
	}
	return nil
}
