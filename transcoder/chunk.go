package transcoder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/telemetry"
	"github.com/videoforge/videoforge/transcoder/ffmpeg"
)

// A source longer than two chunks (Config.ChunkDuration) has its ladder encoded in
// chunks over the fleet. The attempt holding the job splits it (ChunkService.SplitJob)
// and sends a queue message per chunk; any worker that receives one claims the chunk,
// encodes it from the source read in ranges (the source server), stores its files
// under its claim's own folder and completes the claim. The attempt itself encodes the
// sound, the thumbnail and the storyboard, then claims chunks too until none is left,
// waits for those others hold, and stitches every rung from the chunks' files: each
// rung is published as soon as it is stitched. A chunk whose worker was lost (its
// claim's lease ran out) is claimed again, by the attempt or by whoever receives its
// message when it comes back; a chunk completed by two claims counts the first, the
// other's files are removed; the job completes once, through the attempt's commit.

// chunkMessage is a queue message: a job's, or with Chunk one chunk of an attempt.
// A chunk's message names the chunk and nothing more: what to encode comes with its
// claim, from the catalog (ChunkClaim.Task and Source), as a job's source does.
type chunkMessage struct {
	videoforge.JobMessage
	Chunk *chunkRef `json:"chunk,omitempty"`
}

// chunkRef names a chunk of an attempt.
type chunkRef struct {
	Token int64 `json:"token"`
	Index int   `json:"index"`
}

// chunkTask is what the attempt records of a chunk when it splits the job: the span
// of the source and the plan of the ladder.
type chunkTask struct {
	Span ffmpeg.Span `json:"span"`
	Last bool        `json:"last"`
	Plan ffmpeg.Plan `json:"plan"`
}

// chunkMessageID is the queue's de-duplication id of a chunk's message.
func chunkMessageID(jobID, token int64, index int) string {
	return fmt.Sprintf("chunk-%d-a%d-%d", jobID, token, index)
}

// errChunkLost stops the encode of a chunk whose claim the catalog no longer accepts.
var errChunkLost = videoforge.Errorf(videoforge.ECONFLICT, "another claim holds the chunk")

// spans returns the chunks of a source's ladder, or one span when it stays one piece.
func (t *Transcoder) spans(info *ffmpeg.Info) []ffmpeg.Span {
	if t.chunks == nil || t.cfg.ChunkDuration <= 0 {
		return []ffmpeg.Span{{Start: 0, Length: info.Duration}}
	}
	return ffmpeg.ChunkSpans(info.Duration, t.cfg.ChunkDuration.Seconds(), t.cfg.FFmpeg.SegmentDuration.Seconds())
}

// handleChunk works on one chunk message to its end: the chunk is claimed, encoded,
// stored and completed, or left to whoever holds it, or dropped when it is done or its
// attempt is over.
func (t *Transcoder) handleChunk(ctx context.Context, d Delivery, m chunkMessage) {
	ref := m.Chunk
	ctx, span := jobSpan(ctx, d, "transcode chunk", m.JobMessage)
	defer span.End()
	span.SetAttributes(attribute.Int("videoforge.chunk", ref.Index))
	log := t.log.With(append([]any{telemetry.JobIDKey, m.JobID, telemetry.VideoIDKey, m.VideoID, "attempt", ref.Token, "chunk", ref.Index,
		"receive", d.Attempt()}, telemetry.SpanAttrs(span)...)...)
	if t.chunks == nil {
		log.Error("a chunk message, but this catalog does not split jobs")
		t.release(d, t.cfg.RetryDelay)
		return
	}
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var c *videoforge.ChunkClaim
	err := t.patiently(jctx, log, "claim the chunk", func(ctx context.Context) (err error) {
		c, err = t.chunks.ClaimChunk(ctx, m.JobID, ref.Token, ref.Index, t.cfg.Visibility)
		return err
	})
	switch {
	case errors.Is(context.Cause(jctx), errShutdown):
		t.release(d, 0)
		return
	case errors.Is(err, videoforge.ErrChunkHeld):
		// Back after the holder's lease would have run out, to take over if it died.
		t.release(d, t.cfg.Visibility)
		return
	case err != nil:
		log.Warn("could not claim the chunk", "err", err)
		t.release(d, t.cfg.RetryDelay)
		return
	case c == nil:
		log.Info("nothing to do: the chunk is done, or its attempt is over; dropping the message")
		t.ack(log, d)
		return
	}
	log = log.With("claim", c.Claim)
	// The message stays invisible while the chunk is worked on.
	var wg sync.WaitGroup
	wg.Go(func() { t.extend(jctx, log, d) })
	defer wg.Wait()
	defer cancel(nil)
	defer func() {
		if r := recover(); r != nil {
			cancel(nil)
			t.releaseChunk(log, c)
			t.release(d, 0)
			panic(r)
		}
	}()
	var task chunkTask
	if err := json.Unmarshal(c.Task, &task); err != nil {
		log.Error("the chunk's task is unreadable; handing it back", "err", err)
		t.releaseChunk(log, c)
		t.release(d, t.cfg.RetryDelay)
		return
	}
	dir, err := t.runChunk(jctx, log, c, &task, "")
	os.RemoveAll(dir)
	switch code := videoforge.ErrorCode(err); {
	case err == nil:
		t.ack(log, d)
	case errors.Is(context.Cause(jctx), errShutdown):
		log.Info("shutting down; handing the chunk back")
		t.releaseChunk(log, c)
		t.release(d, 0)
	case code == videoforge.ECONFLICT || code == videoforge.ENOTFOUND:
		log.Info("the chunk is another claim's now, or its attempt is over; dropping the message", "err", err)
		t.ack(log, d)
	default:
		log.Warn("chunk failed; handing it back", "err", err)
		t.releaseChunk(log, c)
		t.release(d, t.cfg.RetryDelay*time.Duration(d.Attempt()))
	}
}

