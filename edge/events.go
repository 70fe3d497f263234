package edge

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/internal/retry"
	"github.com/videoforge/videoforge/telemetry"
)

// follower is the goroutine that reads the CATALOG stream with an ordered consumer
// from just after the snapshot's position and hands each event to the applier.
type follower struct {
	edge *Edge
	feed *bus.CatalogFeed
}

func (f *follower) run(ctx context.Context, seq uint64, known bool) {
	e := f.edge
	for ctx.Err() == nil {
		if !known {
			// The snapshot's position is unknown (NATS was away): follow from now on
			// and let an immediate reconcile cover what came before.
			s, err := f.feed.LastSeq(ctx)
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

// follow applies the events after seq until ctx ends or the feed fails, and returns
// the last stream sequence handled.
func (f *follower) follow(ctx context.Context, seq uint64) (uint64, error) {
	e := f.edge
	return f.feed.Follow(ctx, seq, func(d bus.Delivery) error {
		e.metrics.pending.Set(float64(d.Pending))
		if d.Err != nil {
			e.log.Error("undecodable catalog event skipped", "subject", d.Subject, "err", d.Err)
			return nil
		}
		c, err := eventChange(d.Event)
		if err != nil {
			e.log.Error("catalog event skipped", "subject", d.Subject, "err", err)
			return nil
		}
		actx, span := applySpan(ctx, d)
		err = e.apply(actx, c.change)
		span.End()
		if err != nil {
			return err
		}
		e.metrics.lag.Set(time.Since(c.at).Seconds())
		return nil
	})
}

// applySpan starts the span of applying one event, a child of the relay's publish
// span whose context the message's headers carry. An event without one (an untraced
// change, tracing off) starts no trace: its span is the no-op one.
func applySpan(ctx context.Context, d bus.Delivery) (context.Context, trace.Span) {
	if !telemetry.Enabled() {
		return ctx, noSpan
	}
	pctx := d.TraceContext(ctx)
	if !trace.SpanContextFromContext(pctx).IsValid() {
		return ctx, noSpan
	}
	return telemetry.Tracer().Start(pctx, "edge apply", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.String("messaging.system", "nats"), attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.destination.name", d.Subject), attribute.Int64("messaging.nats.stream_sequence", int64(d.Seq)),
		attribute.Int64(telemetry.VideoIDKey, d.Event.Video.ID), attribute.Int64("videoforge.version", d.Event.Version),
		attribute.String("videoforge.event_type", d.Event.Type)))
}

// noSpan is the span of untraced work.
var noSpan = trace.SpanFromContext(context.Background())

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

// eventChange turns a catalog event (checked by bus.DecodeEvent) into the change it
// asks for.
func eventChange(ev *videoforge.Event) (decoded, error) {
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
