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
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/client"
)

func runUpload(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("upload", "Uploads a video file through the gallery API, shows the upload's and then the job's progress\n"+
		"(from the JOBS events on NATS, or by asking the gallery), and prints the stream URL when it is ready.")
	file := f.string("file", "", "", "the video file to upload")
	title := f.string("title", "", "", "title of the video (default: the file's name)")
	desc := f.string("description", "", "", "description of the video")
	vis := f.string("visibility", "", "public", "public, unlisted or private")
	gallery := f.string("gallery", "GALLERY_URL", "http://127.0.0.1:8080", "origin of the gallery API")
	edgeURL := f.string("edge", "EDGE_URL", "http://127.0.0.1:8081", "origin of the streaming API")
	natsURL := f.string("nats-url", "NATS_URL", "nats://127.0.0.1:4222", "NATS to follow the job's events on; the gallery is asked when it does not answer")
	token := f.string("token", "VIDEOFORGE_TOKEN", "", "Bearer token; when empty one is minted with the dev stack's key (-data, -user)")
	data := f.string("data", "VIDEOFORGE_DATA", defaultDataDir, "data folder of the dev stack, to mint a token")
	user := f.string("user", "", "alice", "user id of the minted token")
	wait := f.duration("timeout", "", 30*time.Minute, "how long to wait for the video to be ready")
	resumable := f.bool("tus", "", false, "send the file with the tus protocol (resumable, in chunks) instead of one PUT; files over 5 GiB always go so")
	chunk := f.Int64("chunk", client.DefaultChunkSize, "bytes per tus PATCH (API Gateway takes at most 10 MB per request)")
	noWait := f.bool("no-wait", "", false, "stop once complete accepted the upload, without following the job")
	if err := f.parse(args); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("-file is required")
	}
	if *title == "" {
		*title = strings.TrimSuffix(fileBase(*file), fileExt(*file))
	}
	if *token == "" {
		iss, err := auth.LoadIssuer(keyDir(*data))
		if err != nil {
			return fmt.Errorf("no -token, and none can be minted: %w", err)
		}
		if *token, err = iss.Mint(*user, 24*time.Hour); err != nil {
			return err
		}
	}
	if u, err := url.Parse(strings.Split(*natsURL, ",")[0]); err == nil && u.User == nil {
		// The dev stack's NATS takes only its users: follow the job as its reader.
		if pw, err := os.ReadFile(bus.PasswordFile(filepath.Join(keyDir(*data), "nats"), bus.RoleReader)); err == nil {
			*natsURL = bus.WithUser(*natsURL, string(bus.RoleReader), strings.TrimSpace(string(pw)))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	c := client.New(*gallery, *token, client.Options{})
	in, err := os.Open(*file)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}

	up, err := c.CreateUpload(ctx, client.NewUpload{Title: *title, Description: *desc, Visibility: videoforge.Visibility(*vis)})
	if err != nil {
		return fmt.Errorf("start upload: %w", err)
	}
	fmt.Fprintf(stdout, "video %d, job %d: uploading %s (%s)\n", up.VideoID, up.JobID, *file, humanBytes(st.Size()))

	if client.UseTus(*resumable, st.Size()) && !*resumable {
		fmt.Fprintf(stdout, "the file is over %s, more than one PUT takes: sending it with tus\n", humanBytes(client.SinglePutMax))
	}
	bar := client.NewProgressBar(stdout, "upload")
	err = c.UploadFile(ctx, up, in, st.Size(), client.UploadOptions{Tus: *resumable, ChunkSize: *chunk, Progress: bar.Set})
	bar.Done()
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	job, err := c.CompleteUpload(ctx, up.JobID)
	if err != nil {
		return fmt.Errorf("complete upload: %w", err)
	}
	fmt.Fprintf(stdout, "job %d %s\n", up.JobID, job.Status)
	if *noWait {
		return nil
	}

	bar = client.NewProgressBar(stdout, "transcode")
	final, err := c.FollowJob(ctx, *natsURL, up.JobID, bar.Set)
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
	if videoforge.Visibility(*vis) == videoforge.Unlisted {
		v, err := c.Video(ctx, up.VideoID)
		if err != nil {
			return fmt.Errorf("share key: %w", err)
		}
		shareKey = v.ShareKey
		fmt.Fprintf(stdout, "share key: %s (whoever has it can stream the video: /api/stream/%d?key=%s)\n", v.ShareKey, up.VideoID, url.QueryEscape(v.ShareKey))
	}
	s, err := c.StreamURL(ctx, *edgeURL, up.VideoID, shareKey)
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
