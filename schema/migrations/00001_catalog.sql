-- +goose Up
-- The catalog: jobs, videos (the seed's gallery_videos plus version and full-text
-- search), renditions and the outbox of catalog events. Every name is unqualified: the
-- migrator sets search_path to the configured schema.

CREATE TABLE jobs (
    id          BIGSERIAL PRIMARY KEY,
    user_id     VARCHAR(255) NOT NULL,
    status      VARCHAR(20)  NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'queued', 'processing', 'completed', 'failed')),
    progress    REAL         NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 100),
    error       TEXT,
    source_key  VARCHAR(500),
    attempts    INTEGER      NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ  NOT NULL DEFAULT now()
);
CREATE INDEX jobs_user_id_idx ON jobs (user_id);

CREATE TABLE videos (
    id            BIGSERIAL PRIMARY KEY,
    user_id       VARCHAR(255) NOT NULL,
    job_id        BIGINT REFERENCES jobs (id) ON DELETE CASCADE,
    title         VARCHAR(255) NOT NULL,
    description   TEXT,
    s3_key        VARCHAR(500) NOT NULL,
    visibility    VARCHAR(20)  NOT NULL DEFAULT 'public'
                  CHECK (visibility IN ('public', 'unlisted', 'private')),
    status        VARCHAR(20)  NOT NULL DEFAULT 'uploaded'
                  CHECK (status IN ('uploaded', 'processing', 'ready', 'failed')),
    duration      DOUBLE PRECISION,
    resolution    VARCHAR(50),
    video_codec   VARCHAR(50),
    audio_codec   VARCHAR(50),
    file_size     BIGINT,
    thumbnail_url VARCHAR(500),
    views         BIGINT       NOT NULL DEFAULT 0,
    version       BIGINT       NOT NULL DEFAULT 1,
    created_at    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    search        TSVECTOR GENERATED ALWAYS AS (
                      setweight(to_tsvector('english', title), 'A') ||
                      setweight(to_tsvector('english', coalesce(description, '')), 'B')
                  ) STORED
);
-- The seed's indexes.
CREATE INDEX videos_user_id_idx    ON videos (user_id);
CREATE INDEX videos_visibility_idx ON videos (visibility);
CREATE INDEX videos_status_idx     ON videos (status);
CREATE INDEX videos_created_at_idx ON videos (created_at);
-- Full-text search.
CREATE INDEX videos_search_idx ON videos USING GIN (search);
-- The listings everybody sees: public and ready, in each sort order.
CREATE INDEX videos_listed_created_idx ON videos (created_at DESC, id DESC)
    WHERE visibility = 'public' AND status = 'ready';
CREATE INDEX videos_listed_title_idx ON videos (title, id)
    WHERE visibility = 'public' AND status = 'ready';
CREATE INDEX videos_listed_views_idx ON videos (views DESC, id DESC)
    WHERE visibility = 'public' AND status = 'ready';
-- One owner's videos, newest first.
CREATE INDEX videos_user_created_idx ON videos (user_id, created_at DESC, id DESC);
-- Edges reconcile by version order.
CREATE INDEX videos_updated_at_idx ON videos (updated_at);

CREATE TABLE renditions (
    video_id  BIGINT       NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    name      VARCHAR(20)  NOT NULL,
    width     INTEGER      NOT NULL CHECK (width > 0),
    height    INTEGER      NOT NULL CHECK (height > 0),
    bandwidth INTEGER      NOT NULL CHECK (bandwidth > 0),
    playlist  VARCHAR(500) NOT NULL,
    PRIMARY KEY (video_id, name)
);

-- Catalog events, written in the same transaction as the change they describe and
-- published in id order by the relay.
CREATE TABLE outbox (
    id           BIGSERIAL PRIMARY KEY,
    event_id     UUID        NOT NULL UNIQUE,
    subject      TEXT        NOT NULL,
    video_id     BIGINT      NOT NULL,
    version      BIGINT      NOT NULL,
    payload      JSONB       NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ
);
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;

-- +goose Down
DROP TABLE outbox;
DROP TABLE renditions;
DROP TABLE videos;
DROP TABLE jobs;