// extend keeps a message invisible until ctx ends.
func (t *Transcoder) extend(ctx context.Context, log *slog.Logger, d Delivery) {
	t.everyThird(ctx, func() bool {
		if err := d.Extend(ctx, t.cfg.Visibility); err != nil && ctx.Err() == nil {
			log.Warn("heartbeat to the queue failed", "err", err)
		}
		return true
	})
}

// releaseChunk hands a claim's chunk back, bounded, outside the job's context.
func (t *Transcoder) releaseChunk(log *slog.Logger, c *videoforge.ChunkClaim) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.chunks.ReleaseChunk(ctx, c); err != nil {
		log.Warn("could not hand the chunk back; it is free once its lease runs out", "err", err)
	}
}

// runChunk encodes the claimed chunk from src (the source server's URL for it when
// empty), stores its files under the claim's folder and completes the claim; the
// claim's lease is renewed meanwhile. It returns the folder of the chunk's files here,
// which the caller removes. A claim the catalog no longer accepts stops it with an
// ECONFLICT error, its stored files removed.
func (t *Transcoder) runChunk(ctx context.Context, log *slog.Logger, c *videoforge.ChunkClaim, task *chunkTask, src string) (string, error) {
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel(nil)
	wg.Go(func() { t.renewChunk(cctx, log, c, cancel) })
	dir, err := os.MkdirTemp(t.cfg.WorkDir, fmt.Sprintf("chunk-%d-a%d-%d-c%d-", c.JobID, c.Token, c.Index, c.Claim))
	if err != nil {
		return "", fmt.Errorf("work folder: %w", err)
	}
	failure := func() error { return nil }
	switch srv := t.sources(); {
	case src != "":
	case srv != nil:
		url, fail, remove := srv.add(c.Source)
		defer remove()
		src, failure = url, fail
	default:
		// No source server (its listener failed): the whole source, as a job's.
		src = filepath.Join(dir, layout.SourceFile)
		err := t.patiently(cctx, log, "download the source", func(ctx context.Context) error {
			_, err := t.store.DownloadSource(ctx, c.Source, src)
			return err
		})
		if err != nil {
			return dir, err
		}
	}
	began := time.Now()
	t.hook("chunk-encoding")
	err = t.runner.EncodeChunk(cctx, src, dir, task.Plan, task.Span, task.Last, nil)
	if cause := context.Cause(cctx); err != nil && errors.Is(cause, errChunkLost) {
		err = cause
	} else if f := failure(); err != nil && f != nil {
		err = f // the source broke off: an outage, or a source changed since
	}
	if err != nil {
		return dir, err
	}
	prefix := layout.ChunkFolder(c.VideoID, c.Token, c.Index, c.Claim)
	for _, v := range task.Plan.Variants {
		err := t.patiently(cctx, log, "store a chunk", func(ctx context.Context) error {
			return t.store.PutFile(ctx, prefix+ffmpeg.ChunkFile(v), filepath.Join(dir, ffmpeg.ChunkFile(v)))
		})
		if err != nil {
			return dir, err
		}
	}
	t.hook("chunk-completing")
	err = t.patiently(cctx, log, "complete the chunk", func(ctx context.Context) error {
		return t.chunks.CompleteChunk(ctx, c)
	})
	if code := videoforge.ErrorCode(err); code == videoforge.ECONFLICT || code == videoforge.ENOTFOUND {
		t.removeChunk(log, prefix)
	}
	if err == nil {
		t.m.chunks.Inc()
		log.Info("chunk done", "span", task.Span, "took", time.Since(began).Round(time.Millisecond))
	}
	return dir, err
}

