package edge

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// statuses the request counters are kept for without a label look-up; others go
// through the vector.
var hotStatuses = [...]int{200, 400, 404, 409, 503}

type metrics struct {
	registry *prometheus.Registry
	handler  fasthttp.RequestHandler

	requests *prometheus.CounterVec
	hot      [numRoutes][len(hotStatuses)]prometheus.Counter
	latency  [numRoutes]prometheus.Observer

	hits, misses    prometheus.Counter
	applied         prometheus.Counter
	confirms        prometheus.Counter
	confirmsDropped prometheus.Counter
	reads, limited  prometheus.Counter
	corrected       prometheus.Counter
	viewsFlushed    prometheus.Counter
	flushFailures   prometheus.Counter
	reconciles      *prometheus.CounterVec
	lag, pending    prometheus.Gauge
	lastReconcile   prometheus.Gauge
	snapshotSeconds prometheus.Gauge
}

func newMetrics(e *Edge) *metrics {
	m := &metrics{registry: prometheus.NewRegistry()}
	m.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "videoforge_edge_requests_total", Help: "Edge requests by route and status.",
	}, []string{"route", "code"})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "videoforge_edge_request_seconds", Help: "Edge request latency by route.",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5},
	}, []string{"route"})
	for r := range numRoutes {
		m.latency[r] = lat.WithLabelValues(routeNames[r])
		for i, s := range hotStatuses {
			m.hot[r][i] = m.requests.WithLabelValues(routeNames[r], strconv.Itoa(s))
		}
	}
	m.hits = prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_edge_cache_hits_total", Help: "Look-ups answered from the cache."})
	m.misses = prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_edge_cache_misses_total", Help: "Look-ups that read PostgreSQL."})
	m.applied = prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_edge_changes_applied_total", Help: "Catalog changes (snapshot, events, reconciles, misses) applied to the cache."})
	m.confirms = prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_edge_event_confirms_total", Help: "Catalog events that would widen access, queued to be read from PostgreSQL before being served."})
	m.corrected = prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_edge_reconcile_corrections_total", Help: "Held videos a reconcile replaced with PostgreSQL's row because their versions disagreed."})
	m.confirmsDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_edge_event_confirms_dropped_total", Help: "Widening catalog events not confirmed (the queue full, or PostgreSQL unreadable); the reconcile brings their change."})
	m.reads = prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_edge_reads_total", Help: "Videos read from PostgreSQL by id (misses and event confirmations)."})
	m.limited = prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_edge_misses_limited_total", Help: "Look-ups refused with 429 because their client made too many misses."})
	tombs := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "videoforge_edge_tombstones", Help: "Deleted videos whose version is remembered."},
		func() float64 { return float64(e.applier.deleted.Load()) })
	m.viewsFlushed = prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_edge_views_flushed_total", Help: "Views written to PostgreSQL."})
	m.flushFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_edge_view_flush_failures_total", Help: "View flushes that failed (their views are kept for the next one)."})
	m.reconciles = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "videoforge_edge_reconciles_total", Help: "Reconciles with PostgreSQL by result."}, []string{"result"})
	m.lag = prometheus.NewGauge(prometheus.GaugeOpts{Name: "videoforge_edge_event_lag_seconds", Help: "Age of the last catalog event applied when it was applied."})
	m.pending = prometheus.NewGauge(prometheus.GaugeOpts{Name: "videoforge_edge_events_pending", Help: "Catalog events in the stream not yet delivered to this edge."})
	m.lastReconcile = prometheus.NewGauge(prometheus.GaugeOpts{Name: "videoforge_edge_last_reconcile_timestamp_seconds", Help: "When the last successful reconcile ended."})
	m.snapshotSeconds = prometheus.NewGauge(prometheus.GaugeOpts{Name: "videoforge_edge_snapshot_seconds", Help: "How long the start-up snapshot took."})
	size := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "videoforge_edge_cache_videos", Help: "Videos held."},
		func() float64 { return float64(e.applier.liveCount()) })
	ready := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "videoforge_edge_ready", Help: "1 once the snapshot is loaded."},
		func() float64 {
			if e.Ready() {
				return 1
			}
			return 0
		})
	m.registry.MustRegister(m.requests, lat, m.hits, m.misses, m.applied, m.confirms, m.confirmsDropped, m.corrected, m.reads, m.limited, tombs, m.viewsFlushed, m.flushFailures, m.reconciles,
		m.lag, m.pending, m.lastReconcile, m.snapshotSeconds, size, ready)
	m.handler = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	return m
}

// Registry returns the edge's metrics registry.
func (e *Edge) Registry() *prometheus.Registry { return e.metrics.registry }

func (m *metrics) observe(route, status int, start time.Time) {
	m.latency[route].Observe(time.Since(start).Seconds())
	for i, s := range hotStatuses {
		if s == status {
			m.hot[route][i].Inc()
			return
		}
	}
	m.requests.WithLabelValues(routeNames[route], strconv.Itoa(status)).Inc()
}
