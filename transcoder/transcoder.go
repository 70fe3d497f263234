package transcoder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/telemetry"
	"github.com/videoforge/videoforge/transcoder/ffmpeg"
)

// Storage is where sources come from and results go (storage.Store).
type Storage interface {
	// DownloadSource writes the sealed source to the file name; a changed or
	// removed source is EINVALID.
	DownloadSource(ctx context.Context, src videoforge.Source, name string) (int64, error)
	// ReadSource returns the sealed source from byte off on, checked as DownloadSource.
	ReadSource(ctx context.Context, src videoforge.Source, off int64) (io.ReadCloser, error)
	// Download writes the object at key to the file name.
	Download(ctx context.Context, key, name string) (int64, error)
	PutDir(ctx context.Context, dir, prefix string, last ...string) error
	// PutFile stores the file name at key; Put stores r at key. Both set the media
	// type and cache life by the key's extension.
	PutFile(ctx context.Context, key, name string) error
	Put(ctx context.Context, key string, r io.Reader) error
	DeletePrefix(ctx context.Context, prefix string) error
}

// Events publishes job events on videoforge.jobs.<jobId>.<kind>; see bus.JobEvents.
type Events interface {
	PublishJobEvent(ctx context.Context, e videoforge.JobEvent) error
}

// Config tunes a transcoder.
type Config struct {
	Workers          int           // worker actors; 0 means 1
	Visibility       time.Duration // a received message's invisibility and an attempt's lease, renewed every third of it
	MaxAttempts      int           // failures of the work itself (ffmpeg, a crash) before the job fails; outages never count
	MaxReceives      int           // the queue's receives before the dead-letter queue (SQS: the redrive policy's maxReceiveCount)
	RetryDelay       time.Duration // before a failed attempt's message comes back, times the failures so far
	OutageBackoff    time.Duration // the longest pause between retries of a step that failed for an outage
	ShutdownGrace    time.Duration // how long in-flight jobs may go on after shutdown begins
	ProgressInterval time.Duration // at most one progress event and database update per interval
	WorkDir          string        // where jobs keep their files; os.TempDir() when empty
	// PublishEarly makes a video playable before its ladder is done: a source whose
	// video browsers already play is stream-copied into a rendition and published at
	// once (ffmpeg.StreamCopy), the ladder after it.
	PublishEarly bool
	// ChunkDuration is the length of the chunks a long source's ladder is encoded in
	// over the fleet: a source longer than two chunks is split (see chunk.go); 0 keeps
	// every source one piece. Rounded to whole segments.
	ChunkDuration time.Duration
	ChunkPoll     time.Duration // how often an attempt waiting for chunks others hold looks at them
	Limits        ffmpeg.Limits
	FFmpeg        ffmpeg.Config
	Bin           ffmpeg.Binaries
	Metrics       prometheus.Registerer // where the metrics are registered; nil: nowhere
}

// DefaultConfig returns the configuration used unless told otherwise.
func DefaultConfig() Config {
	return Config{
		Workers:          1,
		Visibility:       60 * time.Second,
		MaxAttempts:      3,
		MaxReceives:      10,
		RetryDelay:       10 * time.Second,
		OutageBackoff:    5 * time.Second,
		ShutdownGrace:    30 * time.Second,
		ProgressInterval: time.Second,
		PublishEarly:     true,
		ChunkDuration:    20 * time.Second,
		ChunkPoll:        time.Second,
		Limits:           ffmpeg.Limits{MaxDuration: 4 * time.Hour, MaxSize: 20 << 30, MaxPixels: 4096 * 2304},
		FFmpeg:           ffmpeg.DefaultConfig(),
	}
}

// Validate checks the configuration at start-up.
func (c Config) Validate() error {
	switch {
	case c.Workers < 1:
		return errors.New("TRANSCODER_WORKERS must be at least 1")
	case c.Visibility < 3*time.Second:
		return errors.New("the visibility timeout must be at least 3s")
	case c.MaxAttempts < 1:
		return errors.New("TRANSCODER_MAX_ATTEMPTS must be at least 1")
	case c.MaxReceives < c.MaxAttempts:
		return errors.New("TRANSCODER_MAX_RECEIVES must be at least TRANSCODER_MAX_ATTEMPTS, and had better be more: duplicates and lapsed heartbeats are receives too")
	}
	if err := c.FFmpeg.Validate(); err != nil {
		return fmt.Errorf("ladder: %w", err)
	}
	return nil
}

// Transcoder is the supervisor of the worker actors.
type Transcoder struct {
	cfg    Config
	queue  Queue
	store  Storage
	jobs   videoforge.JobService
	events Events
	log    *slog.Logger
	runner *ffmpeg.Runner
	m      *metrics
	dead   Queue                   // watched when not nil; see WatchDeadLetters
	chunks videoforge.ChunkService // nil: every source stays one piece

	sourcesOnce sync.Once
	sourceSrv   *sourceServer // nil when its listener failed

	// testHook, when set, runs at the named points of a job; tests use it to crash
	// workers ("panic"), pause them (block) or cut a dependency at chosen moments.
	testHook func(point string)
}

