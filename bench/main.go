// Command bench measures VideoForge and prints one table, each line with the command
// behind it. Run it with `make bench` (or `go run ./bench -h` for its flags).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// row is one line of the result table.
type row struct {
	what, measured, target, command string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	videos := fs.Int("videos", 1_000_000, "videos loaded for the gallery benchmark")
	requests := fs.Int("requests", 3000, "requests per gallery query kind")
	edgeSizes := fs.String("edge-videos", "100000,1000000", "catalog sizes of the edge start-up benchmark; the first one also serves the load test")
	edgeDur := fs.Duration("edge-duration", 5*time.Second, "length of each edge load run")
	only := fs.String("only", "", "run only this part: gallery, edge, freshness, transcoder, playable or writes")
	verbose := fs.Bool("v", false, "log progress")
	trSize := fs.String("transcoder-size", "1920x1080", "source size of the transcoder benchmark")
	trSecs := fs.Int("transcoder-seconds", 10, "source length of the transcoder benchmark, in seconds")
	trRuns := fs.Int("transcoder-runs", 2, "runs of each transcoder measurement; the best counts")
	bin := fs.String("bin", "bin/videoforge", "the videoforge binary whose dev stack the freshness benchmark runs")
	changes := fs.Int("changes", 500, "changes made by the freshness benchmark")
	playableRuns := fs.Int("playable-runs", 3, "uploads of each source, per mode, in the playable benchmark")
	playableLong := fs.Bool("playable-long", true, "include the 10-minute source in the playable benchmark, and its ladder on 1 and 2 pinned transcoders")
	writeVideos := fs.Int("writes-videos", 100_000, "videos in the catalog the write benchmark changes")
	writeDur := fs.Duration("writes-duration", 5*time.Second, "length of each write measurement")
	viewBatch := fs.Int("view-batch", 500, "distinct videos per view flush in the write benchmark")
	fs.BoolVar(&keepDatabase, "keep", false, "keep the gallery's database (with DATABASE_URL) for study")
	fs.StringVar(&reuseDatabase, "gallery-database", "", "measure this database of DATABASE_URL's server, kept by an earlier -keep run, instead of loading one (-videos is then what it holds)")
	fs.StringVar(&galleryKinds, "gallery-kinds", "", "run only the gallery's query kinds whose name holds this text")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))

	var rows []row
	var machines []string // rows[i] was measured beside machines[i]
	var notes []string
	// part runs one part of the benchmark and stamps its rows with the machine's cores
	// and its load before and after, so that every figure says what it ran beside.
	part := func(name string, run func() ([]row, []string, error)) error {
		if *only != "" && *only != name {
			return nil
		}
		before := loadAverage()
		r, n, err := run()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		machine := fmt.Sprintf("%d cores, load %s → %s", runtime.NumCPU(), before, loadAverage())
		for range r {
			machines = append(machines, machine)
		}
		rows, notes = append(rows, r...), append(notes, n...)
		return nil
	}
	edge := func() ([]row, []string, error) {
		var sizes []int
		for _, s := range strings.Split(*edgeSizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return nil, nil, fmt.Errorf("-edge-videos: %w", err)
			}
			sizes = append(sizes, n)
		}
		er, en, err := benchEdge(ctx, sizes, *edgeDur)
		if err != nil {
			return nil, nil, err
		}
		hr, err := benchHit(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("hit: %w", err)
		}
		return append(er, hr...), en, nil
	}
	for _, p := range []struct {
		name string
		run  func() ([]row, []string, error)
	}{
		{"gallery", func() ([]row, []string, error) { return benchGallery(ctx, *videos, *requests) }},
		{"edge", edge},
		{"freshness", func() ([]row, []string, error) { return benchFreshness(ctx, *bin, *changes) }},
		{"transcoder", func() ([]row, []string, error) { return benchTranscoder(ctx, *trSize, *trSecs, *trRuns) }},
		{"playable", func() ([]row, []string, error) { return benchPlayable(ctx, *bin, *playableRuns, *playableLong) }},
		{"writes", func() ([]row, []string, error) { return benchWrites(ctx, *writeVideos, *writeDur, *viewBatch) }},
	} {
		if err := part(p.name, p.run); err != nil {
			return err
		}
	}

	fmt.Fprintf(out, "\nVideoForge benchmarks, %s\n\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintln(out, "| what | measured | target | machine | command |")
	fmt.Fprintln(out, "|---|---|---|---|---|")
	for i, r := range rows {
		fmt.Fprintf(out, "| %s | %s | %s | %s | `%s` |\n", r.what, r.measured, r.target, machines[i], r.command)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, strings.Join(notes, "\n"))
	return nil
}
