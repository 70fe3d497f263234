// Package queuetest is the contract every transcoder.Queue passes: delivery,
// invisibility while a holder's heartbeat goes on, redelivery after a crash or a
// release, and the dead-letter queue after the maximum number of receives.
package queuetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoforge/videoforge/transcoder"
)

// Options are what the suite asks of a new queue. Visibility is short so that the
// suite is quick; Receive should wait at most about PollWait.
type Options struct {
	Visibility  time.Duration
	MaxReceives int
	PollWait    time.Duration
}

// Factory returns a new, empty queue and a queue over its dead-letter queue.
type Factory func(t *testing.T, opt Options) (q, dead transcoder.Queue)

var seq atomic.Int64

func body(t *testing.T) []byte {
	return fmt.Appendf(nil, `{"test":%q,"n":%d}`, t.Name(), seq.Add(1))
}

// receive waits up to d for a message.
func receive(t *testing.T, q transcoder.Queue, d time.Duration) transcoder.Delivery {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		m, err := q.Receive(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if m != nil || time.Now().After(deadline) {
			return m
		}
	}
}

// mustReceive receives a message within d and checks its body and, unless 0, its attempt.
func mustReceive(t *testing.T, q transcoder.Queue, d time.Duration, want []byte, attempt int) transcoder.Delivery {
	t.Helper()
	m := receive(t, q, d)
	if m == nil {
		t.Fatalf("no message within %v", d)
	}
	if string(m.Body()) != string(want) {
		t.Fatalf("body %s, want %s", m.Body(), want)
	}
	if attempt > 0 && m.Attempt() != attempt {
		t.Fatalf("attempt %d, want %d", m.Attempt(), attempt)
	}
	return m
}

func mustBeEmpty(t *testing.T, q transcoder.Queue, what string) {
	t.Helper()
	if m, err := q.Receive(context.Background()); err != nil {
		t.Fatal(err)
	} else if m != nil {
		t.Fatalf("%s: received %s (attempt %d)", what, m.Body(), m.Attempt())
	}
}

// Run runs the contract against queues from newQueue.
func Run(t *testing.T, newQueue Factory) {
	opt := Options{Visibility: 2 * time.Second, MaxReceives: 2, PollWait: time.Second}
	ctx := context.Background()

	t.Run("SendReceiveAck", func(t *testing.T) {
		t.Parallel()
		q, _ := newQueue(t, opt)
		b := body(t)
		if err := q.Send(ctx, "a", b); err != nil {
			t.Fatal(err)
		}
		m := mustReceive(t, q, 5*time.Second, b, 1)
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(opt.Visibility + 500*time.Millisecond)
		mustBeEmpty(t, q, "after the ack")
	})

	t.Run("RedeliveredAfterVisibilityTimeout", func(t *testing.T) {
		t.Parallel()
		q, _ := newQueue(t, opt)
		b := body(t)
		if err := q.Send(ctx, "b", b); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		mustReceive(t, q, 5*time.Second, b, 1) // and the holder dies
		mustBeEmpty(t, q, "while invisible")
		m := mustReceive(t, q, opt.Visibility+5*time.Second, b, 2)
		if since := time.Since(began); since < opt.Visibility-200*time.Millisecond {
			t.Errorf("came back after %v, before the visibility timeout %v", since, opt.Visibility)
		}
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("HeartbeatKeepsItInvisible", func(t *testing.T) {
		t.Parallel()
		q, _ := newQueue(t, opt)
		b := body(t)
		if err := q.Send(ctx, "c", b); err != nil {
			t.Fatal(err)
		}
		m := mustReceive(t, q, 5*time.Second, b, 1)
		stop := make(chan struct{})
		beats := make(chan error, 1)
		go func() {
			tick := time.NewTicker(opt.Visibility / 4)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					beats <- nil
					return
				case <-tick.C:
					if err := m.Extend(ctx, opt.Visibility); err != nil {
						beats <- err
						return
					}
				}
			}
		}()
		until := time.Now().Add(2*opt.Visibility + 500*time.Millisecond)
		for time.Now().Before(until) {
			mustBeEmpty(t, q, "during the heartbeat")
		}
		close(stop)
		if err := <-beats; err != nil {
			t.Fatal(err)
		}
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ReleaseHandsItBackAtOnce", func(t *testing.T) {
		t.Parallel()
		q, _ := newQueue(t, opt)
		b := body(t)
		if err := q.Send(ctx, "d", b); err != nil {
			t.Fatal(err)
		}
		m := mustReceive(t, q, 5*time.Second, b, 1)
		began := time.Now()
		if err := m.Release(ctx, 0); err != nil {
			t.Fatal(err)
		}
		m = mustReceive(t, q, opt.Visibility, b, 2)
		if since := time.Since(began); since > opt.Visibility {
			t.Errorf("released message came back after %v", since)
		}
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("DeadLetterAfterMaxReceives", func(t *testing.T) {
		t.Parallel()
		q, dead := newQueue(t, opt)
		b := body(t)
		if err := q.Send(ctx, "e", b); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= opt.MaxReceives; i++ {
			m := mustReceive(t, q, opt.Visibility+5*time.Second, b, i)
			if i < opt.MaxReceives {
				if err := m.Release(ctx, 0); err != nil {
					t.Fatal(err)
				}
			} // the last receiver crashes: the message times out
		}
		// Past the maximum, the message never comes back to the work queue.
		if m := receive(t, q, opt.Visibility+2*time.Second); m != nil {
			t.Fatalf("received %s a %d. time; max receives is %d", m.Body(), m.Attempt(), opt.MaxReceives)
		}
		// The receive count may carry over into the dead-letter queue (SQS's does).
		m := mustReceive(t, dead, 10*time.Second, b, 0)
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
