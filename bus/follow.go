package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/telemetry"
)

// CatalogFeed reads the CATALOG stream for a consumer that keeps its own copy of the
// catalog and follows its changes (the edge): where the stream ends, and every event
// after a sequence, in stream order.
type CatalogFeed struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// DialCatalog connects to the NATS servers at url (the reader's user in it) without
// waiting for them: the caller serves from PostgreSQL while NATS is away and follows
// events once it answers. It reconnects forever and trusts NATS_CA_FILE's CA.
func DialCatalog(url, name string, log *slog.Logger) (*CatalogFeed, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nc, err := nats.Connect(url, append(TLSOptions(), nats.Name(name), nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1), nats.ReconnectWait(ReconnectWait),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("disconnected from NATS", "err", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted()) }))...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect to %s: %w", redact(url), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("bus: connect to %s: jetstream: %w", redact(url), err)
	}
	return &CatalogFeed{nc: nc, js: js}, nil
}

// Close closes the connection.
func (f *CatalogFeed) Close() { f.nc.Close() }

// LastSeq returns the sequence of the CATALOG stream's last message.
func (f *CatalogFeed) LastSeq(ctx context.Context) (uint64, error) {
	s, err := f.js.Stream(ctx, CatalogStream)
	if err != nil {
		return 0, fmt.Errorf("bus: find stream %s: %w", CatalogStream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("bus: read stream %s: %w", CatalogStream, err)
	}
	return info.State.LastSeq, nil
}

// A Delivery is one message of the CATALOG stream: its sequence, how many follow it,
// and its event, or the error that made it undecodable (ParseEvent's).
type Delivery struct {
	Seq, Pending uint64
	Subject      string
	Event        *videoforge.Event
	Err          error
	header       nats.Header
}

// TraceContext returns ctx with the trace context the message's headers carry (the
// relay's publish span, when the change was traced) as its remote parent.
func (d Delivery) TraceContext(ctx context.Context) context.Context {
	return telemetry.Extract(ctx, HeaderCarrier(d.header))
}

// Follow hands every message of the CATALOG stream after seq to handle, in stream
// order, with an ordered consumer, until ctx ends, the consumer fails or handle returns
// an error; it returns the last sequence handed over and why it stopped.
func (f *CatalogFeed) Follow(ctx context.Context, seq uint64, handle func(Delivery) error) (uint64, error) {
	cons, err := f.js.OrderedConsumer(ctx, CatalogStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{CatalogSubjects},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    seq + 1,
	})
	if err != nil {
		return seq, fmt.Errorf("bus: follow %s: %w", CatalogStream, err)
	}
	msgs := make(chan jetstream.Msg, 256)
	quit := make(chan struct{})
	defer close(quit)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-quit:
		}
	})
	if err != nil {
		return seq, fmt.Errorf("bus: follow %s: %w", CatalogStream, err)
	}
	defer cc.Stop()
	for {
		select {
		case <-ctx.Done():
			return seq, ctx.Err()
		case <-cc.Closed():
			return seq, errors.New("bus: the CATALOG consumer closed")
		case m := <-msgs:
			d := Delivery{Subject: m.Subject(), header: m.Headers()}
			if md, err := m.Metadata(); err == nil {
				seq, d.Seq, d.Pending = md.Sequence.Stream, md.Sequence.Stream, md.NumPending
			}
			d.Event, d.Err = DecodeEvent(m)
			if err := handle(d); err != nil {
				return seq, err
			}
		}
	}
}
