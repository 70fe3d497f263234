package edge

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// missLimiter bounds the PostgreSQL reads each client can cause: every id not held
// and not remembered as unknown costs a token from the client's bucket, which fills
// at rate per second up to burst. Clients are told apart by address (IPv6 by /64,
// which one host usually holds whole). The buckets are bounded: when there are
// maxClients, full ones are dropped, and if none is full, all of them.
type missLimiter struct {
	rate, burst float64
	maxClients  int

	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newMissLimiter(rate float64, burst, maxClients int) *missLimiter {
	return &missLimiter{rate: rate, burst: float64(burst), maxClients: maxClients, buckets: map[netip.Addr]*bucket{}}
}

// clientAddr returns the address a request's misses are counted under: the one the
// trusted proxies name in X-Forwarded-For, else the connection's.
func (e *Edge) clientAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	if n := e.cfg.TrustedProxies; n > 0 {
		if a, ok := forwardedClient(ctx.Request.Header.Peek("X-Forwarded-For"), n); ok {
			return clientKey(a)
		}
	}
	tcp, ok := ctx.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return netip.Addr{}
	}
	a, _ := netip.AddrFromSlice(tcp.IP)
	return clientKey(a)
}

// forwardedClient returns the entry hops places from the right of an
// X-Forwarded-For value: the address the outermost of hops trusted proxies, each
// appending its peer's address, received the request from.
func forwardedClient(h []byte, hops int) (netip.Addr, bool) {
	for {
		i := bytes.LastIndexByte(h, ',')
		entry := bytes.TrimSpace(h[i+1:])
		if hops--; hops == 0 {
			a, err := netip.ParseAddr(string(entry))
			return a, err == nil
		}
		if i < 0 {
			return netip.Addr{}, false // fewer entries than proxies
		}
		h = h[:i]
	}
}

// clientKey is a's bucket: IPv6 addresses by /64.
func clientKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		a = p.Addr()
	}
	return a
}

// allow takes a token from key's bucket and reports whether there was one.
func (l *missLimiter) allow(key netip.Addr, now time.Time) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxClients {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep drops the buckets that have filled up again (their clients are as new ones),
// or every bucket when none has.
func (l *missLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= l.maxClients {
		clear(l.buckets)
	}
}
