package retry_test

import (
	"context"
	"testing"
	"time"

	"github.com/videoforge/videoforge/internal/retry"
)

func TestBackoff(t *testing.T) {
	b := retry.Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for i, ceil := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		ceil *= time.Millisecond
		if d := b.Next(); d < ceil/2 || d > ceil {
			t.Fatalf("wait %d: %v, want within [%v, %v]", i, d, ceil/2, ceil)
		}
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Fatalf("after Reset: %v, want at most Min", d)
	}
}

func TestSleep(t *testing.T) {
	if !retry.Sleep(context.Background(), time.Millisecond) {
		t.Fatal("a whole sleep reported as cut short")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if retry.Sleep(ctx, time.Hour) {
		t.Fatal("a sleep whose context ended reported as whole")
	}
}
