package edge

import (
	"context"
	"fmt"
	"slices"
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
	var since time.Time
	if err := e.store.pool.QueryRow(ctx, `SELECT now()`).Scan(&since); err != nil {
		return time.Time{}, fmt.Errorf("edge: snapshot: read database clock: %w", err)
	}
	lo, hi, err := e.store.idRange(ctx)
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
	// Deletions: every id PostgreSQL has, against every id held.
	var present []int64
	for after := int64(0); ; {
		ids, err := e.store.ids(ctx, after, 100_000)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			break
		}
		present = append(present, ids...)
		after = ids[len(ids)-1]
	}
	q := &absentQuery{lo: 0, hi: 1<<63 - 1, present: present, reply: make(chan []int64, 1)}
	if err := e.send(ctx, change{absent: q}); err != nil {
		return err
	}
	candidates := <-q.reply
	if len(candidates) > 0 {
		// Confirm: an id read after the scan began (created since) must not be removed.
		still, err := e.store.byIDs(ctx, r.in, candidates)
		if err != nil {
			return err
		}
		var dels []tombstone
		for _, id := range candidates {
			if !slices.ContainsFunc(still, func(v *video) bool { return v.id == id }) {
				dels = append(dels, tombstone{id: id, version: 1<<62 - 1})
			}
		}
		if len(still) > 0 {
			if err := e.send(ctx, change{videos: still}); err != nil {
				return err
			}
		}
		if len(dels) > 0 {
			if err := e.send(ctx, change{deletes: dels}); err != nil {
				return err
			}
		}
	}
	r.watermark = now
	e.metrics.lastReconcile.SetToCurrentTime()
	return nil
}
