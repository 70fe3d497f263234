-- +goose Up
-- Revocable playback tokens and unlisted videos shared by key.
--
-- token_gen is the video's token generation: every playback token carries the
-- generation it was signed at, and a verifier refuses tokens older than the
-- video's current one. It grows each time the video's access narrows (public →
-- unlisted → private), so that the URLs handed out before the change stop playing.
-- share_key is the unguessable key an unlisted video is streamed by (128 random
-- bits, base64url): the numeric id alone no longer finds it.
-- revocations lists what verifiers outside PostgreSQL (the CDN's function and its
-- key store) must learn: a video whose generation grew, or that was deleted, since
-- the tokens signed before it may still be alive. pushed_at is when the entry
-- reached them; an entry older than the longest token life can be dropped.
ALTER TABLE videos
    ADD COLUMN token_gen BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN share_key TEXT NOT NULL
        DEFAULT translate(rtrim(encode(uuid_send(gen_random_uuid()), 'base64'), '='), '+/', '-_');
CREATE TABLE revocations (
    video_id   BIGINT PRIMARY KEY,
    token_gen  BIGINT NOT NULL,
    deleted    BOOLEAN NOT NULL DEFAULT false,
    revoked_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    pushed_at  TIMESTAMPTZ
);
CREATE INDEX revocations_unpushed_idx ON revocations (revoked_at) WHERE pushed_at IS NULL;

-- +goose Down
DROP TABLE revocations;
ALTER TABLE videos DROP COLUMN share_key, DROP COLUMN token_gen;
