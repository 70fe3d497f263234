package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/catalog/postgres/pgadmin"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/schema"
)

var (
	benchGalleryURL = regexp.MustCompile(`gallery API\s+(http://\S+)/api/gallery`)
	benchEdgeURL    = regexp.MustCompile(`streaming\s+(http://\S+)/api/stream`)
)

// benchFreshness runs the videoforge binary's dev stack and measures how long a change
// made through the gallery takes to show at the edge: each PUT switches a video between
// public and unlisted, and the edge's stream URL is polled until it has the new form
// (plain, or carrying a token).
func benchFreshness(ctx context.Context, bin string, changes int) ([]row, []string, error) {
	adminDSN, cleanup, err := benchPostgres(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer cleanup()
	name := "vfbench_fresh_" + randHex(4)
	admin, err := pgadmin.Connect(ctx, adminDSN)
	if err != nil {
		return nil, nil, err
	}
	defer admin.Close()
	if err := admin.CreateDatabase(ctx, name, ""); err != nil {
		return nil, nil, err
	}
	defer admin.DropDatabase(context.Background(), name)
	dsn := withDatabase(adminDSN, name)

	dev, err := startDevStack(ctx, bin, "DATABASE_URL="+dsn)
	if err != nil {
		return nil, nil, err
	}
	defer dev.stop()
	gallery, edgeBase, data := dev.gallery, dev.edge, dev.data

	out, err := exec.CommandContext(ctx, bin, "token", "-data", data, "-user", "bench").Output()
	if err != nil {
		return nil, nil, fmt.Errorf("token: %w", err)
	}
	token := strings.TrimSpace(string(out))

	db, err := postgres.Open(ctx, postgres.Config{URL: dsn, Schema: schema.DefaultSchema})
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	v := &videoforge.Video{UserID: "bench", Title: "fresh", Visibility: videoforge.Public, Status: videoforge.StatusReady,
		S3Key: layout.VideosFolder + "x", Renditions: []videoforge.Rendition{{Name: "360p", Width: 640, Height: 360, Bandwidth: 800000, Playlist: "360p/" + layout.VariantIndex}}}
	if err := postgres.NewVideoService(db).CreateVideo(ctx, v); err != nil {
		return nil, nil, err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	get := func(url string) (int, string, error) {
		res, err := client.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, string(b), err
	}
	// The share key streams the video while it is unlisted; a public one ignores it.
	streamURL := fmt.Sprintf("%s/api/stream/%d?key=%s", edgeBase, v.ID, v.ShareKey)
	// Wait for the edge to know the video at all.
	for deadline := time.Now().Add(30 * time.Second); ; {
		if code, _, _ := get(streamURL); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("the edge never served the video")
		}
		time.Sleep(5 * time.Millisecond)
	}

	var lat []time.Duration
	for i := 0; i < changes; i++ {
		vis, signed := "unlisted", true
		if i%2 == 1 {
			vis, signed = "public", false
		}
		req, _ := http.NewRequestWithContext(ctx, "PUT", fmt.Sprintf("%s/api/gallery/videos/%d", gallery, v.ID),
			strings.NewReader(`{"visibility":"`+vis+`"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		t0 := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return nil, nil, fmt.Errorf("PUT: %d", res.StatusCode)
		}
		for {
			_, body, err := get(streamURL)
			if err != nil {
				return nil, nil, err
			}
			if strings.Contains(body, "/t/") == signed {
				break
			}
			if time.Since(t0) > 10*time.Second {
				return nil, nil, fmt.Errorf("change %d never reached the edge", i)
			}
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(t0))
	}
	p50, p99 := percentile(lat, 50), percentile(lat, 99)
	mark := "✅"
	if p99 > 10*time.Millisecond {
		mark = "❌"
	}
	return []row{{
			what:     fmt.Sprintf("freshness: gallery PUT until the edge answers the new state (%d changes)", changes),
			measured: fmt.Sprintf("p50 %s, p99 %s %s", ms(p50), ms(p99), mark),
			target:   "p99 ≤ 10 ms",
			command:  "make bench (go run ./bench -only freshness)",
		}}, []string{fmt.Sprintf("\nFreshness: %s dev (catalog, relay, embedded NATS with fsync on every write, edge) on one "+
			"machine; each change toggles a video between public and unlisted and polls the edge every 0.2 ms.", filepath.Base(bin))},
		nil
}

// devStack is the videoforge binary's dev stack, run for a benchmark.
type devStack struct {
	gallery, edge, data string
	stop                func()
}

// startDevStack runs `videoforge dev` on free ports with a data folder of its own and
// the environment env added, and returns where it answers, read from its banner.
func startDevStack(ctx context.Context, bin string, env ...string) (*devStack, error) {
	data, err := os.MkdirTemp("", "vfbench-dev-")
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "dev", "-data", data, "-gallery-addr", "127.0.0.1:0", "-edge-addr", "127.0.0.1:0")
	cmd.Env = append(append(os.Environ(), "NATS_PORT=0", "LOG_LEVEL=warn"), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(data)
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(data)
		return nil, fmt.Errorf("start %s (run make build): %w", bin, err)
	}
	d := &devStack{data: data, stop: func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		os.RemoveAll(data)
	}}
	sc := bufio.NewScanner(stdout)
	for (d.gallery == "" || d.edge == "") && sc.Scan() {
		if m := benchGalleryURL.FindStringSubmatch(sc.Text()); m != nil {
			d.gallery = m[1]
		}
		if m := benchEdgeURL.FindStringSubmatch(sc.Text()); m != nil {
			d.edge = m[1]
		}
	}
	if d.gallery == "" || d.edge == "" {
		d.stop()
		return nil, fmt.Errorf("dev printed no URLs")
	}
	go io.Copy(io.Discard, stdout)
	return d, nil
}
