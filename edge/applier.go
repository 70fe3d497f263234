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
	videos  []*video    // upserts, each applied only if newer than what is held
	deletes []tombstone // deletes, remembered so that older events cannot resurrect
	// hint marks videos as coming from the bus rather than from PostgreSQL: those
	// that would widen access are not applied but listed in confirm, for the caller
	// to read from PostgreSQL.
	hint     bool
	confirm  *[]int64
	forced   []forced // PostgreSQL's rows, replacing what is held whatever its version
	notFound int64    // an id PostgreSQL does not know, cached briefly
	diff     *diffQuery
	done     chan struct{} // closed once the change is applied, when not nil
}

// forced is PostgreSQL's state of one id (a row, or nil when it has none), applied
// only while the held version is still expect: a change applied since the reconciler
// compared is newer than the comparison.
type forced struct {
	id, expect int64
	video      *video
}

// diffQuery asks which held ids disagree with PostgreSQL's (id, version) pairs, ids
// sorted: a live id PostgreSQL lacks or holds at another version, or a deleted one
// PostgreSQL has.
type diffQuery struct {
	ids, versions []int64
	reply         chan []mismatch
}

// mismatch is a held id whose version (negative: deleted) differs from PostgreSQL's.
type mismatch struct{ id, held int64 }

// applier is the one goroutine that writes the cache. It owns the version index: for
// every id it has seen, the version held (positive) or the version it was deleted at
// (negative), so that every source (snapshot, events, reconciles, misses) can be
// applied in any order and the highest version wins.
type applier struct {
	cache   *ristretto.Cache[int64, *video]
	neg     *ristretto.Cache[int64, struct{}] // ids PostgreSQL does not know, bounded and expiring
	negTTL  time.Duration
	mailbox chan change
	held    map[int64]int64
	live    atomic.Int64
	applied func(n int) // counts applied upserts and deletes, for metrics

	// Tombstones are forgotten after retention, oldest first, so that deleting
	// videos does not grow the index for ever.
	retention time.Duration
	tombs     []tombAt
	deleted   atomic.Int64 // tombstones held
}

// tombAt is when an id was deleted at a version.
type tombAt struct {
	id, version int64
	at          time.Time
}

func newApplier(cache *ristretto.Cache[int64, *video], neg *ristretto.Cache[int64, struct{}], negTTL, retention time.Duration, applied func(int)) *applier {
	return &applier{cache: cache, neg: neg, negTTL: negTTL, retention: retention, mailbox: make(chan change, 1024),
		held: map[int64]int64{}, applied: applied}
}

// run applies changes until stop is closed.
func (a *applier) run(stop <-chan struct{}) {
	t := time.NewTicker(max(a.retention/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case c := <-a.mailbox:
			a.apply(c)
		case now := <-t.C:
			a.prune(now)
		}
	}
}

// tombstone records that id is deleted at version (cur, ok: what was held).
func (a *applier) tombstone(id, version, cur int64, ok bool) {
	a.held[id] = -version
	if !ok || cur > 0 {
		a.deleted.Add(1)
	}
	if ok && cur > 0 {
		a.live.Add(-1)
	}
	a.cache.Del(id)
	a.tombs = append(a.tombs, tombAt{id: id, version: version, at: time.Now()})
}

// prune forgets the tombstones older than the retention that were not replaced since.
func (a *applier) prune(now time.Time) {
	i := 0
	for ; i < len(a.tombs) && now.Sub(a.tombs[i].at) >= a.retention; i++ {
		t := a.tombs[i]
		if a.held[t.id] == -t.version {
			delete(a.held, t.id)
			a.deleted.Add(-1)
		}
	}
	if i > 0 {
		a.tombs = append(a.tombs[:0:0], a.tombs[i:]...)
	}
}

func (a *applier) apply(c change) {
	n := 0
	for _, v := range c.videos {
		cur, ok := a.held[v.id]
		if ok && (cur < 0 && v.version <= -cur || cur > 0 && v.version < cur) {
			continue // equal versions are set again: the entry may have been evicted
		}
		if v.partial {
			// A trimmed event (a video that is not public): PostgreSQL's row is read in
			// any case, and what it narrows applies now.
			*c.confirm = append(*c.confirm, v.id)
			old, hit := a.cache.Get(v.id)
			if !ok || cur < 0 || !hit || old.notFound {
				continue
			}
			if v = old.narrowedBy(v); v == nil {
				continue
			}
		} else if c.hint && a.widens(v, cur, ok) {
			*c.confirm = append(*c.confirm, v.id)
			continue
		}
		a.held[v.id] = v.version
		if !ok || cur < 0 {
			a.live.Add(1)
		}
		if ok && cur < 0 {
			a.deleted.Add(-1)
		}
		a.set(v)
		n++
	}
	for _, d := range c.deletes {
		cur, ok := a.held[d.id]
		if ok && (cur < 0 && d.version <= -cur || cur > 0 && d.version < cur) {
			continue
		}
		a.tombstone(d.id, d.version, cur, ok)
		n++
	}
	for _, f := range c.forced {
		cur, ok := a.held[f.id]
		if !ok || cur != f.expect {
			continue
		}
		if f.video == nil {
			if cur > 0 {
				a.tombstone(f.id, cur, cur, true)
				n++
			}
			continue
		}
		a.held[f.id] = f.video.version
		if cur < 0 {
			a.live.Add(1)
			a.deleted.Add(-1)
		}
		a.set(f.video)
		n++
	}
	if c.notFound != 0 {
		if cur, ok := a.held[c.notFound]; !ok || cur < 0 {
			a.neg.SetWithTTL(c.notFound, struct{}{}, 1, a.negTTL)
		}
	}
	if q := c.diff; q != nil {
		var out []mismatch
		for id, ver := range a.held {
			i, found := slices.BinarySearch(q.ids, id)
			if ver > 0 && (!found || q.versions[i] != ver) || ver < 0 && found {
				out = append(out, mismatch{id: id, held: ver})
			}
		}
		q.reply <- out
	}
	if len(c.videos) > 0 || len(c.forced) > 0 {
		a.cache.Wait() // new keys go through ristretto's buffers; make them visible
	}
	if n > 0 && a.applied != nil {
		a.applied(n)
	}
	if c.done != nil {
		close(c.done)
	}
}

func (a *applier) set(v *video) {
	if _, unknown := a.neg.Get(v.id); unknown {
		a.neg.Del(v.id)
	}
	if !a.cache.Set(v.id, v, 1) {
		// ristretto drops a set when its buffer is full: drain it and set again.
		a.cache.Wait()
		a.cache.Set(v.id, v, 1)
	}
}

// widens reports whether serving v instead of what is held (cur, ok from the version
// index) would show the video to somebody who cannot see it now: an id not held or
// deleted, a lower visibility (private → unlisted → public), not ready → ready, or
// another owner of a private video. Such a hint from the bus is confirmed against
// PostgreSQL first; one that narrows access or changes nothing of it applies at once.
func (a *applier) widens(v *video, cur int64, ok bool) bool {
	if !ok || cur < 0 {
		return true
	}
	old, hit := a.cache.Get(v.id)
	if !hit || old.notFound {
		return true // evicted: nothing to compare with
	}
	return v.vis < old.vis || v.ready && !old.ready || v.vis == visPrivate && old.vis == visPrivate && v.owner != old.owner ||
		v.gen < old.gen
}

// version returns the version held for id, for tests through the edge's metrics.
func (a *applier) liveCount() int64 { return a.live.Load() }
