package edge

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// tombstone says a video was deleted at a version.
type tombstone struct{ id, version int64 }

// change is one message to the applier. Exactly one of its parts is set.
type change struct {
	videos   []*video    // upserts, each applied only if newer than what is held
	deletes  []tombstone // deletes, remembered so that older events cannot resurrect
	notFound int64       // an id PostgreSQL does not know, cached briefly
	absent   *absentQuery
	done     chan struct{} // closed once the change is applied, when not nil
}

// absentQuery asks which live ids in [lo, hi] are not in present (sorted).
type absentQuery struct {
	lo, hi  int64
	present []int64
	reply   chan []int64
}

// applier is the one goroutine that writes the cache. It owns the version index: for
// every id it has seen, the version held (positive) or the version it was deleted at
// (negative), so that every source (snapshot, events, reconciles, misses) can be
// applied in any order and the highest version wins.
type applier struct {
	cache   *ristretto.Cache[int64, *video]
	negTTL  time.Duration
	mailbox chan change
	held    map[int64]int64
	live    atomic.Int64
	applied func(n int) // counts applied upserts and deletes, for metrics
}

func newApplier(cache *ristretto.Cache[int64, *video], negTTL time.Duration, applied func(int)) *applier {
	return &applier{cache: cache, negTTL: negTTL, mailbox: make(chan change, 1024), held: map[int64]int64{}, applied: applied}
}

// run applies changes until stop is closed.
func (a *applier) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case c := <-a.mailbox:
			a.apply(c)
		}
	}
}

func (a *applier) apply(c change) {
	n := 0
	for _, v := range c.videos {
		cur, ok := a.held[v.id]
		if ok && (cur < 0 && v.version <= -cur || cur > 0 && v.version < cur) {
			continue // equal versions are set again: the entry may have been evicted
		}
		a.held[v.id] = v.version
		if !ok || cur < 0 {
			a.live.Add(1)
		}
		if !a.cache.Set(v.id, v, 1) {
			// ristretto drops a set when its buffer is full: drain it and set again.
			a.cache.Wait()
			a.cache.Set(v.id, v, 1)
		}
		n++
	}
	for _, d := range c.deletes {
		cur, ok := a.held[d.id]
		if ok && (cur < 0 && d.version <= -cur || cur > 0 && d.version < cur) {
			continue
		}
		a.held[d.id] = -d.version
		if ok && cur > 0 {
			a.live.Add(-1)
		}
		a.cache.Del(d.id)
		n++
	}
	if c.notFound != 0 {
		if cur, ok := a.held[c.notFound]; !ok || cur < 0 {
			a.cache.SetWithTTL(c.notFound, &video{id: c.notFound, notFound: true}, 1, a.negTTL)
		}
	}
	if q := c.absent; q != nil {
		var out []int64
		for id, ver := range a.held {
			if ver > 0 && id >= q.lo && id <= q.hi {
				if _, found := slices.BinarySearch(q.present, id); !found {
					out = append(out, id)
				}
			}
		}
		q.reply <- out
	}
	if len(c.videos) > 0 {
		a.cache.Wait() // new keys go through ristretto's buffers; make them visible
	}
	if n > 0 && a.applied != nil {
		a.applied(n)
	}
	if c.done != nil {
		close(c.done)
	}
}

// version returns the version held for id, for tests through the edge's metrics.
func (a *applier) liveCount() int64 { return a.live.Load() }