// New returns a transcoder. events may be nil.
func New(cfg Config, q Queue, st Storage, jobs videoforge.JobService, events Events, log *slog.Logger) (*Transcoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = time.Second
	}
	if cfg.OutageBackoff <= 0 {
		cfg.OutageBackoff = 5 * time.Second
	}
	if cfg.ChunkPoll <= 0 {
		cfg.ChunkPoll = time.Second
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("transcoder metrics: %w", err)
	}
	chunks, _ := jobs.(videoforge.ChunkService)
	return &Transcoder{cfg: cfg, queue: q, store: st, jobs: jobs, events: events, log: log.With("component", "transcoder"),
		runner: &ffmpeg.Runner{Bin: cfg.Bin, Config: cfg.FFmpeg}, m: m, chunks: chunks}, nil
}

// sources returns the source server, started on first use.
func (t *Transcoder) sources() *sourceServer {
	t.sourcesOnce.Do(func() {
		srv, err := newSourceServer(t.store)
		if err != nil {
			t.log.Error("the source server did not start; sources are downloaded whole", "err", err)
			return
		}
		t.sourceSrv = srv
	})
	return t.sourceSrv
}

// Run starts the workers and returns when ctx ends and every worker has stopped: each
// in-flight job either finishes within ShutdownGrace or is stopped and handed back at
// once, without counting as an attempt.
func (t *Transcoder) Run(ctx context.Context) error {
	t.log.Info("transcoder started", "workers", t.cfg.Workers)
	// Jobs run on their own context: shutdown stops taking messages at once and
	// stops running jobs only after the grace period.
	jobCtx, cancelJobs := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelJobs(nil)
	stop := context.AfterFunc(ctx, func() {
		time.AfterFunc(t.cfg.ShutdownGrace, func() { cancelJobs(errShutdown) })
	})
	defer stop()

	var wg sync.WaitGroup
	for i := range t.cfg.Workers {
		wg.Go(func() { t.supervise(ctx, jobCtx, i) })
	}
	if t.dead != nil {
		wg.Go(func() { t.watchDeadLetters(ctx) })
	}
	wg.Wait()
	if t.sourceSrv != nil {
		_ = t.sourceSrv.close()
	}
	t.log.Info("transcoder stopped")
	return nil
}

var (
	errShutdown   = errors.New("shutting down")
	errVideoGone  = errors.New("the video was deleted")
	errSuperseded = errors.New("a newer attempt holds the job")
)

