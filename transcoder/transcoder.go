package transcoder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/transcoder/ffmpeg"
)

// Storage is where sources come from and results go (storage.Store).
type Storage interface {
	Download(ctx context.Context, key, name string) (int64, error)
	PutDir(ctx context.Context, dir, prefix string, last ...string) error
}

// Events publishes job events on videoforge.jobs.<jobId>.<kind>; see NATSEvents.
type Events interface {
	PublishJobEvent(ctx context.Context, e videoforge.JobEvent) error
}

// Config tunes a transcoder.
type Config struct {
	Workers          int           // worker actors; 0 means 1
	Visibility       time.Duration // a received message's invisibility, renewed every third of it
	MaxReceives      int           // the queue's receives before the dead-letter queue; the last attempt marks the job failed
	RetryDelay       time.Duration // before a failed attempt's message comes back
	ShutdownGrace    time.Duration // how long in-flight jobs may go on after shutdown begins
	ProgressInterval time.Duration // at most one progress event and database update per interval
	WorkDir          string        // where jobs keep their files; os.TempDir() when empty
	Limits           ffmpeg.Limits
	FFmpeg           ffmpeg.Config
	Bin              ffmpeg.Binaries
	Metrics          prometheus.Registerer // where the metrics are registered; nil: nowhere
}

// DefaultConfig returns the configuration used unless told otherwise.
func DefaultConfig() Config {
	return Config{
		Workers:          1,
		Visibility:       60 * time.Second,
		MaxReceives:      5,
		RetryDelay:       10 * time.Second,
		ShutdownGrace:    30 * time.Second,
		ProgressInterval: time.Second,
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
	case c.MaxReceives < 1:
		return errors.New("the maximum receives must be at least 1")
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
	dead   Queue // watched when not nil; see WatchDeadLetters

	// testHook, when set, runs at the named points of a job; tests use it to crash
	// workers ("panic") at chosen moments.
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
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("transcoder metrics: %w", err)
	}
	return &Transcoder{cfg: cfg, queue: q, store: st, jobs: jobs, events: events, log: log.With("component", "transcoder"),
		runner: &ffmpeg.Runner{Bin: cfg.Bin, Config: cfg.FFmpeg}, m: m}, nil
}

// Run starts the workers and returns when ctx ends and every worker has stopped: each
// in-flight job either finishes within ShutdownGrace or is stopped and its message
// handed back at once.
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
	t.log.Info("transcoder stopped")
	return nil
}

