package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
)

var benchLine = regexp.MustCompile(`BenchmarkHit\S*\s+\d+\s+([\d.]+) ns/op\s+(\d+) B/op\s+(\d+) allocs/op`)

// benchHit runs the edge's Go benchmark of a cache hit and reports its time and
// allocations per request.
func benchHit(ctx context.Context) ([]row, error) {
	const args = "test -run XXX -bench BenchmarkHit -benchmem -benchtime 200000x -count 1 ./edge/"
	out, err := exec.CommandContext(ctx, "go", regexp.MustCompile(` +`).Split(args, -1)...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", args, err, out)
	}
	m := benchLine.FindSubmatch(out)
	if m == nil {
		return nil, fmt.Errorf("go %s printed no result:\n%s", args, out)
	}
	mark := "✅"
	if string(m[3]) != "0" {
		mark = "❌"
	}
	return []row{{
		what:     "(d) edge hit path, Go benchmark (a stream-URL answer from the cache)",
		measured: fmt.Sprintf("%s ns/op, %s B/op, %s allocs/op %s", m[1], m[2], m[3], mark),
		target:   "0 allocs per hit",
		command:  "go " + args,
	}}, nil
}