// supervise runs worker i and restarts it when it crashes, with a growing pause.
func (t *Transcoder) supervise(ctx, jobCtx context.Context, i int) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		crashed := t.worker(ctx, jobCtx, i)
		if !crashed {
			return
		}
		t.m.restarts.Inc()
		t.log.Error("worker crashed; restarting it", "worker", i, "after", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// worker takes messages until ctx ends; it reports whether it stopped by crashing.
func (t *Transcoder) worker(ctx, jobCtx context.Context, i int) (crashed bool) {
	defer func() {
		if r := recover(); r != nil {
			t.log.Error("worker panic", "worker", i, "panic", r)
			crashed = true
		}
	}()
	for ctx.Err() == nil {
		d, err := t.queue.Receive(ctx)
		if err != nil {
			if ctx.Err() == nil {
				t.log.Warn("receive failed", "worker", i, "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		if d != nil {
			t.handle(jobCtx, d)
		}
	}
	return false
}

// job is one delivery being handled: its message and, once started, its attempt.
type job struct {
	d       Delivery
	msg     videoforge.JobMessage
	log     atomic.Pointer[slog.Logger] // gains the attempt once started; the heartbeat reads it too
	attempt atomic.Pointer[videoforge.Attempt]
	cancel  context.CancelCauseFunc
	// published: the attempt published renditions, so its folder is the video's now
	// (the next attempt's commit removes it), not the attempt's to take back.
	published atomic.Bool
}

func (j *job) logger() *slog.Logger { return j.log.Load() }

// handle processes one delivery to its end. Only the current attempt of a job
// changes anything: a stale one (superseded, or its video deleted) removes its own
// folder and leaves the message alone; an outage is waited out; a failure of the
// work counts against the job's attempts.
func (t *Transcoder) handle(ctx context.Context, d Delivery) {
	var cm chunkMessage
	err := json.Unmarshal(d.Body(), &cm)
	msg := cm.JobMessage
	if err != nil || msg.JobID <= 0 || msg.VideoID <= 0 || (cm.Chunk != nil && (cm.Chunk.Token <= 0 || cm.Chunk.Index < 0)) {
		// Nothing to mark failed: the message goes back and, after the maximum
		// receives, to the dead-letter queue for somebody to look at.
		t.m.outcome(outcomeUnreadable)
		t.log.Error("unreadable job message", "receive", d.Attempt(), "body", truncate(string(d.Body()), 200), "err", err)
		t.release(d, t.cfg.RetryDelay)
		return
	}
	t.m.inFlight.Inc()
	defer t.m.inFlight.Dec()
	if cm.Chunk != nil {
		t.handleChunk(ctx, d, cm)
		return
	}
	received := time.Now()
	ctx, span := jobSpan(ctx, d, "transcode job", msg)
	defer span.End()
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	j := &job{d: d, msg: msg, cancel: cancel}
	j.log.Store(t.log.With(append([]any{telemetry.JobIDKey, msg.JobID, telemetry.VideoIDKey, msg.VideoID, "receive", d.Attempt()},
		telemetry.SpanAttrs(span)...)...))

	// The heartbeat keeps the message invisible and, once the job is started, the
	// attempt's lease alive; it stops the job when the attempt lost it.
	hbDone := make(chan struct{})
	defer func() { <-hbDone }()
	defer cancel(nil)
	go func() {
		defer close(hbDone)
		t.heartbeat(jctx, j)
	}()
	// A crash counts as a failure of the work and hands the message back at once.
	defer func() {
		if r := recover(); r != nil {
			cancel(nil)
			if a := j.attempt.Load(); a != nil {
				t.failed(ctx, j, a, fmt.Errorf("the worker crashed: %v", r))
			} else {
				t.release(d, 0)
			}
			panic(r)
		}
	}()

	var a *videoforge.Attempt
	err = t.patiently(jctx, j.logger(), "start the job", func(ctx context.Context) (err error) {
		a, err = t.jobs.StartJob(ctx, msg.JobID, msg.VideoID, t.cfg.Visibility)
		return err
	})
	switch {
	case errors.Is(context.Cause(jctx), errShutdown):
		t.m.outcome(outcomeHandedBack)
		t.release(d, 0)
		return
	case errors.Is(err, videoforge.ErrJobHeld):
		// A duplicate delivery, or the message of an attempt whose heartbeat
		// stopped reaching the queue: back after the holder's lease would have run
		// out, to take over if the holder died.
		t.m.outcome(outcomeBusy)
		j.logger().Info("another attempt holds the job; the message comes back after its lease", "err", err)
		t.release(d, t.cfg.Visibility)
		return
	case err != nil:
		t.m.outcome(outcomeRetried)
		j.logger().Warn("could not start the job", "err", err)
		t.release(d, t.cfg.RetryDelay)
		return
	case a == nil:
		t.m.outcome(outcomeDropped)
		j.logger().Info("nothing to do: the job is finished, not queued, or its video deleted; dropping the message")
		t.ack(j.logger(), d)
		return
	}
	j.attempt.Store(a)
	j.log.Store(j.logger().With("attempt", a.Token))
	t.publish(msg, videoforge.JobEventStarted, 0, int(a.Token), "")
	t.hook("started")
	began := time.Now()
	res, err := t.process(jctx, j, a)
	inDoubt := false // a commit may have landed: the attempt's folder must stay
	if err == nil {
		t.hook("committing")
		err = step(jctx, "commit", func(ctx context.Context) error {
			return t.patiently(ctx, j.logger(), "commit the results", func(ctx context.Context) error {
				_, err := t.jobs.CompleteJob(ctx, a, *res)
				return err
			})
		})
		if err != nil && jctx.Err() != nil {
			// The job's context ended (shutdown, or a heartbeat that found the job
			// completed) while the commit was on its way: ask once more, outside
			// it, rather than take a commit that landed for a failure.
			err = t.settle(j, a, res)
			inDoubt = err != nil && !definite(err)
		}
	}
	cause := context.Cause(jctx)
	telemetry.Fail(span, err)
	remove := func() {
		if !inDoubt {
			t.removeOwn(j, a)
		}
	}
	switch {
	case err == nil:
		t.hook("committed")
		t.m.outcome(outcomeCompleted)
		t.m.seconds.Observe(time.Since(received).Seconds())
		t.ack(j.logger(), d)
		t.publish(msg, videoforge.JobEventCompleted, 100, int(a.Token), "")
		j.logger().Info("job completed", "took", time.Since(began).Round(time.Millisecond), "renditions", len(res.Renditions))
		t.removeEarlierAttempts(j.logger(), a)
	case errors.Is(cause, errVideoGone) || videoforge.ErrorCode(err) == videoforge.ENOTFOUND:
		t.m.outcome(outcomeDropped)
		j.logger().Info("video deleted during the job; dropping it")
		j.published.Store(false) // nothing plays from the folder any more
		remove()
		t.ack(j.logger(), d)
	case errors.Is(cause, errSuperseded) || videoforge.ErrorCode(err) == videoforge.ECONFLICT:
		// Whoever holds the job now holds its message too (or its own copy); this
		// attempt only takes back what it wrote.
		j.logger().Warn("a newer attempt holds the job; this one stops", "err", err)
		t.unpublishIfReplaced(j, a)
		remove()
		t.m.outcome(outcomeSuperseded) // counted once its folder is gone
	case errors.Is(cause, errShutdown):
		t.m.outcome(outcomeHandedBack)
		j.logger().Info("shutting down; handing the job back")
		remove()
		t.handBack(j, a)
	case permanent(err):
		t.m.outcome(outcomeFailed)
		reason := videoforge.ErrorMessage(err)
		j.logger().Info("job failed", "reason", reason)
		t.removeOwn(j, a)
		t.fail(j, a, reason)
	default:
		t.failed(ctx, j, a, err)
	}
}

// settle commits the attempt's results once more, bounded but outside the job's
// context: nil when the commit landed (now or before), a definite error when it cannot
// (superseded, video deleted), another error when the outcome stays unknown.
func (t *Transcoder) settle(j *job, a *videoforge.Attempt, res *videoforge.JobResult) error {
	ctx, cancel := outageCtx()
	defer cancel()
	return t.patiently(ctx, j.logger(), "settle the commit", func(ctx context.Context) error {
		_, err := t.jobs.CompleteJob(ctx, a, *res)
		return err
	})
}

// heartbeat renews the message's invisibility and the attempt's lease every third of
// Visibility until ctx ends. A lease the catalog refuses stops the job: its video
// was deleted, or a newer attempt took it over.
func (t *Transcoder) heartbeat(ctx context.Context, j *job) {
	t.everyThird(ctx, func() bool {
		t.hook("heartbeat")
		if ctx.Err() != nil {
			return false
		}
		if err := j.d.Extend(ctx, t.cfg.Visibility); err != nil && ctx.Err() == nil {
			j.logger().Warn("heartbeat to the queue failed", "err", err)
		}
		if a := j.attempt.Load(); a != nil {
			t.renew(ctx, j, a, -1)
		}
		return true
	})
}

// everyThird calls beat every third of Visibility until ctx ends or beat returns false.
func (t *Transcoder) everyThird(ctx context.Context, beat func() bool) {
	tick := time.NewTicker(t.cfg.Visibility / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !beat() {
			return
		}
	}
}

// renew records progress (or, when pct < 0, only renews the lease) and stops the job
// when the catalog says the attempt is over.
func (t *Transcoder) renew(ctx context.Context, j *job, a *videoforge.Attempt, pct float64) {
	err := t.jobs.UpdateJobProgress(ctx, a, pct, t.cfg.Visibility)
	switch videoforge.ErrorCode(err) {
	case "":
	case videoforge.ENOTFOUND:
		j.cancel(errVideoGone)
	case videoforge.ECONFLICT:
		j.cancel(errSuperseded)
	default:
		if ctx.Err() == nil {
			// An outage: the lease runs on its last renewal meanwhile; the
			// message's own heartbeat keeps other workers away.
			j.logger().Warn("could not renew the attempt's lease or progress", "err", err)
		}
	}
}

// permanent reports whether err is about the upload itself, so that retrying is useless.
func permanent(err error) bool {
	switch videoforge.ErrorCode(err) {
	case videoforge.EINVALID, videoforge.ETOOLARGE:
		return true
	}
	return false
}

// definite reports whether err is an answer that retrying the same call would not
// change, as opposed to an outage.
func definite(err error) bool {
	switch videoforge.ErrorCode(err) {
	case videoforge.EINVALID, videoforge.ETOOLARGE, videoforge.ENOTFOUND, videoforge.ECONFLICT,
		videoforge.EFORBIDDEN, videoforge.EUNAUTHORIZED:
		return true
	}
	return false
}

// patiently runs op until it succeeds, gives a definite answer, or ctx ends. Outages
// of PostgreSQL, storage or the queue are waited out with a growing pause, up to
// OutageBackoff, and never count against the job's attempts.
func (t *Transcoder) patiently(ctx context.Context, log *slog.Logger, what string, op func(ctx context.Context) error) error {
	pause := min(100*time.Millisecond, t.cfg.OutageBackoff)
	for {
		err := op(ctx)
		if err == nil || definite(err) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (%w)", what, context.Cause(ctx), err)
		}
		t.m.outages.Inc()
		log.Warn("could not "+what+"; retrying", "err", err, "in", pause)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (%w)", what, context.Cause(ctx), err)
		case <-time.After(pause):
		}
		pause = min(2*pause, t.cfg.OutageBackoff)
	}
}

// outageCtx is the context of the steps that end a job: not stopped by shutdown,
// but bounded, so that an outage cannot hold a worker that is shutting down.
func outageCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// failed counts a failure of the work: another attempt later, or, with the job's
// attempts used up, the job failed and the message gone.
func (t *Transcoder) failed(ctx context.Context, j *job, a *videoforge.Attempt, err error) {
	t.removeOwn(j, a)
	reason := fmt.Sprintf("gave up after %d attempts: %s", a.Failures+1, errorText(err))
	bctx, cancel := outageCtx()
	defer cancel()
	var gaveUp bool
	rerr := t.patiently(bctx, j.logger(), "record the failed attempt", func(ctx context.Context) (err error) {
		gaveUp, err = t.jobs.RetryJob(ctx, a, reason, t.cfg.MaxAttempts)
		return err
	})
	switch {
	case videoforge.ErrorCode(rerr) == videoforge.ECONFLICT || videoforge.ErrorCode(rerr) == videoforge.ENOTFOUND:
		t.m.outcome(outcomeSuperseded)
		j.logger().Warn("the attempt failed, and the job is no longer its own", "err", err, "catalog", rerr)
	case rerr != nil:
		// The lease runs out and the message comes back: the next attempt goes on.
		t.m.outcome(outcomeRetried)
		j.logger().Error("the attempt failed and could not be recorded", "err", err, "catalog", rerr)
		t.release(j.d, t.cfg.RetryDelay)
	case gaveUp:
		t.m.outcome(outcomeFailed)
		j.logger().Error("job failed for good", "err", err)
		t.ack(j.logger(), j.d)
		t.publish(j.msg, videoforge.JobEventFailed, 0, int(a.Token), reason)
	default:
		delay := t.cfg.RetryDelay * time.Duration(a.Failures+1)
		t.m.outcome(outcomeRetried)
		j.logger().Warn("job attempt failed; retrying", "err", err, "in", delay)
		t.release(j.d, delay)
	}
}

// fail marks the attempt's job failed for a reason retrying would not change.
func (t *Transcoder) fail(j *job, a *videoforge.Attempt, reason string) {
	ctx, cancel := outageCtx()
	defer cancel()
	err := t.patiently(ctx, j.logger(), "mark the job failed", func(ctx context.Context) error {
		return t.jobs.FailJob(ctx, a.JobID, a.VideoID, a, reason)
	})
	switch {
	case videoforge.ErrorCode(err) == videoforge.ECONFLICT:
		j.logger().Warn("the job is no longer this attempt's; leaving it", "err", err)
		return
	case err != nil && videoforge.ErrorCode(err) != videoforge.ENOTFOUND:
		j.logger().Error("could not mark the job failed; the message comes back", "err", err)
		t.release(j.d, t.cfg.RetryDelay)
		return
	}
	t.ack(j.logger(), j.d)
	t.publish(j.msg, videoforge.JobEventFailed, 0, int(a.Token), reason)
}

// handBack returns a job at shutdown without using up a receive of its message: the
// attempt's lease ends, a fresh message goes to the queue and the old one is
// removed. When the queue takes no message, the old one is released instead.
func (t *Transcoder) handBack(j *job, a *videoforge.Attempt) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := t.jobs.ReleaseJob(ctx, a); err != nil {
		j.logger().Warn("could not end the attempt's lease; the next attempt waits for it to run out", "err", err)
	}
	m := j.msg
	m.HandBack = a.Token
	if err := Enqueue(ctx, t.queue, m); err != nil {
		j.logger().Warn("could not send the handed-back job's message; releasing the old one", "err", err)
		t.release(j.d, 0)
		return
	}
	t.ack(j.logger(), j.d)
}

