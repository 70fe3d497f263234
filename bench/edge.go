package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/catalog/postgres/pgadmin"
	"github.com/videoforge/videoforge/schema"
)

// benchEdge measures the edge as a separate process, pinned to CPU 0: start to ready
// over each catalog size with its resident memory, and on the first size the stream-URL
// look-ups under wrk (pinned to CPU 1) beside a fasthttp hello world, then the latency
// at half of the edge's peak rate from an open-loop generator.
func benchEdge(ctx context.Context, sizes []int, dur time.Duration) ([]row, []string, error) {
	adminDSN, cleanup, err := benchPostgres(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer cleanup()
	dir, err := os.MkdirTemp("", "vfbench-edge-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	vf, hello := filepath.Join(dir, "videoforge"), filepath.Join(dir, "hello")
	for bin, pkg := range map[string]string{vf: "./cmd/videoforge", hello: "./bench/hello"} {
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			return nil, nil, fmt.Errorf("build %s: %w: %s", pkg, err, out)
		}
	}
	admin, err := pgadmin.Connect(ctx, adminDSN)
	if err != nil {
		return nil, nil, err
	}
	defer admin.Close()

	var rows []row
	var notes []string
	for i, n := range sizes {
		name := "vfbench_edge_" + randHex(4)
		if err := admin.CreateDatabase(ctx, name, ""); err != nil {
			return nil, nil, err
		}
		defer admin.DropDatabase(context.Background(), name)
		dsn := withDatabase(adminDSN, name)
		cfg := postgres.Config{URL: dsn, Schema: schema.DefaultSchema}
		if err := schema.Migrate(ctx, dsn, schema.DefaultSchema); err != nil {
			return nil, nil, err
		}
		if err := bulkLoad(ctx, dsn, n, vocabulary(5000)); err != nil {
			return nil, nil, fmt.Errorf("bulk load: %w", err)
		}
		if err := postgres.SeedLadders(ctx, cfg); err != nil {
			return nil, nil, fmt.Errorf("renditions: %w", err)
		}
		slog.Info("edge catalog loaded", "videos", n)

		addr, err := freeAddr()
		if err != nil {
			return nil, nil, err
		}
		cmdline := []string{"taskset", "-c", "0", vf, "edge", "-edge-addr", addr}
		cmd := exec.CommandContext(ctx, cmdline[0], cmdline[1:]...)
		cmd.Env = append(os.Environ(), "DATABASE_URL="+dsn, "NATS_URL=", "PLAYBACK_BASE_URL=http://"+addr,
			"PLAYBACK_TOKEN_KEY=benchmark key of the edge, 32 bytes or more", "LOG_LEVEL=error")
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return nil, nil, err
		}
		stop := func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
		if err := waitReady(ctx, "http://"+addr+"/ready", 2*time.Minute); err != nil {
			stop()
			return nil, nil, err
		}
		took := time.Since(start)
		rss, hwm := procMemory(cmd.Process.Pid)
		mark := "✓"
		if n >= 1_000_000 && (took > 5*time.Second || hwm > 1<<30) {
			mark = "✗"
		}
		rows = append(rows, row{
			what:     fmt.Sprintf("(c) edge start to ready, %d videos", n),
			measured: fmt.Sprintf("%s %.2f s, RSS %d MiB (peak %d MiB)", mark, took.Seconds(), rss>>20, hwm>>20),
			target:   "1M: ≤ 5 s within 1 GiB",
			command:  "VIDEOFORGE edge (taskset -c 0), polling /ready",
		})
		if i == 0 {
			lr, ln, err := loadRows(ctx, cfg, addr, hello, dur)
			if err != nil {
				stop()
				return nil, nil, err
			}
			rows = append(rows, lr...)
			notes = append(notes, ln...)
		}
		stop()
	}
	return rows, notes, nil
}

