package edge

import (
	"net/netip"
	"testing"
	"time"
)

var timeZero = time.Unix(0, 0)

func TestForwardedClient(t *testing.T) {
	for _, c := range []struct {
		header string
		hops   int
		want   string // "" when there is none
	}{
		{"203.0.113.7", 1, "203.0.113.7"},
		{"203.0.113.7, 10.0.0.2", 1, "10.0.0.2"},
		{"203.0.113.7, 10.0.0.2", 2, "203.0.113.7"},
		{"198.51.100.1, 203.0.113.7,10.0.0.2", 2, "203.0.113.7"}, // the client's own entry is ignored
		{"203.0.113.7", 2, ""},
		{"", 1, ""},
		{"not an address", 1, ""},
		{" 2001:db8::1 ", 1, "2001:db8::1"},
		{"203.0.113.7,", 1, ""},
	} {
		got, ok := forwardedClient([]byte(c.header), c.hops)
		if c.want == "" {
			if ok {
				t.Errorf("%q, %d: %v, want none", c.header, c.hops, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(c.want) {
			t.Errorf("%q, %d: %v %v, want %s", c.header, c.hops, got, ok, c.want)
		}
	}
}

func FuzzForwardedClient(f *testing.F) {
	f.Add([]byte("203.0.113.7, 10.0.0.2"), 2)
	f.Add([]byte(",,,"), 3)
	f.Fuzz(func(t *testing.T, h []byte, hops int) {
		if hops < 1 || hops > 10 {
			return
		}
		forwardedClient(h, hops)
	})
}

func TestMissLimiterBounded(t *testing.T) {
	l := newMissLimiter(1, 2, 10)
	for i := range 100 {
		l.allow(netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i)}), timeZero)
	}
	if len(l.buckets) > 10 {
		t.Fatalf("%d buckets, want at most 10", len(l.buckets))
	}
}
