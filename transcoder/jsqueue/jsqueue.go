// Package jsqueue implements the transcoder's job queue as a JetStream work-queue
// stream, the embedded default: in-progress acks are the heartbeat, and a message
// received more than the allowed number of times moves to a dead-letter stream.
//
// Only the consumer side declares the shared consumer: New, which the transcoder
// calls, creates or updates it with the transcoder's AckWait. Producers (the upload
// side) use NewProducer, which only ensures the streams and publishes, so that a
// producer started after the transcoder cannot reset the consumer's settings.
package jsqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/telemetry"
	"github.com/videoforge/videoforge/transcoder"
)

// Defaults of Config.
const (
	DefaultStream          = "TRANSCODE"
	DefaultSubject         = "videoforge.transcode.jobs"
	DefaultConsumer        = "transcoder"
	DefaultDeadStream      = "TRANSCODE_DEAD"
	DefaultDeadSubject     = "videoforge.transcode.dead"
	DefaultAckWait         = 60 * time.Second
	DefaultMaxReceives     = 5
	DefaultPollWait        = 5 * time.Second
	deadConsumerSuffix     = "_dead"
	headerDeliveries       = "Videoforge-Deliveries"
	headerOriginalSequence = "Videoforge-Stream-Sequence"
)

// Config names the streams and sets the delivery rules.
type Config struct {
	Stream      string        // the work-queue stream
	Subject     string        // its subject
	Consumer    string        // the durable pull consumer all workers share
	DeadStream  string        // the dead-letter stream
	DeadSubject string        // its subject
	AckWait     time.Duration // how long a received message stays invisible without a heartbeat
	MaxReceives int           // receives before a message goes to the dead-letter stream
	PollWait    time.Duration // how long Receive waits for a message
	Replicas    int           // stream replicas in a cluster; 0 means 1
}

func (c *Config) defaults() {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Subject == "" {
		c.Subject = DefaultSubject
	}
	if c.Consumer == "" {
		c.Consumer = DefaultConsumer
	}
	if c.DeadStream == "" {
		c.DeadStream = DefaultDeadStream
	}
	if c.DeadSubject == "" {
		c.DeadSubject = DefaultDeadSubject
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxReceives <= 0 {
		c.MaxReceives = DefaultMaxReceives
	}
	if c.PollWait <= 0 {
		c.PollWait = DefaultPollWait
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
}

// Producer sends job messages into the work queue. It never declares or changes the
// consumer: that is the transcoder's, whose settings (AckWait above all) must not be
// overridden by whichever process started last.
type Producer struct {
	js  jetstream.JetStream
	cfg Config
}

// NewProducer ensures the work-queue stream and the dead-letter stream exist (creating
// or updating them) and returns a producer. Of cfg it uses the names and Replicas; the
// delivery settings are the consumer side's and are ignored.
func NewProducer(ctx context.Context, js jetstream.JetStream, cfg Config) (*Producer, error) {
	cfg.defaults()
	if err := ensureStreams(ctx, js, cfg); err != nil {
		return nil, err
	}
	return &Producer{js: js, cfg: cfg}, nil
}

func ensureStreams(ctx context.Context, js jetstream.JetStream, cfg Config) error {
	for _, sc := range []jetstream.StreamConfig{
		{Name: cfg.Stream, Subjects: []string{cfg.Subject}, Description: "VideoForge transcoding jobs, one message per job",
			Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Replicas: cfg.Replicas, Duplicates: 10 * time.Minute},
		{Name: cfg.DeadStream, Subjects: []string{cfg.DeadSubject}, Description: "VideoForge transcoding jobs that were received too often",
			Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Replicas: cfg.Replicas, Duplicates: 10 * time.Minute},
	} {
		if err := bus.EnsureStream(ctx, js, sc); err != nil {
			return fmt.Errorf("jsqueue: %w", err)
		}
	}
	return nil
}

// Send publishes a message; a second one with the same id within ten minutes is dropped.
// The message's headers carry ctx's trace context (traceparent), so that the job's
// span continues the trace of the upload's complete.
func (p *Producer) Send(ctx context.Context, id string, body []byte) error {
	var opts []jetstream.PublishOpt
	if id != "" {
		opts = append(opts, jetstream.WithMsgID(id))
	}
	m := nats.NewMsg(p.cfg.Subject)
	m.Data = body
	telemetry.Inject(ctx, bus.HeaderCarrier(m.Header))
	if _, err := p.js.PublishMsg(ctx, m, opts...); err != nil {
		return fmt.Errorf("jsqueue: send: %w", err)
	}
	return nil
}

// Queue is the work queue as its consumers (the transcoder's workers) see it.
type Queue struct {
	*Producer // hand-backs at shutdown are sent into the queue again
	js        jetstream.JetStream
	cfg       Config
	cons      jetstream.Consumer
	dead      bool // a queue over the dead-letter stream: nothing goes further
}

var _ transcoder.Queue = (*Queue)(nil)

// New ensures the streams as NewProducer does and declares the shared consumer,
// creating it or updating it to cfg's AckWait. Only the consumer side calls it.
func New(ctx context.Context, js jetstream.JetStream, cfg Config) (*Queue, error) {
	p, err := NewProducer(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	cfg = p.cfg
	cons, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
		Durable:   cfg.Consumer,
		AckPolicy: jetstream.AckExplicitPolicy,
		AckWait:   cfg.AckWait,
		// No server-side bound: Receive moves a message past its allowed receives to
		// the dead-letter stream. A bound here would strand a message whose last
		// delivery was lost on its way (a fetch that expired as it arrived): the server
		// would never deliver it again, and nothing would dead-letter it.
		MaxDeliver:    -1,
		MaxAckPending: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("jsqueue: declare consumer %s: %w", cfg.Consumer, err)
	}
	return &Queue{Producer: p, js: js, cfg: cfg, cons: cons}, nil
}

// DeadLetters returns a queue over the dead-letter stream, for inspecting and
// reprocessing what landed there. Its messages never move further.
func (q *Queue) DeadLetters(ctx context.Context) (*Queue, error) {
	cons, err := q.js.CreateOrUpdateConsumer(ctx, q.cfg.DeadStream, jetstream.ConsumerConfig{
		Durable: q.cfg.Consumer + deadConsumerSuffix, AckPolicy: jetstream.AckExplicitPolicy, AckWait: q.cfg.AckWait,
	})
	if err != nil {
		return nil, fmt.Errorf("jsqueue: declare consumer on %s: %w", q.cfg.DeadStream, err)
	}
	cfg := q.cfg
	cfg.Stream, cfg.Subject = cfg.DeadStream, cfg.DeadSubject
	return &Queue{Producer: &Producer{js: q.js, cfg: cfg}, js: q.js, cfg: cfg, cons: cons, dead: true}, nil
}

// Receive waits up to the poll time for a message, or until ctx ends. A message past its allowed
// receives is moved to the dead-letter stream on the way and not returned.
func (q *Queue) Receive(ctx context.Context) (transcoder.Delivery, error) {
	deadline := time.Now().Add(q.cfg.PollWait)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		wait := time.Until(deadline)
		if wait < 10*time.Millisecond {
			return nil, nil
		}
		wctx, cancel := context.WithDeadline(ctx, deadline)
		batch, err := q.cons.Fetch(1, jetstream.FetchContext(wctx))
		if err != nil {
			cancel()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("jsqueue: receive: %w", err)
		}
		var msg jetstream.Msg
		for m := range batch.Messages() {
			msg = m
		}
		cancel()
		if msg == nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) &&
			!errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("jsqueue: receive: %w", err)
		}
		if msg == nil {
			continue
		}
		md, err := msg.Metadata()
		if err != nil {
			return nil, fmt.Errorf("jsqueue: receive: %w", err)
		}
		d := &delivery{msg: msg, attempt: int(md.NumDelivered)}
		if !q.dead && d.attempt > q.cfg.MaxReceives {
			if err := q.deadLetter(ctx, msg, md); err != nil {
				return nil, err
			}
			continue
		}
		return d, nil
	}
}

