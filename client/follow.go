package client

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/bus"
)

// followPoll is how often FollowJob asks the gallery, events or not; natsWait, how long
// it tries to reach NATS before it relies on the gallery alone.
const (
	followPoll = 2 * time.Second
	natsWait   = 3 * time.Second
)

// FollowJob waits until the job completes or fails and returns it as the gallery then
// shows it (a failed job is no error: its Error says why). Progress, when set, is told
// the job's progress as a fraction from 0 to 1: from the job's JOBS events on NATS at
// natsURL (a user that may read them, bus.RoleReader, in the URL) when it answers,
// and from the gallery every few seconds in any case, so that a lost event never
// leaves the caller waiting. An empty natsURL asks the gallery only.
func (c *Client) FollowJob(ctx context.Context, natsURL string, jobID int64, progress func(fraction float64)) (*videoforge.JobView, error) {
	if progress == nil {
		progress = func(float64) {}
	}
	events := make(chan videoforge.JobEvent, 64)
	if natsURL != "" {
		cctx, cancel := context.WithTimeout(ctx, natsWait)
		conn, err := bus.Connect(cctx, natsURL, "videoforge-upload", slog.New(slog.DiscardHandler))
		cancel()
		if err == nil {
			defer conn.Close()
			stop, err := conn.WatchJob(ctx, jobID, func(e videoforge.JobEvent) {
				select {
				case events <- e:
				default:
				}
			})
			if err == nil {
				defer stop()
			}
		}
	}
	poll := time.NewTicker(followPoll)
	defer poll.Stop()
	check := func() (*videoforge.JobView, error) {
		j, err := c.Job(ctx, jobID)
		if err != nil {
			return nil, err
		}
		progress(j.Progress / 100)
		if j.Status == videoforge.JobCompleted || j.Status == videoforge.JobFailed {
			return j, nil
		}
		return nil, nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("job %d: not finished in time: %w", jobID, ctx.Err())
		case e := <-events:
			progress(e.Progress / 100)
			if e.Type != videoforge.JobEventCompleted && e.Type != videoforge.JobEventFailed {
				continue
			}
		case <-poll.C:
		}
		if j, err := check(); err != nil || j != nil {
			return j, err
		}
	}
}