// errorText is what a job's error column shows for an internal failure: the chain's
// message, which for internal errors names the failing step.
func errorText(err error) string {
	if videoforge.ErrorCode(err) != videoforge.EINTERNAL {
		return videoforge.ErrorMessage(err)
	}
	return truncate(err.Error(), 500)
}

// jobFinder is a job store that reads a job whoever owns it (postgres.JobService).
type jobFinder interface {
	FindJobByID(ctx context.Context, id int64) (*videoforge.Job, error)
}

// unpublishIfReplaced is for a superseded attempt that published renditions: once a
// newer attempt's commit landed, the video plays from that one's folder and this
// attempt's is its own again to remove (it may have written more after the newer
// commit removed it). Until then the video may play from it, so it stays.
func (t *Transcoder) unpublishIfReplaced(j *job, a *videoforge.Attempt) {
	f, ok := t.jobs.(jobFinder)
	if !j.published.Load() || !ok {
		return
	}
	ctx, cancel := outageCtx()
	defer cancel()
	if cur, err := f.FindJobByID(ctx, a.JobID); err == nil && cur.Status == videoforge.JobCompleted && cur.Attempts > int(a.Token) {
		j.published.Store(false)
	}
}

// removeOwn removes what the attempt stored, unless it published renditions: then the
// video plays from its folder until a later attempt commits, which removes it.
func (t *Transcoder) removeOwn(j *job, a *videoforge.Attempt) {
	if j.published.Load() {
		j.logger().Info("keeping the attempt's folder: the video plays from it", "folder", a.Folder())
		return
	}
	t.removeFolder(j.logger(), a)
}