// deadLetter copies msg to the dead-letter stream, de-duplicated by its sequence so that
// a crash before the Term copies it once, then removes it from the work queue.
func (q *Queue) deadLetter(ctx context.Context, msg jetstream.Msg, md *jetstream.MsgMetadata) error {
	out := nats.NewMsg(q.cfg.DeadSubject)
	out.Data = msg.Data()
	for k, v := range msg.Headers() {
		out.Header[k] = v
	}
	seq := strconv.FormatUint(md.Sequence.Stream, 10)
	out.Header.Set(headerOriginalSequence, seq)
	out.Header.Set(headerDeliveries, strconv.FormatUint(md.NumDelivered-1, 10))
	out.Header.Set(jetstream.MsgIDHeader, q.cfg.Stream+"-"+seq)
	if _, err := q.js.PublishMsg(ctx, out); err != nil {
		return fmt.Errorf("jsqueue: dead-letter message %s: %w", seq, err)
	}
	if err := msg.TermWithReason("received too often"); err != nil {
		return fmt.Errorf("jsqueue: remove dead-lettered message %s: %w", seq, err)
	}
	return nil
}

type delivery struct {
	msg     jetstream.Msg
	attempt int
}

func (d *delivery) Body() []byte { return d.msg.Data() }
func (d *delivery) Attempt() int { return d.attempt }

// TraceContext returns ctx with the sender's trace context, from the message's headers.
func (d *delivery) TraceContext(ctx context.Context) context.Context {
	return telemetry.Extract(ctx, bus.HeaderCarrier(d.msg.Headers()))
}

// Extend restarts the message's AckWait; d is ignored.
func (d *delivery) Extend(ctx context.Context, _ time.Duration) error {
	if err := d.msg.InProgress(); err != nil {
		return fmt.Errorf("jsqueue: heartbeat: %w", err)
	}
	return nil
}

// Ack removes the message from the stream, waiting for the server to confirm it.
func (d *delivery) Ack(ctx context.Context) error {
	if err := d.msg.DoubleAck(ctx); err != nil {
		return fmt.Errorf("jsqueue: ack: %w", err)
	}
	return nil
}

func (d *delivery) Release(ctx context.Context, delay time.Duration) error {
	var err error
	if delay > 0 {
		err = d.msg.NakWithDelay(delay)
	} else {
		err = d.msg.Nak()
	}
	if err != nil {
		return fmt.Errorf("jsqueue: release: %w", err)
	}
	return nil
}
