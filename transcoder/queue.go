package transcoder

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/videoforge/videoforge"
)

// Queue is a job queue with at-least-once delivery: a received message stays invisible
// to other receivers while its holder extends it, comes back when its holder stops
// (crash, release, timeout), and moves to a dead-letter queue after a bounded number of
// receives. Implementations: transcoder/sqs and transcoder/jsqueue.
type Queue interface {
	// Send adds a message. id identifies it for de-duplication where the queue
	// supports it (a JetStream message id, an SQS FIFO de-duplication id).
	Send(ctx context.Context, id string, body []byte) error
	// Receive waits for a message, up to the queue's poll time, and returns nil and
	// no error when none came.
	Receive(ctx context.Context) (Delivery, error)
}

// Delivery is one receive of a message.
type Delivery interface {
	// Body is the message as sent.
	Body() []byte
	// Attempt counts the receives of this message, 1 for the first.
	Attempt() int
	// Extend keeps the message invisible for d more (the heartbeat). Queues with a
	// fixed timeout (JetStream's AckWait) restart it and ignore d.
	Extend(ctx context.Context, d time.Duration) error
	// Ack removes the message for good: its job's results are committed.
	Ack(ctx context.Context) error
	// Release hands the message back to be received again after delay.
	Release(ctx context.Context, delay time.Duration) error
}

// TracedDelivery is a Delivery whose message carries its sender's trace context (the
// upload's complete): the job's span continues that trace. Both queues' deliveries are.
type TracedDelivery interface {
	Delivery
	// TraceContext returns ctx with the sender's span as its remote parent.
	TraceContext(ctx context.Context) context.Context
}

// Sender is the producing half of a Queue: what the upload side needs, so that the
// consumer's settings stay the transcoder's (jsqueue.Producer, or an SQS queue).
type Sender interface {
	Send(ctx context.Context, id string, body []byte) error
}

// Enqueue sends a job's message, identified by the job's id and send number
// (MessageID) so that sending the same one twice queues it once where the queue
// de-duplicates.
func Enqueue(ctx context.Context, q Sender, m videoforge.JobMessage) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return q.Send(ctx, MessageID(m), body)
}

// MessageID is the queue's de-duplication id of a job message: job-<jobId> for the
// first send, job-<jobId>-<send> for later ones and -h<attempt> for a hand-back at
// shutdown, which must not be dropped as repeats of the first.
func MessageID(m videoforge.JobMessage) string {
	id := "job-" + strconv.FormatInt(m.JobID, 10)
	if m.Send > 1 {
		id += "-" + strconv.FormatInt(int64(m.Send), 10)
	}
	if m.HandBack > 0 {
		id += "-h" + strconv.FormatInt(m.HandBack, 10)
	}
	return id
}
