// Command videoforge runs every role of VideoForge: the catalog (gallery API), the
// edge, the relay, the transcoder, the migrations, the development stack, its token
// issuer and an upload client.
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
	"time"

	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/schema"
	"github.com/videoforge/videoforge/stack"
	"github.com/videoforge/videoforge/telemetry"
)

// version is stamped in by the Makefile (-ldflags "-X main.version=...").
var version = "dev"

type command struct {
	name, summary string
	// about is what -h says beyond the summary.
	about string
	run   func(ctx context.Context, name, about string, args []string, stdout io.Writer) error
}

func commands() []command {
	return []command{
		{"dev", "run every role in one process on embedded defaults (make run)",
			"PostgreSQL from DATABASE_URL when it answers, else a private cluster under the data folder; NATS from\n" +
				"NATS_URL, else an embedded nats-server under the data folder; an embedded S3 gateway; the dev token issuer.", runStack},
		{"catalog", "serve the gallery API", "Serves /api/gallery on PostgreSQL, with the upload routes when S3_BUCKET_NAME is set and the\n" +
			"relay in-process when NATS_URL is set.", runStack},
		{"edge", "serve the streaming API from memory", "Serves /api/stream from memory, kept current by the CATALOG stream and PostgreSQL.", runStack},
		{"relay", "publish the catalog's outbox to NATS JetStream", "Publishes the outbox to the CATALOG stream in commit order, and pushes playback-token\n" +
			"revocations to CloudFront's KeyValueStore (REVOCATION_KVS_ARN). Run as many as you like: one\n" +
			"publishes, the others stand by and take over when it stops.", runStack},
		{"transcoder", "encode uploads into HLS ladders, thumbnails and storyboards", "Takes jobs from SQS when SQS_QUEUE_URL is set, else from the JetStream work queue at NATS_URL,\n" +
			"encodes each upload with ffmpeg, stores the results in S3 and commits them to the catalog.", runStack},
		{"migrate", "apply the database migrations", "Applies the embedded migrations to DB_SCHEMA and prints its version.", runMigrate},
		{"token", "print a token that the dev stack accepts", "Prints a Bearer token signed by the dev stack's key, for curl and tests.", runToken},
		{"upload", "upload a video file and wait until it plays", "Uploads a file through the gallery API, shows the upload's and the job's progress (from the JOBS\n" +
			"events on NATS, or by asking the gallery), and prints the stream URL when it is ready.", runUpload},
		{"seed", "fill a catalog with demo videos: synthetic ones in bulk, or clips that play (-playable)",
			"Without -playable, writes N synthetic ready videos (no media: they do not play) straight into the\n" +
				"catalog's database in bulk, each with its created event, so that edges see them. With -playable,\n" +
				"makes short clips with ffmpeg (1280x720, with sound, a different picture each), uploads them through\n" +
				"the gallery API as user1..userN a few at a time, waits until each is ready and prints a summary.", runSeed},
		{"version", "print the version", "", func(_ context.Context, _, _ string, _ []string, w io.Writer) error {
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
	slog.SetDefault(slog.New(telemetry.Handler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()}))))
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		return usage(stdout)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			if err := c.run(ctx, c.name, c.about, args[1:], stdout); err != nil {
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

// setLogger makes the command's log the format LOG_FORMAT asks for, on standard
// error, at LOG_LEVEL.
func setLogger(o stack.Options) error {
	log, err := telemetry.NewLogger(os.Stderr, string(o.LogFormat), logLevel())
	if err != nil {
		return fmt.Errorf("LOG_FORMAT: %w", err)
	}
	slog.SetDefault(log)
	return nil
}

// runStack runs a role (or, for dev, all of them) until ctx ends. dev prints where it
// answers once it does.
func runStack(ctx context.Context, name, summary string, args []string, stdout io.Writer) error {
	o, err := stack.Parse(name, summary, args)
	if err != nil {
		return err
	}
	if err := setLogger(o); err != nil {
		return err
	}
	s, err := stack.New(ctx, o)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if err := s.WaitReady(ctx); err == nil {
		if a := s.Addrs(); name == "dev" {
			a.PrintBanner(stdout)
			offerSeed(ctx, a, stdout)
		} else if a.Gallery != "" {
			fmt.Fprintf(stdout, "gallery API   %s/api/gallery\n", a.Gallery)
		}
	}
	return <-done
}

func runMigrate(ctx context.Context, name, summary string, args []string, stdout io.Writer) error {
	o, err := stack.Parse(name, summary, args)
	if err != nil {
		return err
	}
	if err := setLogger(o); err != nil {
		return err
	}
	cfg, err := o.Database()
	if err != nil {
		return err
	}
	if err := schema.Migrate(ctx, cfg.URL, cfg.Schema); err != nil {
		return err
	}
	cur, _, err := schema.Version(ctx, cfg.URL, cfg.Schema)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema %s is at version %d\n", cfg.Schema, cur)
	return nil
}

func runToken(ctx context.Context, name, summary string, args []string, stdout io.Writer) error {
	o, err := stack.Parse(name, summary, args)
	if err != nil {
		return err
	}
	if o.Client.User == "" {
		return errors.New("-user is required, e.g. -user alice")
	}
	tok, err := mint(o.Dev.Data, o.Client.User, o.Client.TokenTTL)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// mint signs a token with the dev stack's key in data.
func mint(data, user string, ttl time.Duration) (string, error) {
	iss, err := auth.LoadIssuer(stack.KeyDir(data))
	if err != nil {
		return "", err
	}
	return iss.Mint(user, ttl)
}