func loadRows(ctx context.Context, cfg postgres.Config, addr, hello string, dur time.Duration) ([]row, []string, error) {
	id, err := postgres.FirstPublicVideo(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	url := fmt.Sprintf("http://%s/api/stream/%d", addr, id)
	if _, err := http.Get(url); err != nil { // the first answer builds the cached bytes
		return nil, nil, err
	}
	// This process (the open-loop generator) runs beside wrk on CPU 1.
	if out, err := exec.Command("taskset", "-a", "-p", "-c", "1", strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("taskset: %w: %s", err, out)
	}
	edgeRPS, edgeOut, err := wrk(ctx, url, dur)
	if err != nil {
		return nil, nil, err
	}
	haddr, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	hcmd := exec.CommandContext(ctx, "taskset", "-c", "0", hello, "-addr", haddr)
	if err := hcmd.Start(); err != nil {
		return nil, nil, err
	}
	defer func() { hcmd.Process.Kill(); hcmd.Wait() }()
	if err := waitReady(ctx, "http://"+haddr+"/", 10*time.Second); err != nil {
		return nil, nil, err
	}
	baseRPS, baseOut, err := wrk(ctx, "http://"+haddr+"/", dur)
	if err != nil {
		return nil, nil, err
	}
	rate := int(edgeRPS / 2)
	p50, p99, failed := openLoop(addr, fmt.Sprintf("/api/stream/%d", id), rate, dur)
	b50, b99, _ := openLoop(haddr, "/", rate, dur)
	ratio := edgeRPS / baseRPS
	mark := func(ok bool) string {
		if ok {
			return "✓"
		}
		return "✗"
	}
	wrkCmd := fmt.Sprintf("taskset -c 1 wrk -t1 -c64 -d%s --latency URL (server: taskset -c 0)", dur)
	return []row{
			{"(a) stream-URL look-ups on cache hits, rps vs fasthttp hello world",
				fmt.Sprintf("%s %.0f vs %.0f req/s = %.0f %%", mark(ratio >= 0.8), edgeRPS, baseRPS, ratio*100), "≥ 80 %", wrkCmd},
			{fmt.Sprintf("(a) latency at half the peak (%d req/s, open loop, %s)", rate, dur),
				fmt.Sprintf("%s p50 %s, p99 %s, %d failed (hello world at that rate: p50 %s, p99 %s)",
					mark(p99 <= time.Millisecond && failed == 0), ms(p50), ms(p99), failed, ms(b50), ms(b99)), "p99 ≤ 1 ms",
				"go run ./bench: open-loop generator, 64 connections, latency from the scheduled send time"},
		}, []string{
			"edge under wrk:\n" + indent(strings.TrimSpace(edgeOut)),
			"fasthttp hello world under wrk:\n" + indent(strings.TrimSpace(baseOut)),
		}, nil
}

var rpsLine = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

func wrk(ctx context.Context, url string, dur time.Duration) (float64, string, error) {
	out, err := exec.CommandContext(ctx, "taskset", "-c", "1", "wrk", "-t1", "-c64", "-d"+dur.String(), "--latency", url).CombinedOutput()
	if err != nil {
		return 0, "", fmt.Errorf("wrk (apt-get install -y wrk): %w: %s", err, out)
	}
	m := rpsLine.FindSubmatch(out)
	if m == nil {
		return 0, "", fmt.Errorf("wrk: no Requests/sec in %q", out)
	}
	rps, err := strconv.ParseFloat(string(m[1]), 64)
	return rps, string(out), err
}

// openLoop sends requests at a fixed rate whatever the answers' pace, and measures
// each latency from the time the request was due, so that queueing shows.
func openLoop(addr, path string, rate int, d time.Duration) (p50, p99 time.Duration, failed int) {
	const workers = 64
	client := &fasthttp.HostClient{Addr: addr, MaxConns: workers}
	n := int(float64(rate) * d.Seconds())
	due := make(chan time.Time, n)
	lat := make([][]time.Duration, workers)
	fails := make([]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.SetRequestURI("http://" + addr + path)
			for t := range due {
				if err := client.Do(req, res); err != nil || res.StatusCode() != 200 {
					fails[w]++
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		})
	}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for sent := 0; sent < n; {
		for target := min(n, int(time.Since(start)/interval)+1); sent < target; sent++ {
			due <- start.Add(time.Duration(sent) * interval)
		}
		time.Sleep(50 * time.Microsecond)
	}
	close(due)
	wg.Wait()
	var all []time.Duration
	for w := range workers {
		all = append(all, lat[w]...)
		failed += fails[w]
	}
	slices.Sort(all)
	return percentile(all, 50), percentile(all, 99), failed
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitReady(ctx context.Context, url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if res, err := http.Get(url); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return errors.New("not ready in " + d.String() + ": " + url)
}

// procMemory returns a process's resident memory and its peak, in bytes.
func procMemory(pid int) (rss, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			if f[0] == "VmRSS:" {
				rss = kb << 10
			} else {
				peak = kb << 10
			}
		}
	}
	return rss, peak
}
