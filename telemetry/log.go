package telemetry

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Log formats, as LOG_FORMAT names them.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// Log field names shared by every role, so that one query finds a request, a video or
// a job across them.
const (
	RequestIDKey = "request_id"
	VideoIDKey   = "video_id"
	JobIDKey     = "job_id"
	TraceIDKey   = "trace_id"
	SpanIDKey    = "span_id"
)

// NewLogger returns a logger writing format (FormatText or FormatJSON) to w from level
// up, through Handler.
func NewLogger(w io.Writer, format string, level slog.Leveler) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case FormatText, "":
		return slog.New(Handler(slog.NewTextHandler(w, opts))), nil
	case FormatJSON:
		return slog.New(Handler(slog.NewJSONHandler(w, opts))), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

// Handler wraps h so that each record logged with a context (InfoContext and the like)
// carries the fields WithLogAttrs put in that context (request_id, video_id, job_id)
// and, when the context holds a valid span, its trace_id and span_id.
func Handler(h slog.Handler) slog.Handler {
	if _, ok := h.(handler); ok {
		return h
	}
	return handler{h}
}

type handler struct{ slog.Handler }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if attrs, ok := ctx.Value(attrsKey{}).([]slog.Attr); ok {
			r.AddAttrs(attrs...)
		}
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r.AddAttrs(slog.String(TraceIDKey, sc.TraceID().String()), slog.String(SpanIDKey, sc.SpanID().String()))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return handler{h.Handler.WithAttrs(attrs)}
}
func (h handler) WithGroup(name string) slog.Handler { return handler{h.Handler.WithGroup(name)} }

type attrsKey struct{}

// WithLogAttrs returns ctx carrying attrs besides those it carries already: every
// record logged with the context gets them.
func WithLogAttrs(ctx context.Context, attrs ...slog.Attr) context.Context {
	old, _ := ctx.Value(attrsKey{}).([]slog.Attr)
	all := make([]slog.Attr, 0, len(old)+len(attrs))
	return context.WithValue(ctx, attrsKey{}, append(append(all, old...), attrs...))
}

// SpanAttrs returns span's trace_id and span_id as log fields, for a logger bound to
// one piece of work (logger.With(SpanAttrs(span)...)); none when it is not recording.
func SpanAttrs(span trace.Span) []any {
	sc := span.SpanContext()
	if !sc.IsValid() {
		return nil
	}
	return []any{slog.String(TraceIDKey, sc.TraceID().String()), slog.String(SpanIDKey, sc.SpanID().String())}
}

// RequestIDHeader is the header that carries a request's id in and out.
const RequestIDHeader = "X-Request-Id"

// RequestID returns the id of a request: the one its client or proxy sent in
// X-Request-Id when it is sane (1 to 128 letters, digits and -_.:), else a new one.
func RequestID(sent string) string {
	if saneRequestID(sent) {
		return sent
	}
	return rand.Text()
}

func saneRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}
