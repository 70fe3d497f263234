package edge

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync/atomic"
	"time"
)

// viewCounter counts stream-URL answers per video without locks or allocations: the
// count lives in the held video itself, and a video whose count leaves zero is pushed
// on a lock-free list that the flusher takes whole every interval.
type viewCounter struct {
	dirty atomic.Pointer[video]
}

// count adds one view of v.
func (c *viewCounter) count(v *video) {
	if v.pending.Add(1) != 1 {
		return // already listed
	}
	for {
		head := c.dirty.Load()
		v.nextDirty.Store(head)
		if c.dirty.CompareAndSwap(head, v) {
			return
		}
	}
}

// take removes every listed video and returns the views counted per id. A video is
// unlinked before its count is reset, so a view counted meanwhile lists it again.
func (c *viewCounter) take(into map[int64]int64) {
	for v := c.dirty.Swap(nil); v != nil; {
		next := v.nextDirty.Load()
		if n := v.pending.Swap(0); n > 0 {
			into[v.id] += n
		}
		v = next
	}
}

// flusher is the goroutine that writes counted views to PostgreSQL in one statement
// per interval. Counts that could not be written are kept for the next round.
type flusher struct {
	counter  *viewCounter
	store    *store
	interval time.Duration
	log      *slog.Logger
	flushed  func(views int64)
	failed   func()
	kick     chan chan struct{} // flush now and close the channel, for tests and shutdown
}

func (f *flusher) run(ctx context.Context) {
	pending := map[int64]int64{}
	t := time.NewTicker(f.interval)
	defer t.Stop()
	flush := func(ctx context.Context) {
		f.counter.take(pending)
		if len(pending) == 0 {
			return
		}
		ids := slices.Sorted(maps.Keys(pending))
		counts := make([]int64, len(ids))
		var total int64
		for i, id := range ids {
			counts[i] = pending[id]
			total += counts[i]
		}
		if err := f.store.AddViews(ctx, ids, counts); err != nil {
			f.log.Warn("views not flushed; keeping them for the next round", "videos", len(ids), "err", err)
			if f.failed != nil {
				f.failed()
			}
			return
		}
		clear(pending)
		if f.flushed != nil {
			f.flushed(total)
		}
	}
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			flush(sctx)
			cancel()
			return
		case <-t.C:
			flush(ctx)
		case done := <-f.kick:
			flush(ctx)
			close(done)
		}
	}
}