// removeChunk removes a lost claim's files, bounded, outside the job's context.
func (t *Transcoder) removeChunk(log *slog.Logger, prefix string) {
	ctx, cancel := outageCtx()
	defer cancel()
	if err := t.store.DeletePrefix(ctx, prefix); err != nil {
		log.Warn("could not remove a lost chunk's files", "prefix", prefix, "err", err)
	}
}

// renewChunk renews a claim's lease every third of Visibility until ctx ends, and
// stops the chunk when the catalog no longer accepts the claim.
func (t *Transcoder) renewChunk(ctx context.Context, log *slog.Logger, c *videoforge.ChunkClaim, stop context.CancelCauseFunc) {
	t.everyThird(ctx, func() bool {
		t.hook("chunk-heartbeat")
		err := t.chunks.RenewChunk(ctx, c, t.cfg.Visibility)
		switch code := videoforge.ErrorCode(err); {
		case err == nil:
		case code == videoforge.ECONFLICT || code == videoforge.ENOTFOUND:
			stop(errChunkLost)
			return false
		case ctx.Err() == nil:
			log.Warn("could not renew the chunk's lease", "err", err)
		}
		return true
	})
}

// chunked encodes plan's ladder in the chunks spans over the fleet (see above), with
// the thumbnail and the storyboard, and returns the ladder's variants, stitched into
// out and, with PublishEarly, published one by one through g.
func (t *Transcoder) chunked(ctx context.Context, j *job, a *videoforge.Attempt, src, out string, info *ffmpeg.Info, plan ffmpeg.Plan,
	g *growing, spans []ffmpeg.Span) ([]ffmpeg.MasterVariant, error) {
	log := j.logger()
	plan.Event = false
	tasks := make([]chunkTask, len(spans))
	recorded := make([][]byte, len(spans))
	for i, sp := range spans {
		tasks[i] = chunkTask{Span: sp, Last: i == len(spans)-1, Plan: plan}
		var err error
		if recorded[i], err = json.Marshal(tasks[i]); err != nil {
			return nil, err
		}
	}
	err := t.patiently(ctx, log, "split the job", func(ctx context.Context) error { return t.chunks.SplitJob(ctx, a, recorded) })
	if err != nil {
		return nil, err
	}
	for i := range spans {
		body, err := json.Marshal(chunkMessage{JobMessage: j.msg, Chunk: &chunkRef{Token: a.Token, Index: i}})
		if err != nil {
			return nil, err
		}
		err = t.patiently(ctx, log, "send a chunk", func(ctx context.Context) error {
			return t.queue.Send(ctx, chunkMessageID(a.JobID, a.Token, i), body)
		})
		if err != nil {
			return nil, err
		}
	}
	log.Info("split the ladder into chunks", "chunks", len(spans))
	t.hook("chunks-sent")
	work := out + ".chunks"
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	// The attempt's own share first; the other workers take chunks meanwhile.
	audio := ""
	if plan.Audio {
		audio = filepath.Join(work, ffmpeg.AudioFile)
		if err := t.runner.EncodeAudio(ctx, src, audio, plan); err != nil {
			return nil, err
		}
	}
	if err := t.stills(ctx, src, out, info); err != nil {
		return nil, err
	}
	files, err := t.chunksDone(ctx, j, a, src, work, tasks)
	if err != nil {
		return nil, err
	}
	var variants []ffmpeg.MasterVariant
	for _, v := range plan.Variants {
		var list []string
		for i := range spans {
			list = append(list, filepath.Join(files[i], ffmpeg.ChunkFile(v)))
		}
		if err := t.runner.Stitch(ctx, list, spans, audio, out, v, plan.Duration); err != nil {
			return nil, err
		}
		mv := t.masterVariant(v, 107, info)
		mv.Codecs = t.codecs(ctx, filepath.Join(out, layout.HLSDir, v.Name))
		if t.cfg.PublishEarly {
			if err := g.add(ctx, mv); err != nil {
				return nil, err
			}
		}
		variants = append(variants, mv)
	}
	err = t.patiently(ctx, log, "remove the chunks", func(ctx context.Context) error {
		return t.store.DeletePrefix(ctx, layout.ChunksFolder(a.VideoID, a.Token))
	})
	return variants, err
}

