// Command videoforge runs every role of VideoForge: the catalog (gallery API), the
// migrations, the development stack and its token issuer.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped in by the Makefile (-ldflags "-X main.version=...").
var version = "dev"

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout io.Writer) error
}

func commands() []command {
	return []command{
		{"dev", "run every role in one process on embedded defaults (make run)", runDev},
		{"catalog", "serve the gallery API", runCatalog},
		{"edge", "serve the streaming API from memory", runEdge},
		{"relay", "publish the catalog's outbox to NATS JetStream", runRelay},
		{"transcoder", "encode uploads into HLS ladders, thumbnails and storyboards", runTranscoder},
		{"migrate", "apply the database migrations", runMigrate},
		{"token", "print a token that the dev stack accepts", runToken},
		{"upload", "upload a video file and wait until it plays", runUpload},
		{"version", "print the version", func(_ context.Context, _ []string, w io.Writer) error {
			_, err := fmt.Fprintln(w, "videoforge", version)
			return err
		}},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "videoforge:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()})))
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		return usage(stdout)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			if err := c.run(ctx, args[1:], stdout); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			return nil
		}
	}
	usage(os.Stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) error {
	fmt.Fprintln(w, "usage: videoforge <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "  help       show this list\n\nRun 'videoforge <command> -h' for a command's flags.")
	return nil
}

func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("LOG_LEVEL"))); err != nil {
		return slog.LevelInfo
	}
	return l
}
