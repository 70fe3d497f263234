// Package retry holds the waits of VideoForge's loops that outlast their dependencies:
// a capped exponential backoff with jitter, and a sleep that ends with its context.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is a capped exponential wait with jitter. The zero value of cur starts at
// Min; it is not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next returns the wait before the next attempt: each doubles the last, up to Max,
// and is drawn from its upper half so that replicas spread out.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.Min
	} else {
		b.cur = min(2*b.cur, b.Max)
	}
	return b.cur/2 + rand.N(b.cur/2+1)
}

// Reset starts the next wait at Min again, after a success.
func (b *Backoff) Reset() { b.cur = 0 }

// Sleep waits d or until ctx ends, reporting whether it waited the whole d.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
