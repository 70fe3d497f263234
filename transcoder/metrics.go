package transcoder

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the transcoder's Prometheus series.
type metrics struct {
	jobs     *prometheus.CounterVec // by outcome
	seconds  prometheus.Histogram   // completed jobs, receive to commit
	inFlight prometheus.Gauge
	restarts prometheus.Counter
	outages  prometheus.Counter
	chunks   prometheus.Counter
}

// Outcomes of handling one message, the label of videoforge_transcoder_messages_total.
const (
	outcomeCompleted  = "completed"   // results committed
	outcomeFailed     = "failed"      // the job was marked failed
	outcomeRetried    = "retried"     // handed back for another attempt
	outcomeHandedBack = "handed_back" // shutdown: handed back at once
	outcomeDropped    = "dropped"     // nothing to do: finished before, or the video is gone
	outcomeBusy       = "busy"        // another live attempt holds the job: back after its lease
	outcomeSuperseded = "superseded"  // this attempt lost the job to a newer one and stopped
	outcomeUnreadable = "unreadable"  // not a job message
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "videoforge_transcoder_messages_total",
			Help: "Job messages handled, by outcome (completed, failed, retried, handed_back, dropped, busy, superseded, unreadable)."}, []string{"outcome"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "videoforge_transcoder_job_seconds",
			Help: "Time from receiving a job's message to committing its results.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "videoforge_transcoder_jobs_in_flight",
			Help: "Job messages being handled now."}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_transcoder_worker_restarts_total",
			Help: "Worker actors restarted by the supervisor after a crash."}),
		outages: prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_transcoder_outage_retries_total",
			Help: "Steps retried because PostgreSQL, storage or the queue failed (not counted as job attempts)."}),
		chunks: prometheus.NewCounter(prometheus.CounterOpts{Name: "videoforge_transcoder_chunks_total",
			Help: "Chunks of long sources' ladders this transcoder encoded and completed."}),
	}
	for _, o := range []string{outcomeCompleted, outcomeFailed, outcomeRetried, outcomeHandedBack, outcomeDropped, outcomeBusy, outcomeSuperseded, outcomeUnreadable} {
		m.jobs.WithLabelValues(o)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.jobs, m.seconds, m.inFlight, m.restarts, m.outages, m.chunks} {
			if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) outcome(o string) { m.jobs.WithLabelValues(o).Inc() }
