// Package stacktest runs a VideoForge command's stack in-process for a test, as the
// binary would run it, until the test ends. Only tests import it.
package stacktest

import (
	"context"
	"testing"
	"time"

	"github.com/videoforge/videoforge/stack"
)

// Start runs command's roles in-process with args and the environment (as
// `videoforge command args…` would), and returns where they answer once they all
// serve, failing the test if they do not within a minute. They stop when the test
// ends; a stack that stops with an error, or not within 30 s, fails the test.
func Start(t testing.TB, command string, args ...string) stack.Addrs {
	t.Helper()
	o, err := stack.Parse(command, "", args)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := stack.New(ctx, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s stopped with %v", command, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not stop within 30 s", command)
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := s.WaitReady(wctx); err != nil {
		t.Fatalf("%s is not ready: %v", command, err)
	}
	return s.Addrs()
}
