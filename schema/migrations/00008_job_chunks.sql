-- +goose Up
-- Chunked jobs: the attempt holding a job splits its encode in chunks that any worker
-- claims, encodes and completes.
--
-- A row is one chunk of one attempt: token is the attempt's (jobs.attempts when it
-- split), idx numbers the chunks from 0. video_id is the attempt's video, copied at
-- the split so that a claim, which names only the job, finds it by its key.
-- claims is the chunk's fencing token, as attempts is the job's: each claim adds one
-- and hands the new value to the worker, and renewing and completing are accepted
-- only with the current value. lease_until says until when that claim is alive
-- (NULL: never claimed, released, or done); once it has passed, the chunk can be
-- claimed again. done says that the current claim's output is the chunk's. task is
-- what the attempt recorded of the chunk (its span and the plan of its encode), handed
-- to each claim: a chunk's queue message names the chunk and nothing else.
-- A new split of the job deletes the chunks of its older attempts, which can no
-- longer be claimed or completed anyway; the chunks go with their job.
CREATE TABLE job_chunks (
    job_id      BIGINT      NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    token       BIGINT      NOT NULL,
    idx         INTEGER     NOT NULL CHECK (idx >= 0),
    video_id    BIGINT      NOT NULL,
    claims      BIGINT      NOT NULL DEFAULT 0 CHECK (claims >= 0),
    lease_until TIMESTAMPTZ,
    done        BOOLEAN     NOT NULL DEFAULT false,
    task        BYTEA       NOT NULL DEFAULT ''::bytea,
    PRIMARY KEY (job_id, token, idx),
    CHECK (NOT done OR (claims > 0 AND lease_until IS NULL))
);

-- +goose Down
DROP TABLE job_chunks;