var (
	errShutdown  = errors.New("shutting down")
	errVideoGone = errors.New("the video was deleted")
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

// handle processes one delivery to its end: acked when the job is done for good
// (completed, or failed for a reason retrying would not change), released otherwise.
func (t *Transcoder) handle(ctx context.Context, d Delivery) {
	var msg videoforge.JobMessage
	if err := json.Unmarshal(d.Body(), &msg); err != nil || msg.JobID <= 0 || msg.VideoID <= 0 || msg.SourceKey == "" {
		// Nothing to mark failed: the message goes back and, after the maximum
		// receives, to the dead-letter queue for somebody to look at.
		t.m.outcome(outcomeUnreadable)
		t.log.Error("unreadable job message", "attempt", d.Attempt(), "body", truncate(string(d.Body()), 200), "err", err)
		t.release(d, t.cfg.RetryDelay)
		return
	}
	log := t.log.With("job", msg.JobID, "video", msg.VideoID, "attempt", d.Attempt())
	t.m.inFlight.Inc()
	defer t.m.inFlight.Dec()
	received := time.Now()
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// The heartbeat keeps the message invisible while the job runs.
	hbDone := make(chan struct{})
	defer func() { <-hbDone }()
	defer cancel(nil)
	go func() {
		defer close(hbDone)
		tick := time.NewTicker(t.cfg.Visibility / 3)
		defer tick.Stop()
		for {
			select {
			case <-jctx.Done():
				return
			case <-tick.C:
				if err := d.Extend(jctx, t.cfg.Visibility); err != nil && jctx.Err() == nil {
					log.Warn("heartbeat failed", "err", err)
				}
			}
		}
	}()
	// A crash hands the message back at once rather than after the visibility timeout.
	defer func() {
		if r := recover(); r != nil {
			cancel(nil)
			// On the last attempt, retry marks the job failed; the message goes on
			// to the dead-letter queue either way.
			t.retry(ctx, log, d, msg, fmt.Errorf("the worker crashed: %v", r))
			panic(r)
		}
	}()

	started, err := t.jobs.StartJob(jctx, msg.JobID, msg.VideoID)
	if err != nil {
		t.retry(jctx, log, d, msg, err)
		return
	}
	if !started {
		t.m.outcome(outcomeDropped)
		log.Info("job already finished or its video deleted; dropping the message")
		t.ack(log, d)
		return
	}
	t.publish(msg, videoforge.JobEventStarted, 0, d.Attempt(), "")
	t.hook("started")
	began := time.Now()
	res, err := t.process(jctx, cancel, log, msg, d.Attempt())
	if err == nil {
		t.hook("committing")
		_, err = t.jobs.CompleteJob(jctx, msg.JobID, msg.VideoID, *res)
	}
	switch {
	case err == nil:
		t.hook("committed")
		t.m.outcome(outcomeCompleted)
		t.m.seconds.Observe(time.Since(received).Seconds())
		t.ack(log, d)
		t.publish(msg, videoforge.JobEventCompleted, 100, d.Attempt(), "")
		log.Info("job completed", "took", time.Since(began).Round(time.Millisecond), "renditions", len(res.Renditions))
	case errors.Is(context.Cause(jctx), errVideoGone) || videoforge.ErrorCode(err) == videoforge.ENOTFOUND:
		t.m.outcome(outcomeDropped)
		log.Info("video deleted during the job; dropping it")
		t.removeResults(log, msg)
		// FailJob keeps the reason on the job row; the video is gone already.
		t.fail(log, d, msg, "the video was deleted while it was being processed")
	case errors.Is(context.Cause(jctx), errShutdown):
		t.m.outcome(outcomeHandedBack)
		log.Info("shutting down; handing the job back")
		t.release(d, 0)
	case permanent(err):
		t.m.outcome(outcomeFailed)
		log.Info("job failed", "reason", videoforge.ErrorMessage(err))
		t.removeResults(log, msg)
		t.fail(log, d, msg, videoforge.ErrorMessage(err))
	default:
		t.retry(jctx, log, d, msg, err)
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

// retry hands the message back for another attempt, or, on the last allowed attempt,
// marks the job failed first; the message then goes on to the dead-letter queue.
func (t *Transcoder) retry(ctx context.Context, log *slog.Logger, d Delivery, msg videoforge.JobMessage, err error) {
	if d.Attempt() >= t.cfg.MaxReceives {
		reason := fmt.Sprintf("gave up after %d attempts: %s", d.Attempt(), errorText(err))
		t.m.outcome(outcomeFailed)
		log.Error("job failed for good", "err", err)
		t.removeResults(log, msg)
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if ferr := t.jobs.FailJob(bctx, msg.JobID, msg.VideoID, reason); ferr != nil {
			log.Error("could not mark the job failed", "err", ferr)
		} else {
			t.publish(msg, videoforge.JobEventFailed, 0, d.Attempt(), reason)
		}
		t.release(d, 0)
		return
	}
	delay := t.cfg.RetryDelay * time.Duration(d.Attempt())
	t.m.outcome(outcomeRetried)
	log.Warn("job attempt failed; retrying", "err", err, "in", delay)
	t.release(d, delay)
}

// errorText is what a job's error column shows for an internal failure: the chain's
// message, which for internal errors names the failing step.
func errorText(err error) string {
	if videoforge.ErrorCode(err) != videoforge.EINTERNAL {
		return videoforge.ErrorMessage(err)
	}
	return truncate(err.Error(), 500)
}

// prefixRemover is the part of storage.Store that removes a failed job's results.
type prefixRemover interface {
	DeletePrefix(ctx context.Context, prefix string) error
}

// removeResults removes whatever a job that will not complete stored of its video's
// results, so that a failed or abandoned job leaves no half-written objects.
func (t *Transcoder) removeResults(log *slog.Logger, msg videoforge.JobMessage) {
	r, ok := t.store.(prefixRemover)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.DeletePrefix(ctx, videoforge.VideoPrefix(msg.VideoID)); err != nil {
		log.Warn("could not remove the job's partial results", "err", err)
	}
}

func (t *Transcoder) fail(log *slog.Logger, d Delivery, msg videoforge.JobMessage, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := t.jobs.FailJob(ctx, msg.JobID, msg.VideoID, reason); err != nil {
		log.Error("could not mark the job failed; retrying", "err", err)
		t.release(d, t.cfg.RetryDelay)
		return
	}
	t.ack(log, d)
	t.publish(msg, videoforge.JobEventFailed, 0, d.Attempt(), reason)
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

// process makes and stores a job's results.
func (t *Transcoder) process(ctx context.Context, cancel context.CancelCauseFunc, log *slog.Logger, msg videoforge.JobMessage, attempt int) (*videoforge.JobResult, error) {
	dir, err := os.MkdirTemp(t.cfg.WorkDir, "job-"+strconv.FormatInt(msg.JobID, 10)+"-")
	if err != nil {
		return nil, fmt.Errorf("work folder: %w", err)
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "source")
	size, err := t.store.Download(ctx, msg.SourceKey, src)
	if videoforge.ErrorCode(err) == videoforge.ENOTFOUND {
		return nil, videoforge.Errorf(videoforge.EINVALID, "the upload %s was not found", msg.SourceKey)
	} else if err != nil {
		return nil, err
	}
	info, err := ffmpeg.Probe(ctx, t.cfg.Bin, src, t.cfg.Limits)
	if err != nil {
		return nil, err
	}
	plan := ffmpeg.PlanLadder(info, t.cfg.FFmpeg)
	out := filepath.Join(dir, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}

	var last time.Time
	progress := func(p ffmpeg.Progress) {
		if time.Since(last) < t.cfg.ProgressInterval || info.Duration <= 0 {
			return
		}
		last = time.Now()
		// Encoding is most of the work; the rest (thumbnail, storyboard, upload) is
		// the last 10 %.
		pct := min(90, 90*p.OutTime.Seconds()/info.Duration)
		t.progress(ctx, cancel, log, msg, pct, attempt)
	}
	t.hook("encoding")
	if err := t.runner.Encode(ctx, src, out, plan, progress); err != nil {
		return nil, err
	}
	t.progress(ctx, cancel, log, msg, 90, attempt)
	if _, _, err := t.runner.Thumbnail(ctx, src, out, info); err != nil {
		return nil, err
	}
	if _, err := t.runner.Storyboard(ctx, src, out, info); err != nil {
		return nil, err
	}
	mf, err := os.Open(filepath.Join(out, ffmpeg.MasterPlaylist))
	if err != nil {
		return nil, err
	}
	variants, err := ffmpeg.ParseMaster(mf)
	mf.Close()
	if err != nil {
		return nil, err
	}
	prefix := "videos/" + strconv.FormatInt(msg.VideoID, 10) + "/"
	res := &videoforge.JobResult{
		Duration: info.Duration, Resolution: fmt.Sprintf("%dx%d", info.Width, info.Height),
		VideoCodec: info.VideoCodec, AudioCodec: info.AudioCodec, FileSize: size,
		ThumbnailURL: prefix + ffmpeg.ThumbnailFile, S3Key: strings.TrimSuffix(prefix, "/"),
	}
	for _, v := range variants {
		res.Renditions = append(res.Renditions, videoforge.Rendition{
			Name: path.Dir(v.URI), Width: v.Width, Height: v.Height, Bandwidth: v.Bandwidth,
			Playlist: prefix + ffmpeg.HLSDir + "/" + v.URI,
		})
	}
	t.hook("uploading")
	if err := t.store.PutDir(ctx, out, prefix, ffmpeg.MasterPlaylist); err != nil {
		return nil, err
	}
	t.progress(ctx, cancel, log, msg, 99, attempt)
	return res, nil
}

// progress records and publishes how far a job is. A deleted video cancels the job.
func (t *Transcoder) progress(ctx context.Context, cancel context.CancelCauseFunc, log *slog.Logger, msg videoforge.JobMessage, pct float64, attempt int) {
	pct = float64(int(pct*10)) / 10
	err := t.jobs.UpdateJobProgress(ctx, msg.JobID, msg.VideoID, pct)
	if videoforge.ErrorCode(err) == videoforge.ENOTFOUND {
		cancel(errVideoGone)
		return
	} else if err != nil && ctx.Err() == nil {
		log.Warn("could not record progress", "err", err)
	}
	t.publish(msg, videoforge.JobEventProgress, pct, attempt, "")
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
