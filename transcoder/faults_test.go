package transcoder_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/internal/testutil"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/pgcluster"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
	"github.com/videoforge/videoforge/storage/s3test"
	"github.com/videoforge/videoforge/transcoder"
)

// The fault suite: each test creates the fault that would break "every job is done
// exactly once, and nothing is lost", against the real servers.

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// outcomes reads videoforge_transcoder_messages_total{outcome} from reg.
func outcomes(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	return counter(t, reg, "videoforge_transcoder_messages_total", outcome)
}

// keys lists the objects under prefix.
func (e *env) keys(t *testing.T, prefix string) []string {
	t.Helper()
	keys, err := e.st.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// jobFailures reads the failures of the work counted on the job.
func (e *env) jobFailures(t *testing.T, id int64) int {
	t.Helper()
	var n int
	if err := e.db.Pool().QueryRow(context.Background(), `SELECT failures FROM jobs WHERE id = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPausedPastVisibility: two workers on one job. The first is paused (its heartbeats
// too) past the visibility timeout after encoding; the second takes the job over and
// commits it. When the first wakes up and stores its results, it finds itself
// superseded and removes only its own folder: every object of the ready video still
// answers, and the video was made ready once.
func TestPausedPastVisibility(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig(t)
	cfg.Workers = 1
	q, _ := e.jsQueue(t, cfg)
	msg := e.newJob(t, "landscape.mp4")
	if err := transcoder.Enqueue(context.Background(), q, msg); err != nil {
		t.Fatal(err)
	}
	var paused atomic.Bool
	reached, wake := make(chan struct{}), make(chan struct{})
	var once sync.Once
	regA := prometheus.NewRegistry()
	cfgA := cfg
	cfgA.Metrics = regA
	start(t, cfgA, q, e, func(point string) {
		switch {
		case point == "uploading" && !paused.Load():
			paused.Store(true)
			once.Do(func() { close(reached) })
			<-wake
		case point == "heartbeat" && paused.Load():
			<-wake
		}
	})
	select {
	case <-reached:
	case <-time.After(time.Minute):
		t.Fatal("the first worker did not reach the upload")
	}
	start(t, cfg, q, e, nil)
	j := e.waitJob(t, msg.JobID, videoforge.JobCompleted, time.Minute)
	if j.Attempts != 2 {
		t.Fatalf("job %+v: want completed by the second attempt", j)
	}
	close(wake)
	// The first worker wakes, uploads into its own folder, is refused, and removes it.
	stale := layout.AttemptFolder(msg.VideoID, 1)
	waitFor(t, 30*time.Second, "the stale attempt gives up", func() bool { return outcomes(t, regA, "superseded") == 1 })
	if k := e.keys(t, stale); len(k) != 0 {
		t.Errorf("the stale attempt left %v", k)
	}
	e.checkResults(t, msg, []string{"240p:320x240", "144p:192x144"}, true)
	if n := e.readyEvents(t, msg.VideoID); n != 1 {
		t.Errorf("%d ready events, want 1", n)
	}
	if j := e.waitJob(t, msg.JobID, videoforge.JobCompleted, time.Second); j.Attempts != 2 {
		t.Errorf("job %+v changed after the stale attempt woke", j)
	}
}

// TestRedeliveredAfterCommit: a message delivered again after its job was committed
// (a repeated complete, a lost ack) is dropped, and the video stays as it was.
func TestRedeliveredAfterCommit(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig(t)
	q, _ := e.jsQueue(t, cfg)
	msg := e.newJob(t, "landscape.mp4")
	if err := transcoder.Enqueue(context.Background(), q, msg); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	start(t, cfg, q, e, nil)
	e.waitJob(t, msg.JobID, videoforge.JobCompleted, time.Minute)
	e.waitQueueEmpty(t)
	again := msg
	again.Send = 2 // the sweeper's re-send, not dropped by the queue's de-duplication
	if err := transcoder.Enqueue(context.Background(), q, again); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the repeated message is dropped", func() bool { return outcomes(t, reg, "dropped") == 1 })
	e.waitQueueEmpty(t)
	e.checkResults(t, msg, []string{"240p:320x240", "144p:192x144"}, true)
	if j := e.waitJob(t, msg.JobID, videoforge.JobCompleted, time.Second); j.Attempts != 1 || e.readyEvents(t, msg.VideoID) != 1 {
		t.Errorf("job %+v, %d ready events", j, e.readyEvents(t, msg.VideoID))
	}
}

// TestSQSDeliversTwice: an SQS standard queue holding the same job twice, two workers:
// one attempt does the job, the other copy waits for it and is dropped.
func TestSQSDeliversTwice(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig(t)
	ctx := context.Background()
	q, c, url := sqsQueue(t, cfg)
	msg := e.newJob(t, "landscape.mp4")
	for range 2 {
		if err := transcoder.Enqueue(ctx, q, msg); err != nil {
			t.Fatal(err)
		}
	}
	start(t, cfg, q, e, nil)
	j := e.waitJob(t, msg.JobID, videoforge.JobCompleted, time.Minute)
	waitFor(t, time.Minute, "both copies are gone", func() bool {
		attrs, err := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: &url,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
		return err == nil && attrs.Attributes["ApproximateNumberOfMessages"] == "0" &&
			attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
	})
	if j.Attempts != 1 || e.readyEvents(t, msg.VideoID) != 1 {
		t.Errorf("job %+v, %d ready events: want one attempt, ready once", j, e.readyEvents(t, msg.VideoID))
	}
	e.checkResults(t, msg, []string{"240p:320x240", "144p:192x144"}, true)
}

// TestPostgresOutage stops PostgreSQL as a job commits, for far longer than all the
// retry delays of the job's attempts together, then starts it again: the job
// completes, on its first attempt, with no failure counted.
func TestPostgresOutage(t *testing.T) {
	ctx := context.Background()
	cl, err := pgcluster.Start(ctx, t.TempDir(), pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Kill() })
	dsn := cl.DSN("postgres")
	if err := schema.Migrate(ctx, dsn, schema.DefaultSchema); err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, dsn, s3test.Config(t))
	cfg := testConfig(t)
	q, _ := e.jsQueue(t, cfg)
	msg := e.newJob(t, "landscape.mp4")
	if err := transcoder.Enqueue(ctx, q, msg); err != nil {
		t.Fatal(err)
	}
	// The attempts' own delays: RetryDelay × 1, 2, … up to MaxAttempts.
	var delays time.Duration
	for i := 1; i <= cfg.MaxAttempts; i++ {
		delays += cfg.RetryDelay * time.Duration(i)
	}
	outage := outageLength(t, 10*delays+2*cfg.Visibility) // the lease runs out meanwhile too
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	var restarted atomic.Int64
	var once sync.Once
	start(t, cfg, q, e, func(point string) {
		if point != "committing" {
			return
		}
		once.Do(func() {
			if err := cl.Stop(); err != nil {
				t.Error(err)
				return
			}
			go func() {
				time.Sleep(outage) // the fault's length, not an assertion
				c, err := pgcluster.Start(ctx, cl.Dir, pgcluster.Options{Port: cl.Port})
				if err != nil {
					t.Error(err)
					return
				}
				cl = c
				restarted.Store(time.Now().UnixNano())
			}()
		})
	})
	waitFor(t, time.Minute+outage, "PostgreSQL is back", func() bool { return restarted.Load() != 0 })
	j := e.waitJob(t, msg.JobID, videoforge.JobCompleted, time.Minute)
	t.Logf("PostgreSQL down %v; the job committed %v after it came back", outage,
		time.Since(time.Unix(0, restarted.Load())).Round(time.Millisecond))
	if j.Attempts != 1 || e.jobFailures(t, msg.JobID) != 0 {
		t.Errorf("job %+v with %d failures: want completed on its first attempt", j, e.jobFailures(t, msg.JobID))
	}
	if n := counter(t, reg, "videoforge_transcoder_outage_retries_total", ""); n == 0 {
		t.Error("no step was retried: the outage did not happen")
	}
	e.checkResults(t, msg, []string{"240p:320x240", "144p:192x144"}, true)
	if n := e.readyEvents(t, msg.VideoID); n != 1 {
		t.Errorf("%d ready events, want 1", n)
	}
	e.waitQueueEmpty(t)
}

// outageLength is how long the outage tests keep a server away: def, or
// VIDEOFORGE_TEST_OUTAGE (a duration) to try a real failover's length, such as 120s.
func outageLength(t *testing.T, def time.Duration) time.Duration {
	if v := os.Getenv("VIDEOFORGE_TEST_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("VIDEOFORGE_TEST_OUTAGE=%q: %v", v, err)
		}
		return d
	}
	return def
}

// TestStorageOutage cuts S3 off while a job stores its results, or from its start
// (the ranged reads of its early copy and its download), for longer than all the
// retry delays together: the job completes after S3 is back, on its first attempt
// with no failure counted, and every object of the video is there.
func TestStorageOutage(t *testing.T) {
	// At the upload of the results; and from the start, when the source's headers
	// and its early copy are read in ranges beside the download.
	for _, point := range []string{"uploading", "downloading"} {
		t.Run(point, func(t *testing.T) { storageOutage(t, point) })
	}
}

func storageOutage(t *testing.T, point string) {
	s3cfg := s3test.Config(t)
	target := strings.TrimPrefix(strings.TrimPrefix(s3cfg.Endpoint, "http://"), "https://")
	proxy := testutil.NewCutProxy(t, target)
	viaProxy := s3cfg
	viaProxy.Endpoint = "http://" + proxy.Addr()
	e := newEnvWith(t, pgtest.NewDatabase(t), viaProxy)
	cfg := testConfig(t)
	q, _ := e.jsQueue(t, cfg)
	msg := e.newJob(t, "landscape.mp4")
	if err := transcoder.Enqueue(context.Background(), q, msg); err != nil {
		t.Fatal(err)
	}
	outage := outageLength(t, 3*time.Second)
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	var once sync.Once
	var restored atomic.Int64
	start(t, cfg, q, e, func(p string) {
		if p == point {
			once.Do(func() {
				proxy.Cut()
				time.AfterFunc(outage, func() {
					if err := proxy.Restore(); err != nil {
						t.Error(err)
					}
					restored.Store(time.Now().UnixNano())
				})
			})
		}
	})
	j := e.waitJob(t, msg.JobID, videoforge.JobCompleted, time.Minute+outage)
	t.Logf("S3 cut off %v; the job committed %v after it came back", outage, time.Since(time.Unix(0, restored.Load())).Round(time.Millisecond))
	if restored.Load() == 0 || j.Attempts != 1 || e.jobFailures(t, msg.JobID) != 0 {
		t.Errorf("job %+v: want completed on its first attempt after the outage", j)
	}
	if n := counter(t, reg, "videoforge_transcoder_outage_retries_total", ""); n == 0 {
		t.Error("no step was retried: the outage did not happen")
	}
	e.checkResults(t, msg, []string{"240p:320x240", "144p:192x144"}, true)
}

// TestNATSRestart restarts the NATS server (the work queue and the job events) while
// a job encodes: the job completes once and its message is acked.
func TestNATSRestart(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig(t)
	q, _ := e.jsQueue(t, cfg)
	msg := e.newJob(t, "landscape.mp4")
	if err := transcoder.Enqueue(context.Background(), q, msg); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	start(t, cfg, q, e, func(point string) {
		if point == "encoding" {
			once.Do(func() {
				e.ns.Shutdown()
				e.ns.WaitForShutdown()
				e.startNATS(t)
			})
		}
	})
	j := e.waitJob(t, msg.JobID, videoforge.JobCompleted, time.Minute)
	waitFor(t, 10*time.Second, "the client reconnects", e.nc.IsConnected)
	e.waitQueueEmpty(t)
	if j.Attempts > 2 || e.readyEvents(t, msg.VideoID) != 1 {
		t.Errorf("job %+v, %d ready events", j, e.readyEvents(t, msg.VideoID))
	}
	e.checkResults(t, msg, []string{"240p:320x240", "144p:192x144"}, true)
}

// TestSourceReplacedAfterComplete: bytes PUT over the source after complete are not
// what gets transcoded: the job fails saying so, and the replacement never plays.
func TestSourceReplacedAfterComplete(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig(t)
	q, _ := e.jsQueue(t, cfg)
	msg := e.newJob(t, "landscape.mp4")
	// The owner (or anyone holding the upload URL) replaces the sealed source.
	if err := e.st.PutFile(context.Background(), msg.SourceKey, filepath.Join(clips, "portrait.mp4")); err != nil {
		t.Fatal(err)
	}
	if err := transcoder.Enqueue(context.Background(), q, msg); err != nil {
		t.Fatal(err)
	}
	start(t, cfg, q, e, nil)
	j := e.waitJob(t, msg.JobID, videoforge.JobFailed, time.Minute)
	if j.Error == nil || !strings.Contains(*j.Error, "changed after it was completed") || j.Attempts != 1 {
		t.Errorf("job %+v (error %v): want failed once, saying the upload changed", j, j.Error)
	}
	if k := e.keys(t, layout.VideoPrefix(msg.VideoID)); len(k) != 0 {
		t.Errorf("a refused source left %v", k)
	}
}

// TestVideoDeletedWhileQueued: a video deleted while its job waits in the queue ends
// the job: the worker drops the message and stores nothing.
func TestVideoDeletedWhileQueued(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig(t)
	q, _ := e.jsQueue(t, cfg)
	msg := e.newJob(t, "landscape.mp4")
	if err := transcoder.Enqueue(context.Background(), q, msg); err != nil {
		t.Fatal(err)
	}
	if err := e.videos.DeleteVideo(context.Background(), msg.VideoID, "alice"); err != nil {
		t.Fatal(err)
	}
	start(t, cfg, q, e, nil)
	e.waitQueueEmpty(t)
	j := e.waitJob(t, msg.JobID, videoforge.JobFailed, time.Second)
	if j.Error == nil || *j.Error != "the video was deleted" || j.Attempts != 0 {
		t.Errorf("job %+v: want failed without an attempt, saying the video was deleted", j)
	}
	if k := e.keys(t, layout.VideoPrefix(msg.VideoID)); len(k) != 0 {
		t.Errorf("stored %v for a deleted video", k)
	}
}

// TestHostileUploads: the hostile corpus of transcoder/ffmpeg (manifests naming other
// files, a self-including concat, random bytes, an empty file, huge or impossible
// claims) as jobs: each fails fast, once, with its reason, leaves nothing stored, and
// the worker goes on to complete the next, good job.
func TestHostileUploads(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig(t)
	cfg.Workers = 1
	q, _ := e.jsQueue(t, cfg)
	hostile, err := filepath.Glob(filepath.Join(hostileDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // the reason each one fails with, in part
		"claims4h.mkv": "frames", "gap4h.mkv": "frames", "huge_claim.mkv": "size", "over_limit.mkv": "pixels",
		"random.bin": "not a video", "empty": "empty",
		"dash.mpd": "container", "hls.m3u8": "container", "hls_then_ts.m3u8": "container",
		"concat.ffconcat": "container", "concat_self.ffconcat": "container",
	}
	var msgs []videoforge.JobMessage
	for _, p := range hostile {
		if _, ok := want[filepath.Base(p)]; ok {
			msgs = append(msgs, e.newJobFrom(t, p))
		}
	}
	if len(msgs) != len(want) {
		t.Fatalf("found %d of the %d hostile files", len(msgs), len(want))
	}
	good := e.newJob(t, "landscape.mp4")
	for _, m := range append(msgs, good) {
		if err := transcoder.Enqueue(context.Background(), q, m); err != nil {
			t.Fatal(err)
		}
	}
	began := time.Now()
	start(t, cfg, q, e, nil)
	e.waitJob(t, good.JobID, videoforge.JobCompleted, time.Minute)
	t.Logf("%d hostile jobs failed and the good one completed in %v", len(msgs), time.Since(began).Round(time.Millisecond))
	for _, m := range msgs {
		j := e.waitJob(t, m.JobID, videoforge.JobFailed, time.Second)
		v, _ := e.videos.FindVideoByID(context.Background(), m.VideoID, "alice")
		reason := want[v.Title]
		if j.Error == nil || !strings.Contains(*j.Error, reason) || j.Attempts != 1 {
			t.Errorf("%s: job %+v, error %q: want failed once, saying %q", v.Title, j, *j.Error, reason)
		}
		if k := e.keys(t, layout.VideoPrefix(m.VideoID)); len(k) != 0 {
			t.Errorf("%s left %v", v.Title, k)
		}
	}
	e.checkResults(t, good, []string{"240p:320x240", "144p:192x144"}, true)
}

// lostCommitReply is the real job store, except that the first commit's answer is lost
// (the transaction commits, the reply never arrives) and, meanwhile, shutdown begins.
type lostCommitReply struct {
	*postgres.JobService
	once     sync.Once
	shutdown func()
}

func (s *lostCommitReply) CompleteJob(ctx context.Context, a *videoforge.Attempt, r videoforge.JobResult) (*videoforge.Video, error) {
	v, err := s.JobService.CompleteJob(ctx, a, r)
	lost := false
	s.once.Do(func() { lost = true; s.shutdown() })
	if lost && err == nil {
		return nil, errors.New("connection reset by peer")
	}
	return v, err
}

// TestCommitReplyLostAtShutdown: a commit that landed while its reply was lost, as the
// worker shuts down, is found to have landed: the worker keeps the attempt's folder
// the video now plays from, instead of taking the commit for a failure and removing it.
func TestCommitReplyLostAtShutdown(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig(t)
	cfg.ShutdownGrace = 0
	q, _ := e.jsQueue(t, cfg)
	msg := e.newJob(t, "landscape.mp4")
	if err := transcoder.Enqueue(context.Background(), q, msg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	jobs := &lostCommitReply{JobService: e.jobs, shutdown: cancel}
	tr, err := transcoder.New(cfg, q, e.st, jobs, bus.JobEvents{JS: e.js}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = tr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the transcoder did not stop")
	}
	j := e.waitJob(t, msg.JobID, videoforge.JobCompleted, time.Second)
	if j.Attempts != 1 {
		t.Errorf("job %+v", j)
	}
	e.checkResults(t, msg, []string{"240p:320x240", "144p:192x144"}, true)
}