// chunksDone claims and encodes chunks until none is left to claim, waits for the
// ones other workers hold, and returns the folder here of each chunk's files:
// downloaded from storage for the chunks others encoded.
func (t *Transcoder) chunksDone(ctx context.Context, j *job, a *videoforge.Attempt, src, work string, tasks []chunkTask) ([]string, error) {
	log := j.logger()
	files := make([]string, len(tasks))
	reported := -1 // chunks done at the last progress report
	for {
		var c *videoforge.ChunkClaim
		err := t.patiently(ctx, log, "claim a chunk", func(ctx context.Context) (err error) {
			c, err = t.chunks.ClaimChunk(ctx, a.JobID, a.Token, -1, t.cfg.Visibility)
			return err
		})
		if err != nil {
			return nil, err
		}
		if c != nil {
			clog := log.With("chunk", c.Index, "claim", c.Claim)
			dir, err := t.runChunk(ctx, clog, c, &tasks[c.Index], src)
			if code := videoforge.ErrorCode(err); err != nil && code == videoforge.ECONFLICT && ctx.Err() == nil {
				os.RemoveAll(dir)
				continue // taken over while paused: whoever has it now finishes it
			}
			if err != nil {
				os.RemoveAll(dir)
				t.releaseChunk(clog, c)
				return nil, err
			}
			final := filepath.Join(work, strconv.Itoa(c.Index))
			if err := os.Rename(dir, final); err != nil {
				return nil, err
			}
			files[c.Index] = final
			continue
		}
		var chunks []videoforge.Chunk
		err = t.patiently(ctx, log, "read the chunks", func(ctx context.Context) (err error) {
			chunks, err = t.chunks.Chunks(ctx, a.JobID, a.Token)
			return err
		})
		if err != nil {
			return nil, err
		}
		done := 0
		for _, ch := range chunks {
			if ch.Done {
				done++
			}
		}
		if done != reported {
			reported = done
			t.progress(ctx, j, a, 90*float64(done)/float64(len(tasks)))
		}
		if done == len(tasks) && len(chunks) == len(tasks) {
			return files, t.fetchChunks(ctx, log, a, work, tasks, chunks, files)
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(t.cfg.ChunkPoll):
		}
	}
}

// fetchChunks downloads the files of the chunks encoded elsewhere into work.
func (t *Transcoder) fetchChunks(ctx context.Context, log *slog.Logger, a *videoforge.Attempt, work string, tasks []chunkTask,
	chunks []videoforge.Chunk, files []string) error {
	for i, ch := range chunks {
		if files[i] != "" {
			continue
		}
		dir := filepath.Join(work, strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		prefix := layout.ChunkFolder(a.VideoID, a.Token, i, ch.Claim)
		for _, v := range tasks[i].Plan.Variants {
			err := t.patiently(ctx, log, "fetch a chunk", func(ctx context.Context) error {
				_, err := t.store.Download(ctx, prefix+ffmpeg.ChunkFile(v), filepath.Join(dir, ffmpeg.ChunkFile(v)))
				return err
			})
			if err != nil {
				return err
			}
		}
		files[i] = dir
	}
	return nil
}

// codecs returns the CODECS attribute of a stitched rendition in dir, read from its
// first segment; "" when it cannot be read.
func (t *Transcoder) codecs(ctx context.Context, dir string) string {
	seg := filepath.Join(dir, fmt.Sprintf(layout.SegmentPattern, 0))
	st, err := os.Stat(seg)
	if err != nil {
		return ""
	}
	info, err := ffmpeg.ProbeHeaders(ctx, t.cfg.Bin, seg, st.Size(), ffmpeg.Limits{})
	if err != nil {
		return ""
	}
	return ffmpeg.CopyCodecs(info)
}
