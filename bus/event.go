package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/telemetry"
)

// Headers VideoForge sets on every catalog event besides Nats-Msg-Id, so that a
// consumer can route or drop a message without decoding its body.
const (
	// SchemaHeader names the body's format; it changes only with an incompatible
	// change of the event contract.
	SchemaHeader = "VideoForge-Schema"
	// CatalogSchema is SchemaHeader's value on catalog events.
	CatalogSchema = "catalog.v1"
	// VersionHeader carries the video's version (the body's "version") in decimal.
	VersionHeader = "VideoForge-Version"
)

// NewCatalogMsg returns the message for a catalog event body: payload on subject,
// de-duplicated by JetStream on msgID (the event id), and refused unless it lands in the
// CATALOG stream. The relay publishes outbox rows with it.
func NewCatalogMsg(subject, msgID string, version int64, payload []byte) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = payload
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	m.Header.Set(jetstream.ExpectedStreamHeader, CatalogStream)
	m.Header.Set(SchemaHeader, CatalogSchema)
	m.Header.Set(VersionHeader, strconv.FormatInt(version, 10))
	return m
}

// PublishEvent publishes a catalog event on its subject with its id as Nats-Msg-Id and
// waits for JetStream's ack. Publishing the same event again within DuplicateWindow is
// acknowledged as a duplicate and stores nothing.
func PublishEvent(ctx context.Context, js jetstream.JetStream, ev *videoforge.Event) (*jetstream.PubAck, error) {
	if err := validateEvent(ev); err != nil {
		return nil, fmt.Errorf("bus: publish event: %w", err)
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("bus: publish event %s: encode: %w", ev.ID, err)
	}
	return PublishRaw(ctx, js, ev.Subject(), ev.ID, ev.Version, payload)
}

// PublishRaw publishes an already encoded catalog event body (an outbox row's payload)
// as NewCatalogMsg builds it and waits for JetStream's ack.
func PublishRaw(ctx context.Context, js jetstream.JetStream, subject, msgID string, version int64, payload []byte) (*jetstream.PubAck, error) {
	ack, err := js.PublishMsg(ctx, NewCatalogMsg(subject, msgID, version, payload))
	if err != nil {
		return nil, fmt.Errorf("bus: publish %s (%s): %w", subject, msgID, err)
	}
	return ack, nil
}

// DecodeEvent decodes a message of the CATALOG stream and checks it against the
// contract: a known type, a video, a positive version, a subject naming the same video
// and type, and a Nats-Msg-Id (when present) equal to the event id. Anything else is an
// EINVALID error.
func DecodeEvent(msg jetstream.Msg) (*videoforge.Event, error) {
	ev, err := ParseEvent(msg.Subject(), msg.Data())
	if err != nil {
		return nil, err
	}
	if id := msg.Headers().Get(jetstream.MsgIDHeader); id != "" && id != ev.ID {
		return nil, fmt.Errorf("bus: decode event: %w",
			videoforge.Errorf(videoforge.EINVALID, "message id %q differs from event id %q", id, ev.ID))
	}
	return ev, nil
}

// ParseEvent decodes a catalog event body received on subject and checks it as
// DecodeEvent does. Unknown fields are ignored, so that consumers keep working when
// the contract gains fields.
func ParseEvent(subject string, data []byte) (*videoforge.Event, error) {
	videoID, typ, err := ParseCatalogSubject(subject)
	if err != nil {
		return nil, fmt.Errorf("bus: decode event: %w", err)
	}
	var ev videoforge.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("bus: decode event on %s: %w",
			subject, videoforge.Errorf(videoforge.EINVALID, "malformed body: %v", err))
	}
	if err := validateEvent(&ev); err != nil {
		return nil, fmt.Errorf("bus: decode event on %s: %w", subject, err)
	}
	if ev.Video.ID != videoID || ev.Type != typ {
		return nil, fmt.Errorf("bus: decode event on %s: %w", subject,
			videoforge.Errorf(videoforge.EINVALID, "body is a %s event of video %d", ev.Type, ev.Video.ID))
	}
	return &ev, nil
}

func validateEvent(ev *videoforge.Event) error {
	switch {
	case ev == nil:
		return videoforge.Errorf(videoforge.EINVALID, "no event")
	case ev.ID == "":
		return videoforge.Errorf(videoforge.EINVALID, "event has no id")
	case !validEventType(ev.Type):
		return videoforge.Errorf(videoforge.EINVALID, "unknown event type %q", ev.Type)
	case ev.Video == nil:
		return videoforge.Errorf(videoforge.EINVALID, "event %s has no video", ev.ID)
	case ev.Video.ID <= 0:
		return videoforge.Errorf(videoforge.EINVALID, "event %s: video id %d", ev.ID, ev.Video.ID)
	case ev.Version <= 0:
		return videoforge.Errorf(videoforge.EINVALID, "event %s: version %d", ev.ID, ev.Version)
	}
	return nil
}

func validEventType(t string) bool {
	return t == videoforge.EventCreated || t == videoforge.EventUpdated || t == videoforge.EventDeleted
}

// ParseCatalogSubject splits a catalog event subject,
// videoforge.catalog.video.<id>.<type>, into the video id and the event type.
func ParseCatalogSubject(subject string) (videoID int64, eventType string, err error) {
	rest, ok := strings.CutPrefix(subject, videoforge.CatalogSubjectPrefix)
	if !ok {
		return 0, "", videoforge.Errorf(videoforge.EINVALID, "subject %q is not a catalog event subject", subject)
	}
	idText, typ, ok := strings.Cut(rest, ".")
	if !ok || !validEventType(typ) {
		return 0, "", videoforge.Errorf(videoforge.EINVALID, "subject %q has no known event type", subject)
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != idText {
		return 0, "", videoforge.Errorf(videoforge.EINVALID, "subject %q has no valid video id", subject)
	}
	return id, typ, nil
}

// PubAck is a publish's pending acknowledgement by JetStream: Ok or Err delivers.
type PubAck = jetstream.PubAckFuture

// CatalogPublisher sends catalog events to the CATALOG stream without waiting for each
// acknowledgement (the relay's rounds).
type CatalogPublisher interface {
	PublishCatalogAsync(ctx context.Context, subject, msgID string, version int64, payload []byte) (PubAck, error)
}

// PublishCatalogAsync sends one catalog event, as NewCatalogMsg builds it with ctx's
// trace context in its headers (traceparent, when tracing is on), and returns its
// pending acknowledgement.
func (c *Conn) PublishCatalogAsync(ctx context.Context, subject, msgID string, version int64, payload []byte) (PubAck, error) {
	m := NewCatalogMsg(subject, msgID, version, payload)
	telemetry.Inject(ctx, HeaderCarrier(m.Header))
	return c.js.PublishMsgAsync(m)
}

// HeaderCarrier carries a trace context in a NATS message's headers under the W3C
// names as they are (traceparent, tracestate: NATS headers are case-sensitive).
type HeaderCarrier nats.Header

// Get returns the header's first value.
func (h HeaderCarrier) Get(key string) string { return nats.Header(h).Get(key) }

// Set sets the header.
func (h HeaderCarrier) Set(key, value string) { nats.Header(h).Set(key, value) }

// Keys lists the headers.
func (h HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// TooLarge reports whether err says a message is over the server's or the stream's
// size limit, which no retry can change.
func TooLarge(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, nats.ErrMaxPayload) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum)
}
