package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/internal/retry"
)

// The stream the edge follows, as the bus declares it.
const (
	catalogStream   = "CATALOG"
	catalogSubjects = "videoforge.catalog.>"
)

type natsConn struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// dialNATS connects without waiting for the server: the edge serves from PostgreSQL
// while NATS is away and follows events once it answers.
func dialNATS(url string, log *slog.Logger) (*natsConn, error) {
	// The servers' CA (NATS_CA_FILE) is trusted as by every VideoForge connection.
	nc, err := nats.Connect(url, append(bus.TLSOptions(), nats.Name("videoforge-edge"), nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("disconnected from NATS", "err", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted()) }))...)
	if err != nil {
		return nil, fmt.Errorf("edge: connect to NATS: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("edge: connect to NATS: jetstream: %w", err)
	}
	return &natsConn{nc: nc, js: js}, nil
}

func (c *natsConn) close() { c.nc.Close() }

func (c *natsConn) lastSeq(ctx context.Context) (uint64, error) {
	s, err := c.js.Stream(ctx, catalogStream)
	if err != nil {
		return 0, fmt.Errorf("edge: find stream %s: %w", catalogStream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("edge: read stream %s: %w", catalogStream, err)
	}
	return info.State.LastSeq, nil
}

// follower is the goroutine that reads the CATALOG stream with an ordered consumer
// from just after the snapshot's position and hands each event to the applier.
type follower struct {
	edge *Edge
	conn *natsConn
}

func (f *follower) run(ctx context.Context, seq uint64, known bool) {
	e := f.edge
	for ctx.Err() == nil {
		if !known {
			// The snapshot's position is unknown (NATS was away): follow from now on
			// and let an immediate reconcile cover what came before.
			s, err := f.conn.lastSeq(ctx)
			if err != nil {
				if !retry.Sleep(ctx, time.Second) {
					return
				}
				continue
			}
			seq, known = s, true
			go e.Reconcile(ctx)
		}
		last, err := f.follow(ctx, seq)
		seq = max(seq, last)
		if ctx.Err() != nil {
			return
		}
		e.log.Warn("following CATALOG stopped; resuming", "seq", seq, "err", err)
		if !retry.Sleep(ctx, 500*time.Millisecond) {
			return
		}
	}
}

// follow consumes from seq+1 until ctx ends or the consumer fails, and returns the
// last stream sequence handled.
func (f *follower) follow(ctx context.Context, seq uint64) (uint64, error) {
	e := f.edge
	cons, err := f.conn.js.OrderedConsumer(ctx, catalogStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{catalogSubjects},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    seq + 1,
	})
	if err != nil {
		return seq, fmt.Errorf("edge: follow %s: %w", catalogStream, err)
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
		return seq, fmt.Errorf("edge: follow %s: %w", catalogStream, err)
	}
	defer cc.Stop()
	for {
		select {
		case <-ctx.Done():
			return seq, ctx.Err()
		case <-cc.Closed():
			return seq, errors.New("edge: consumer closed")
		case m := <-msgs:
			if md, err := m.Metadata(); err == nil {
				seq = md.Sequence.Stream
				e.metrics.pending.Set(float64(md.NumPending))
			}
			c, err := decodeEvent(m.Data())
			if err != nil {
				e.log.Error("undecodable catalog event skipped", "subject", m.Subject(), "err", err)
				continue
			}
			if err := e.apply(ctx, c.change); err != nil {
				return seq, err
			}
			e.metrics.lag.Set(time.Since(c.at).Seconds())
		}
	}
}

// apply hands an event's change to the applier, which applies at once what narrows
// access; what would widen it is queued for the confirmers, which read it from
// PostgreSQL and apply PostgreSQL's row instead. The queue is bounded and never holds
// up the events behind it: when it is full the hint is dropped, and the narrower
// state stays until the next reconcile.
func (e *Edge) apply(ctx context.Context, c change) error {
	var confirm []int64
	if c.hint {
		c.confirm = &confirm
	}
	if err := e.send(ctx, c); err != nil {
		return err
	}
	for _, id := range confirm {
		select {
		case e.confirmQ <- id:
			e.metrics.confirms.Inc()
		default:
			e.metrics.confirmsDropped.Inc()
		}
	}
	return nil
}

// Confirmation reads: how many run at once, how many ids each reads at most, and how
// many ids may wait.
const (
	confirmers     = 4
	confirmBatch   = 256
	confirmBacklog = 16_384
)

// confirm is a confirmer's life: it reads the queued ids from PostgreSQL, as many at
// once as are waiting, and applies the rows under the usual version rule (so a read
// that races a later event cannot undo it). Ids PostgreSQL does not have are left as
// they are held (not held, or deleted).
func (e *Edge) confirm(ctx context.Context) {
	in := newInterner()
	ids := make([]int64, 0, confirmBatch)
	for {
		ids = ids[:0]
		select {
		case <-ctx.Done():
			return
		case id := <-e.confirmQ:
			ids = append(ids, id)
		}
	drain:
		for len(ids) < confirmBatch {
			select {
			case id := <-e.confirmQ:
				ids = append(ids, id)
			default:
				break drain
			}
		}
		e.metrics.reads.Add(float64(len(ids)))
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		vs, err := e.store.byIDs(qctx, in, ids)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			e.metrics.confirmsDropped.Add(float64(len(ids)))
			e.log.Warn("catalog events not confirmed; keeping what is held", "videos", len(ids), "err", err)
			continue
		}
		if len(vs) > 0 {
			if err := e.send(ctx, change{videos: vs}); err != nil {
				return
			}
		}
	}
}

type decoded struct {
	change change
	at     time.Time
}

// decodeEvent turns an event body into the change it asks for.
func decodeEvent(data []byte) (decoded, error) {
	var ev videoforge.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return decoded{}, fmt.Errorf("edge: decode event: %w", err)
	}
	if ev.Video == nil || ev.Video.ID <= 0 || ev.Version <= 0 {
		return decoded{}, errors.New("edge: decode event: no video, id or version")
	}
	d := decoded{at: ev.OccurredAt}
	switch ev.Type {
	case videoforge.EventCreated, videoforge.EventUpdated:
		d.change.videos = []*video{fromVideo(ev.Video, ev.Version)}
		d.change.hint = true
	case videoforge.EventDeleted:
		d.change.deletes = []tombstone{{id: ev.Video.ID, version: ev.Version}}
	default:
		return decoded{}, fmt.Errorf("edge: decode event: unknown type %q", ev.Type)
	}
	return d, nil
}
