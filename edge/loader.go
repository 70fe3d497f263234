package edge

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
)

// snapshotWorkers is how many id ranges are read at once at start.
const snapshotWorkers = 4

// loadSnapshot reads every video in id-keyset batches, several ranges at once, and
// applies them. It returns the database clock at its start, from which the reconciler
// continues.
func (e *Edge) loadSnapshot(ctx context.Context) (time.Time, error) {
	start := time.Now()
	since, err := e.store.Now(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("edge: snapshot: %w", err)
	}
	lo, hi, err := e.store.VideoIDRange(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("edge: snapshot: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	span := (hi - lo + snapshotWorkers) / snapshotWorkers
	for w := int64(0); w < snapshotWorkers && hi > 0; w++ {
		from, to := lo-1+w*span, min(lo-1+(w+1)*span, hi)
		g.Go(func() error {
			in := newInterner()
			for after := from; after < to; {
				vs, err := e.store.batch(gctx, in, after, to, e.cfg.BatchSize)
				if err != nil {
					return fmt.Errorf("edge: snapshot after id %d: %w", after, err)
				}
				if len(vs) == 0 {
					return nil
				}
				after = vs[len(vs)-1].id
				if err := e.send(gctx, change{videos: vs}); err != nil {
					return fmt.Errorf("edge: snapshot: %w", err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return time.Time{}, err
	}
	e.metrics.snapshotSeconds.Set(time.Since(start).Seconds())
	return since, nil
}

// reconcileOverlap is how far before the last reconcile's clock the next one looks
// for changes: a transaction's updated_at is its start, and it may commit later.
const reconcileOverlap = time.Minute

// reconciler is the goroutine that brings the held catalog in line with PostgreSQL
// every Staleness interval, whatever NATS delivered: it re-reads the videos changed
// since its watermark and removes the ids PostgreSQL no longer has.
type reconciler struct {
	edge      *Edge
	watermark time.Time
	in        *interner
}

func (r *reconciler) run(ctx context.Context) {
	r.in = newInterner()
	t := time.NewTicker(r.edge.cfg.Staleness)
	defer t.Stop()
	for {
		var done chan struct{}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case done = <-r.edge.reconcileC:
		}
		if err := r.once(ctx); err != nil && ctx.Err() == nil {
			r.edge.metrics.reconciles.WithLabelValues("failed").Inc()
			r.edge.log.Warn("reconcile failed; serving what is held", "err", err)
		} else if err == nil {
			r.edge.metrics.reconciles.WithLabelValues("ok").Inc()
		}
		if done != nil {
			close(done)
		}
	}
}

func (r *reconciler) once(ctx context.Context) error {
	e := r.edge
	vs, now, err := e.store.changedSince(ctx, r.in, r.watermark.Add(-reconcileOverlap))
	if err != nil {
		return err
	}
	if len(vs) > 0 {
		if err := e.send(ctx, change{videos: vs}); err != nil {
			return err
		}
	}
	// Every (id, version) PostgreSQL has, against every id held: what disagrees is
	// read again and PostgreSQL's row replaces what is held, even at a lower version
	// (a forged event's, or one from before the database was restored from a backup).
	var ids, versions []int64
	for after := int64(0); ; {
		is, vs, err := e.store.Versions(ctx, after, 100_000)
		if err != nil {
			return err
		}
		if len(is) == 0 {
			break
		}
		ids, versions = append(ids, is...), append(versions, vs...)
		after = is[len(is)-1]
	}
	q := &diffQuery{ids: ids, versions: versions, reply: make(chan []mismatch, 1)}
	if err := e.send(ctx, change{diff: q}); err != nil {
		return err
	}
	if ms := <-q.reply; len(ms) > 0 {
		// Read again: a row changed since the scan began is not replaced by the scan's
		// version, and one deleted since is removed.
		wanted := make([]int64, len(ms))
		for i, m := range ms {
			wanted[i] = m.id
		}
		rows, err := e.store.byIDs(ctx, r.in, wanted)
		if err != nil {
			return err
		}
		byID := make(map[int64]*video, len(rows))
		for _, v := range rows {
			byID[v.id] = v
		}
		fs := make([]forced, len(ms))
		for i, m := range ms {
			fs[i] = forced{id: m.id, expect: m.held, video: byID[m.id]}
		}
		if err := e.send(ctx, change{forced: fs}); err != nil {
			return err
		}
		e.metrics.corrected.Add(float64(len(ms)))
	}
	r.watermark = now
	e.metrics.lastReconcile.SetToCurrentTime()
	return nil
}
