package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/transcoder"
	"github.com/videoforge/videoforge/transcoder/ffmpeg"
	"github.com/videoforge/videoforge/transcoder/jsqueue"
	"github.com/videoforge/videoforge/transcoder/sqs"
)

// transcoderSettings is everything the transcoder role runs on. dev fills one from its
// embedded servers (no SQS, the embedded NATS, the embedded S3 gateway).
type transcoderSettings struct {
	Config  transcoder.Config
	DB      postgres.Config
	S3      storage.Config
	SQS     sqs.Config        // used when URL is set; else the JetStream work queue at NATSURL
	SQSDead string            // URL of the SQS dead-letter queue to watch; empty: not watched
	SQSConn sqs.ClientConfig  // region and endpoint of SQS
	NATSURL string            // job events, and the work queue without SQS; empty: no events
	Streams bus.StreamOptions // replicas of the streams the role declares
}

func runTranscoder(ctx context.Context, args []string, _ io.Writer) error {
	f := newFlags("transcoder", "Takes transcoding jobs from the queue (SQS when SQS_QUEUE_URL is set, else the JetStream\n"+
		"work queue at NATS_URL), encodes each upload into an HLS ladder, a thumbnail and a storyboard\n"+
		"with ffmpeg, stores them in S3 and commits the results to the catalog.")
	dbf := f.database()
	nf := f.nats("", "NATS server(s): job events, and the job queue when SQS_QUEUE_URL is empty")
	queueURL := f.string("sqs-queue-url", "SQS_QUEUE_URL", "", "SQS queue of job messages; its redrive policy names the dead-letter queue")
	sqsDead := f.string("sqs-dead-letter-queue-url", "SQS_DLQ_URL", "", "the SQS queue's dead-letter queue, watched to mark jobs whose last worker died failed; empty: not watched")
	sqsEndpoint := f.string("sqs-endpoint", "SQS_ENDPOINT", "", "SQS-compatible server; empty means AWS")
	bucket := f.string("s3-bucket", "S3_BUCKET_NAME", "", "bucket of uploads and results")
	region := f.string("aws-region", "AWS_REGION", "", "AWS region; the SDK's default chain when empty")
	s3Endpoint := f.string("s3-endpoint", "S3_ENDPOINT", "", "S3-compatible server (path-style); empty means AWS")
	s3Key := f.string("s3-access-key-id", "S3_ACCESS_KEY_ID", "", "access key for an S3-compatible server; in AWS use the instance role")
	s3Secret := f.string("s3-secret-access-key", "S3_SECRET_ACCESS_KEY", "", "secret key for an S3-compatible server")
	def := transcoder.DefaultConfig()
	workers := f.int("workers", "TRANSCODER_WORKERS", def.Workers, "worker actors, each running one ffmpeg at a time")
	maxAttempts := f.int("max-attempts", "TRANSCODER_MAX_ATTEMPTS", def.MaxAttempts, "failures of the work itself (not outages, not shutdowns) before a job fails")
	maxReceives := f.int("max-receives", "TRANSCODER_MAX_RECEIVES", def.MaxReceives, "receives of a message before the dead-letter queue, more than the attempts; with SQS, the redrive policy's maxReceiveCount")
	visibility := f.duration("visibility", "TRANSCODER_VISIBILITY", def.Visibility, "a received job's invisibility, renewed by the heartbeat every third of it")
	grace := f.duration("shutdown-grace", "TRANSCODER_SHUTDOWN_GRACE", def.ShutdownGrace, "how long jobs in flight may finish at shutdown before they are handed back")
	workDir := f.string("work-dir", "TRANSCODER_WORK_DIR", "", "folder for the jobs' files; the system's temporary folder when empty")
	ladder := f.string("ladder", "TRANSCODER_LADDER", ffmpeg.FormatLadder(def.FFmpeg.Rungs), "the ladder: name:height:bitrate, comma-separated (height is the short side)")
	preset := f.string("preset", "TRANSCODER_PRESET", def.FFmpeg.Preset, "x264 preset")
	maxFPS := f.string("max-fps", "TRANSCODER_MAX_FPS", strconv.FormatFloat(def.FFmpeg.MaxFPS, 'f', -1, 64), "frame rate cap")
	segment := f.duration("segment", "TRANSCODER_SEGMENT", def.FFmpeg.SegmentDuration, "HLS segment length")
	audio := f.string("audio-bitrate", "TRANSCODER_AUDIO_BITRATE", "128k", "AAC bitrate of every variant")
	maxDuration := f.duration("max-duration", "TRANSCODER_MAX_DURATION", def.Limits.MaxDuration, "longest source accepted")
	maxSize := f.string("max-size", "TRANSCODER_MAX_SIZE", strconv.FormatInt(def.Limits.MaxSize, 10), "largest source accepted, in bytes")
	metricsAddr := f.string("metrics-addr", "TRANSCODER_METRICS_ADDR", "", "address to serve Prometheus metrics on (/metrics); empty serves none")
	if err := f.parse(args); err != nil {
		return err
	}
	dbCfg, err := dbf.config("videoforge-transcoder")
	if err != nil {
		return err
	}
	streams, err := nf.streams()
	if err != nil {
		return err
	}
	cfg := def
	cfg.Workers, cfg.MaxAttempts, cfg.MaxReceives, cfg.Visibility, cfg.ShutdownGrace, cfg.WorkDir = *workers, *maxAttempts, *maxReceives, *visibility, *grace, *workDir
	if cfg.FFmpeg.Rungs, err = ffmpeg.ParseLadder(*ladder); err != nil {
		return fmt.Errorf("TRANSCODER_LADDER: %w", err)
	}
	cfg.FFmpeg.Preset, cfg.FFmpeg.SegmentDuration, cfg.Limits.MaxDuration = *preset, *segment, *maxDuration
	if cfg.FFmpeg.MaxFPS, err = strconv.ParseFloat(*maxFPS, 64); err != nil || cfg.FFmpeg.MaxFPS < 0 {
		return fmt.Errorf("TRANSCODER_MAX_FPS=%q: not a frame rate", *maxFPS)
	}
	if cfg.FFmpeg.AudioBitrate, err = ffmpeg.ParseBitrate(*audio); err != nil {
		return fmt.Errorf("TRANSCODER_AUDIO_BITRATE: %w", err)
	}
	if cfg.Limits.MaxSize, err = strconv.ParseInt(*maxSize, 10, 64); err != nil || cfg.Limits.MaxSize < 0 {
		return fmt.Errorf("TRANSCODER_MAX_SIZE=%q: not a number of bytes", *maxSize)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	s := transcoderSettings{
		Config: cfg, DB: dbCfg, NATSURL: *nf.url, Streams: streams,
		S3:      storage.Config{Bucket: *bucket, Region: *region, Endpoint: *s3Endpoint, AccessKey: *s3Key, SecretKey: *s3Secret},
		SQS:     sqs.Config{URL: *queueURL, Visibility: cfg.Visibility},
		SQSDead: *sqsDead,
		SQSConn: sqs.ClientConfig{Region: *region, Endpoint: *sqsEndpoint},
	}
	if err := s.S3.Validate(); err != nil {
		return err
	}
	if s.SQS.URL == "" && s.NATSURL == "" {
		return errors.New("no job queue: set SQS_QUEUE_URL, or NATS_URL for the JetStream work queue")
	}
	if *metricsAddr != "" {
		reg, stop, err := serveMetrics(*metricsAddr, "TRANSCODER_METRICS_ADDR", "transcoder")
		if err != nil {
			return err
		}
		defer stop()
		s.Config.Metrics = reg
	}
	return serveTranscoder(ctx, s, slog.Default())
}

// serveTranscoder runs the transcoder role until ctx ends.
func serveTranscoder(ctx context.Context, s transcoderSettings, log *slog.Logger) error {
	db, err := postgres.Open(ctx, s.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := storage.New(ctx, s.S3)
	if err != nil {
		return err
	}
	var events transcoder.Events
	var q, dead transcoder.Queue
	if s.NATSURL != "" {
		conn, err := bus.Connect(ctx, s.NATSURL, "videoforge-transcoder", log)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		defer conn.Close()
		if err := bus.EnsureStreams(ctx, conn.JetStream(), s.Streams); err != nil {
			return err
		}
		events = bus.JobEvents{JS: conn.JetStream()}
		if s.SQS.URL == "" {
			jq, err := jsqueue.New(ctx, conn.JetStream(), jsqueue.Config{AckWait: s.Config.Visibility,
				MaxReceives: s.Config.MaxReceives, Replicas: s.Streams.Replicas})
			if err != nil {
				return err
			}
			q = jq
			if dead, err = jq.DeadLetters(ctx); err != nil {
				return err
			}
		}
	}
	if s.SQS.URL != "" {
		c, err := sqs.NewClient(ctx, s.SQSConn)
		if err != nil {
			return err
		}
		if q, err = sqs.New(c, s.SQS); err != nil {
			return err
		}
		if s.SQSDead != "" {
			if dead, err = sqs.New(c, sqs.Config{URL: s.SQSDead, Visibility: s.Config.Visibility}); err != nil {
				return err
			}
		}
	}
	tr, err := transcoder.New(s.Config, q, st, postgres.NewJobService(db), events, log)
	if err != nil {
		return err
	}
	if dead != nil {
		tr.WatchDeadLetters(dead)
	}
	return tr.Run(ctx)
}
