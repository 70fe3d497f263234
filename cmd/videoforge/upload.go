package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/client"
	"github.com/videoforge/videoforge/stack"
)

func runUpload(ctx context.Context, name, summary string, args []string, stdout io.Writer) error {
	o, err := stack.Parse(name, summary, args)
	if err != nil {
		return err
	}
	c := o.Client
	if c.File == "" {
		return errors.New("-file is required")
	}
	if c.Title == "" {
		c.Title = strings.TrimSuffix(fileBase(c.File), fileExt(c.File))
	}
	if c.Token == "" {
		if c.Token, err = mint(o.Dev.Data, c.User, 24*time.Hour); err != nil {
			return fmt.Errorf("no -token, and none can be minted: %w", err)
		}
	}
	return sendAndFollow(ctx, c, readerURL(o), display{terminal: client.IsTerminal(stdout)}, stdout)
}

// readerURL is the NATS URL o names, with the dev stack's reader in it when it names no
// user: the dev stack's NATS takes only its users, and the reader may follow jobs.
func readerURL(o stack.Options) string {
	natsURL := o.NATS.URL
	if u, err := url.Parse(strings.Split(natsURL, ",")[0]); err == nil && u.User == nil {
		if pw, err := os.ReadFile(bus.PasswordFile(filepath.Join(stack.KeyDir(o.Dev.Data), "nats"), bus.RoleReader)); err == nil {
			natsURL = bus.WithUser(natsURL, string(bus.RoleReader), strings.TrimSpace(string(pw)))
		}
	}
	return natsURL
}

// display says how the upload command shows progress: redrawn bars on a terminal,
// plain lines elsewhere, on the clock of now (time.Now when nil; tests set both).
type display struct {
	terminal bool
	now      func() time.Time
}

func (d display) progress(w io.Writer, label string, total int64) *client.Progress {
	return client.NewProgress(w, label, client.ProgressOptions{Terminal: d.terminal, Total: total, Now: d.now})
}

// sendAndFollow sends the file, completes the upload and, unless told not to, follows the job
// until the video plays.
func sendAndFollow(ctx context.Context, o stack.ClientOptions, natsURL string, d display, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cl := client.New(o.Gallery, o.Token, client.Options{})
	in, err := os.Open(o.File)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}

	up, err := cl.CreateUpload(ctx, client.NewUpload{Title: o.Title, Description: o.Description, Visibility: videoforge.Visibility(o.Visibility)})
	if err != nil {
		return fmt.Errorf("start upload: %w", err)
	}
	fmt.Fprintf(stdout, "video %d, job %d: uploading %s (%s)\n", up.VideoID, up.JobID, o.File, humanBytes(st.Size()))

	if client.UseTus(o.Tus, st.Size()) && !o.Tus {
		fmt.Fprintf(stdout, "the file is over %s, more than one PUT takes: sending it with tus\n", humanBytes(client.SinglePutMax))
	}
	bar := d.progress(stdout, "upload", st.Size())
	err = cl.UploadFile(ctx, up, in, st.Size(), client.UploadOptions{Tus: o.Tus, ChunkSize: o.ChunkSize, Progress: bar.Set})
	bar.Done()
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	job, err := cl.CompleteUpload(ctx, up.JobID)
	if err != nil {
		return fmt.Errorf("complete upload: %w", err)
	}
	fmt.Fprintf(stdout, "job %d %s\n", up.JobID, job.Status)
	if o.NoWait {
		return nil
	}
	return followToPlayback(ctx, cl, o, natsURL, up, d, stdout)
}

// followToPlayback shows the job's progress until it ends, and prints the stream URL
// of the video it made.
func followToPlayback(ctx context.Context, cl *client.Client, o stack.ClientOptions, natsURL string, up *videoforge.Upload, d display, stdout io.Writer) error {
	bar := d.progress(stdout, "transcode", 0)
	final, err := cl.FollowJob(ctx, natsURL, up.JobID, bar.Set)
	bar.Done()
	if err != nil {
		return err
	}
	if final.Status == videoforge.JobFailed {
		msg := "unknown reason"
		if final.Error != nil {
			msg = *final.Error
		}
		return fmt.Errorf("job %d failed: %s", up.JobID, msg)
	}
	// An unlisted video streams by its share key, which only its owner is shown.
	shareKey := ""
	if videoforge.Visibility(o.Visibility) == videoforge.Unlisted {
		v, err := cl.Video(ctx, up.VideoID)
		if err != nil {
			return fmt.Errorf("share key: %w", err)
		}
		shareKey = v.ShareKey
		fmt.Fprintf(stdout, "share key: %s (whoever has it can stream the video: /api/stream/%d?key=%s)\n", v.ShareKey, up.VideoID, url.QueryEscape(v.ShareKey))
	}
	s, err := cl.StreamURL(ctx, o.Edge, up.VideoID, shareKey)
	if err != nil {
		return fmt.Errorf("stream URL: %w", err)
	}
	fmt.Fprintf(stdout, "ready: video %d\nstream URL: %s\n", up.VideoID, s.URL)
	if s.ExpiresAt != "" {
		fmt.Fprintf(stdout, "(valid until %s)\n", s.ExpiresAt)
	}
	fmt.Fprintf(stdout, "play it:    ffplay '%s'\n", s.URL)
	return nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func fileBase(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

func fileExt(p string) string {
	b := fileBase(p)
	if i := strings.LastIndexByte(b, '.'); i > 0 {
		return b[i:]
	}
	return ""
}