// removeFolder removes what the attempt stored: its own folder, which no committed
// row points to (only the current attempt commits, and it does not call this).
func (t *Transcoder) removeFolder(log *slog.Logger, a *videoforge.Attempt) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := t.store.DeletePrefix(ctx, a.Folder()); err != nil {
		log.Warn("could not remove the attempt's results", "folder", a.Folder(), "err", err)
	}
}

// removeEarlierAttempts removes, after a commit, the folders of the job's earlier
// attempts: none of them can commit any more, and a stale one still writing stops at
// its next heartbeat and removes its folder itself.
func (t *Transcoder) removeEarlierAttempts(log *slog.Logger, a *videoforge.Attempt) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for token := int64(1); token < a.Token; token++ {
		f := layout.AttemptFolder(a.VideoID, token)
		if err := t.store.DeletePrefix(ctx, f); err != nil {
			log.Warn("could not remove an earlier attempt's results", "folder", f, "err", err)
		}
	}
}

func (t *Transcoder) ack(log *slog.Logger, d Delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Ack(ctx); err != nil {
		// The message comes back after its timeout; the job's state makes that harmless.
		log.Warn("ack failed", "err", err)
	}
}

func (t *Transcoder) release(d Delivery, delay time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Release(ctx, delay); err != nil {
		t.log.Warn("release failed; the message comes back after its timeout", "err", err)
	}
}

