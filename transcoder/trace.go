package transcoder

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/telemetry"
	"github.com/videoforge/videoforge/transcoder/ffmpeg"
)

// jobSpan starts the span of handling one job message ("transcode job"), a child of
// the trace context the message carries (the upload's complete) when its queue
// delivers one (TracedDelivery). Its steps are child spans: download, probe, each
// rung ("encode 720p", "copy 720p" for a stream copy), stills, upload, commit.
func jobSpan(ctx context.Context, d Delivery, name string, m videoforge.JobMessage) (context.Context, trace.Span) {
	if td, ok := d.(TracedDelivery); ok {
		ctx = td.TraceContext(ctx)
	}
	return telemetry.Tracer().Start(ctx, name, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		attribute.Int64(telemetry.JobIDKey, m.JobID), attribute.Int64(telemetry.VideoIDKey, m.VideoID),
		attribute.Int("videoforge.receive", d.Attempt()), attribute.Int("videoforge.send", m.Send)))
}

// step runs fn inside a span called name, which records fn's error.
func step(ctx context.Context, name string, fn func(ctx context.Context) error, attrs ...attribute.KeyValue) error {
	ctx, span := telemetry.Tracer().Start(ctx, name, trace.WithAttributes(attrs...))
	defer span.End()
	err := fn(ctx)
	telemetry.Fail(span, err)
	return err
}

// rungs runs fn, one ffmpeg that makes every variant at once, inside a span per
// variant named verb and the rung ("encode 720p"): each lasts as long as the process.
func rungs(ctx context.Context, verb string, variants []ffmpeg.Variant, fn func(ctx context.Context) error) error {
	spans := make([]trace.Span, len(variants))
	for i, v := range variants {
		_, spans[i] = telemetry.Tracer().Start(ctx, verb+" "+v.Name, trace.WithAttributes(
			attribute.String("videoforge.rendition", v.Name), attribute.Int("videoforge.width", v.Width),
			attribute.Int("videoforge.height", v.Height), attribute.Int("videoforge.video_bitrate", v.VideoBitrate)))
	}
	err := fn(ctx)
	for _, s := range spans {
		telemetry.Fail(s, err)
		s.End()
	}
	return err
}
