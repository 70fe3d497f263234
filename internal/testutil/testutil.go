// Package testutil holds the helpers VideoForge's tests share: polling for a condition
// instead of sleeping, and reading a Prometheus metric. Only tests import it.
package testutil

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WaitFor polls cond every 5 ms until it returns nil, and fails the test naming what
// and cond's last error if d passes first (as nats-server's checkFor does).
func WaitFor(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %v: %v", what, d, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Metric returns the value of the counter or gauge name in g whose labels are the
// given name/value pairs (the first series of name when none are given), failing the
// test when there is none.
func Metric(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s %v", name, labels)
	return 0
}
