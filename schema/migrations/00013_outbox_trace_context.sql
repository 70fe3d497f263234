-- +goose Up
-- The trace context of the change that wrote an outbox row (its W3C traceparent, e.g.
-- 00-<trace id>-<span id>-01), so that the relay's publish span, and through the NATS
-- headers each edge's apply span, continue the trace of the gallery's request. NULL
-- when tracing is off or the writer had no span (the seed's bulk events). The event's
-- payload is unchanged: consumers see the same bodies as before.
ALTER TABLE outbox ADD COLUMN trace_context TEXT;

-- +goose Down
ALTER TABLE outbox DROP COLUMN trace_context;