func (t *Transcoder) hook(point string) {
	if t.testHook != nil {
		t.testHook(point)
	}
}

// process does an attempt's work under its folder: it downloads and probes the
// source; with PublishEarly, it publishes a stream copy of it at once when browsers
// play it as it is, or else encodes its smallest rung first and publishes it while it
// grows; then it encodes the rest of the ladder, the thumbnail and the storyboard, and
// stores them, the master playlist last. It returns what the commit records.
func (t *Transcoder) process(ctx context.Context, j *job, a *videoforge.Attempt) (*videoforge.JobResult, error) {
	dir, err := os.MkdirTemp(t.cfg.WorkDir, "job-"+strconv.FormatInt(a.JobID, 10)+"-a"+strconv.FormatInt(a.Token, 10)+"-")
	if err != nil {
		return nil, fmt.Errorf("work folder: %w", err)
	}
	defer os.RemoveAll(dir)
	src, out := filepath.Join(dir, "source"), filepath.Join(dir, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	t.hook("downloading")
	// The source is published early while it downloads; the probe of the whole
	// download decides on the rest, and stops the early work of a source it refuses.
	ectx, stopEarly := context.WithCancelCause(ctx)
	defer stopEarly(nil)
	checked := t.downloadAndProbe(ctx, j, a, src, stopEarly)
	early, err := t.publishEarly(ectx, j, a, out)
	c := <-checked
	if c.err != nil {
		return nil, c.err
	}
	if err != nil {
		return nil, err
	}
	info := c.info
	plan := ffmpeg.PlanLadder(info, t.cfg.FFmpeg)
	prefix := a.Folder()
	res := result(info, c.size, prefix)
	var kept []ffmpeg.MasterVariant // renditions published early that stay
	v, replaces, ok := ffmpeg.StreamCopy(info, plan)
	switch {
	case early != nil && early.first:
		kept = append(kept, early.mv)
		if n := len(plan.Variants); n > 0 && plan.Variants[n-1].Name == early.name {
			plan.Variants = plan.Variants[:n-1]
		}
	case early != nil:
		kept = append(kept, early.mv)
		if early.replaces && len(plan.Variants) > 0 && plan.Variants[0].Name == early.name {
			plan.Variants = plan.Variants[1:]
		}
	case !t.cfg.PublishEarly:
	case !ok && len(plan.Variants) > 0:
		mv, err := t.publishFirstRung(ctx, j, a, src, out, info, plan, *res)
		if err != nil {
			return nil, err
		}
		plan.Variants, kept = plan.Variants[:len(plan.Variants)-1], append(kept, mv)
	case ok:
		mv, err := t.publishCopy(ctx, j, a, src, out, info, plan, v, *res)
		if err != nil {
			return nil, err
		}
		if replaces {
			plan.Variants = plan.Variants[1:]
		}
		kept = append(kept, mv)
	}
	variants, err := t.encode(ctx, j, a, src, out, info, plan, t.growing(j, a, out, info, plan, *res, kept))
	if err != nil {
		return nil, err
	}
	variants = append(kept, variants...)
	slices.SortStableFunc(variants, func(x, y ffmpeg.MasterVariant) int { return min(y.Width, y.Height) - min(x.Width, x.Height) })
	if err := ffmpeg.WriteMaster(filepath.Join(out, layout.MasterPlaylist), variants); err != nil {
		return nil, err
	}
	res.ThumbnailURL, res.Renditions = prefix+layout.ThumbnailFile, renditions(prefix, variants)
	t.hook("uploading")
	err = step(ctx, "upload", func(ctx context.Context) error {
		return t.patiently(ctx, j.logger(), "store the results", func(ctx context.Context) error {
			return t.store.PutDir(ctx, out, prefix, layout.MasterPlaylist)
		})
	})
	if err != nil {
		return nil, err
	}
	t.progress(ctx, j, a, 99)
	return res, nil
}

// publishCopy stream-copies the source src (a file, or the source server's URL of it)
// into the rendition v and publishes it while the remux runs, through a growing
// publisher: the rendition joins the master playlist and the catalog with its first
// segment, so that the video plays while the rest is copied and the ladder encoded.
func (t *Transcoder) publishCopy(ctx context.Context, j *job, a *videoforge.Attempt, src, out string, info *ffmpeg.Info,
	plan ffmpeg.Plan, v ffmpeg.Variant, res videoforge.JobResult) (ffmpeg.MasterVariant, error) {
	began := time.Now()
	// A source's bitrate is its average: its peaks go a fifth higher.
	mv := t.masterVariant(v, 120, info)
	mv.Codecs = ffmpeg.CopyCodecs(info)
	one := plan
	one.Variants, one.Event = []ffmpeg.Variant{v}, true
	g := t.growing(j, a, out, info, one, res, nil)
	g.variants[0] = mv
	if err := rungs(ctx, "copy", one.Variants, func(ctx context.Context) error {
		return g.encode(ctx, func(ctx context.Context) error { return t.runner.Remux(ctx, src, out, v, one) })
	}); err != nil {
		return mv, err
	}
	j.logger().Info("the source's stream copy is stored", "rendition", v.Name, "took", time.Since(began).Round(time.Millisecond))
	return mv, nil
}

// result is what a commit records of a probed source of size bytes, its results under prefix.
func result(info *ffmpeg.Info, size int64, prefix string) *videoforge.JobResult {
	return &videoforge.JobResult{
		Duration: info.Duration, Resolution: fmt.Sprintf("%dx%d", info.Width, info.Height),
		VideoCodec: info.VideoCodec, AudioCodec: info.AudioCodec, FileSize: size, S3Key: strings.TrimSuffix(prefix, "/"),
	}
}

// probed is a downloaded source and what its probe found, or why there is none.
type probed struct {
	size int64
	info *ffmpeg.Info
	err  error
}

// downloadAndProbe downloads the attempt's source into the file src and probes it
// whole, in the background; a source the probe refuses (or that cannot be
// downloaded) stops the early work through stop.
func (t *Transcoder) downloadAndProbe(ctx context.Context, j *job, a *videoforge.Attempt, src string, stop context.CancelCauseFunc) <-chan probed {
	done := make(chan probed, 1)
	go func() {
		var p probed
		p.err = step(ctx, "download", func(ctx context.Context) error {
			return t.patiently(ctx, j.logger(), "download the source", func(ctx context.Context) (err error) {
				p.size, err = t.store.DownloadSource(ctx, a.Source, src)
				return err
			})
		})
		if p.err == nil {
			p.err = step(ctx, "probe", func(ctx context.Context) (err error) {
				p.info, err = ffmpeg.Probe(ctx, t.cfg.Bin, src, t.cfg.Limits)
				return err
			})
		}
		if p.err != nil {
			stop(p.err)
		}
		done <- p
	}()
	return done
}

// earlyRendition is a rendition published before the source was downloaded.
type earlyRendition struct {
	mv       ffmpeg.MasterVariant
	name     string // the rendition's
	replaces bool   // a stream copy that stands in for the ladder's top rung
	first    bool   // the ladder's smallest rung, encoded first
}

// publishEarly publishes a first rendition without waiting for the source's download:
// the source is probed from its headers and read through the source server, which
// reads it from storage in ranges (a moov box at the end included). A source browsers
// play as it is is stream-copied; any other has its smallest rung encoded first. It
// returns nil and no error when that does not apply (PublishEarly off, a ladder
// without rungs, headers that do not say enough) or when storage broke off the reads:
// the downloaded source is then published the same way.
func (t *Transcoder) publishEarly(ctx context.Context, j *job, a *videoforge.Attempt, out string) (*earlyRendition, error) {
	if !t.cfg.PublishEarly || a.Source.Size <= 0 || t.sources() == nil {
		return nil, nil
	}
	url, failure, remove := t.sourceSrv.add(a.Source)
	defer remove()
	info, err := ffmpeg.ProbeHeaders(ctx, t.cfg.Bin, url, a.Source.Size, t.cfg.Limits)
	if err != nil {
		j.logger().Debug("the source's headers do not decide; it is probed once downloaded", "err", err)
		return nil, nil
	}
	plan := ffmpeg.PlanLadder(info, t.cfg.FFmpeg)
	res := *result(info, a.Source.Size, a.Folder())
	var early earlyRendition
	if v, replaces, ok := ffmpeg.StreamCopy(info, plan); ok {
		early.name, early.replaces = v.Name, replaces
		early.mv, err = t.publishCopy(ctx, j, a, url, out, info, plan, v, res)
	} else if len(plan.Variants) > 0 {
		early.name, early.first = plan.Variants[len(plan.Variants)-1].Name, true
		early.mv, err = t.publishFirstRung(ctx, j, a, url, out, info, plan, res)
	} else {
		return nil, nil
	}
	if f := failure(); err != nil && f != nil && !definite(f) && ctx.Err() == nil {
		// Storage broke off the reads: the rendition is made again from the
		// download, which waits the outage out, into the same objects.
		j.logger().Warn("the source's ranged reads failed; publishing it once downloaded", "err", f)
		return nil, os.RemoveAll(filepath.Join(out, layout.HLSDir))
	} else if err != nil && f != nil {
		err = f // the source was changed or removed since it was sealed
	}
	if err != nil {
		return nil, err
	}
	return &early, nil
}

// encode encodes the plan's ladder (nothing when it is empty) with its thumbnail and
// storyboard into out, and returns the ladder's variants. With PublishEarly the rungs
// are published while they are encoded, through g.
func (t *Transcoder) encode(ctx context.Context, j *job, a *videoforge.Attempt, src, out string, info *ffmpeg.Info, plan ffmpeg.Plan,
	g *growing) ([]ffmpeg.MasterVariant, error) {
	var last time.Time
	progress := func(p ffmpeg.Progress) {
		if time.Since(last) < t.cfg.ProgressInterval || info.Duration <= 0 {
			return
		}
		last = time.Now()
		// Encoding is most of the work; the rest (thumbnail, storyboard, upload) is
		// the last 10 %.
		t.progress(ctx, j, a, min(90, 90*p.OutTime.Seconds()/info.Duration))
	}
	t.hook("encoding")
	if spans := t.spans(info); len(spans) > 1 && len(plan.Variants) > 0 {
		var variants []ffmpeg.MasterVariant
		err := rungs(ctx, "encode", plan.Variants, func(ctx context.Context) (err error) {
			variants, err = t.chunked(ctx, j, a, src, out, info, plan, g, spans)
			return err
		})
		if err == nil {
			t.progress(ctx, j, a, 90)
		}
		return variants, err
	}
	var variants []ffmpeg.MasterVariant
	if len(plan.Variants) > 0 {
		err := rungs(ctx, "encode", plan.Variants, func(ctx context.Context) error {
			if t.cfg.PublishEarly {
				plan.Event = true
				return g.encode(ctx, func(ctx context.Context) error { return t.runner.Encode(ctx, src, out, plan, progress) })
			}
			return t.runner.Encode(ctx, src, out, plan, progress)
		})
		if err != nil {
			return nil, err
		}
		mf, err := os.Open(filepath.Join(out, layout.MasterPlaylist))
		if err != nil {
			return nil, err
		}
		variants, err = ffmpeg.ParseMaster(mf)
		mf.Close()
		if err != nil {
			return nil, err
		}
	}
	t.progress(ctx, j, a, 90)
	return variants, step(ctx, "stills", func(ctx context.Context) error { return t.stills(ctx, src, out, info) })
}

// stills makes the thumbnail and the storyboard into out.
func (t *Transcoder) stills(ctx context.Context, src, out string, info *ffmpeg.Info) error {
	if _, _, err := t.runner.Thumbnail(ctx, src, out, info); err != nil {
		return err
	}
	_, err := t.runner.Storyboard(ctx, src, out, info)
	return err
}

// renditions returns the catalog's renditions of a master playlist's variants stored
// under prefix.
func renditions(prefix string, variants []ffmpeg.MasterVariant) []videoforge.Rendition {
	var out []videoforge.Rendition
	for _, v := range variants {
		out = append(out, videoforge.Rendition{
			Name: path.Dir(v.URI), Width: v.Width, Height: v.Height, Bandwidth: v.Bandwidth,
			Playlist: prefix + layout.HLSDir + "/" + v.URI,
		})
	}
	return out
}

// progress records and publishes how far a job is.
func (t *Transcoder) progress(ctx context.Context, j *job, a *videoforge.Attempt, pct float64) {
	pct = float64(int(pct*10)) / 10
	t.renew(ctx, j, a, pct)
	t.publish(j.msg, videoforge.JobEventProgress, pct, int(a.Token), "")
}

func (t *Transcoder) publish(msg videoforge.JobMessage, kind string, pct float64, attempt int, reason string) {
	if t.events == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := t.events.PublishJobEvent(ctx, videoforge.JobEvent{JobID: msg.JobID, VideoID: msg.VideoID, Type: kind,
		Progress: pct, Attempt: attempt, Error: reason, OccurredAt: time.Now().UTC()})
	if err != nil {
		// Job events are derived; the job row is the truth.
		t.log.Warn("could not publish job event", "job", msg.JobID, "type", kind, "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
