-- +goose Up
-- Fenced job attempts, sealed sources and job messages sent only after the commit.
--
-- attempts is the fencing token: StartJob adds one and hands the new value to the
-- worker, and progress, complete and fail are accepted only with the current value,
-- so that a worker that lost the job (paused past its lease, a duplicate delivery)
-- can change nothing. lease_until says until when the current attempt is alive; a
-- second delivery of the job's message takes it over only after that.
-- failures counts the attempts that failed because of the work itself: outages of
-- the database, storage or the queue never count.
-- source_etag, source_version and source_size are the uploaded object as it was
-- when complete accepted it; the transcoder downloads exactly that object.
-- sends and sent_at record the job's queue messages: complete commits the job
-- queued with sent_at NULL and sends after the commit; a sweeper re-sends what
-- has no message.
ALTER TABLE jobs
    ADD COLUMN lease_until    TIMESTAMPTZ,
    ADD COLUMN failures       INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN source_etag    TEXT,
    ADD COLUMN source_version TEXT,
    ADD COLUMN source_size    BIGINT,
    ADD COLUMN sends          INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN sent_at        TIMESTAMPTZ;
-- The sweeper's look-ups: jobs waiting for their message or for a worker.
CREATE INDEX jobs_waiting_idx ON jobs (updated_at) WHERE status IN ('queued', 'processing');
-- The janitor's look-up: uploads never completed.
CREATE INDEX jobs_pending_idx ON jobs (created_at) WHERE status = 'pending';

-- +goose Down
DROP INDEX jobs_pending_idx;
DROP INDEX jobs_waiting_idx;
ALTER TABLE jobs
    DROP COLUMN lease_until,
    DROP COLUMN failures,
    DROP COLUMN source_etag,
    DROP COLUMN source_version,
    DROP COLUMN source_size,
    DROP COLUMN sends,
    DROP COLUMN sent_at;
