-- +goose Up
-- Playable early: a video is ready with its first renditions, and more join as they land.
--
-- ladder_complete says whether a ready video has every rendition of its ladder: false
-- while its job still makes more (the renditions committed so far already play), true
-- once the job completed. Rows from before are complete.
-- renditions_done counts the renditions the job's attempt has committed so far.
ALTER TABLE videos
    ADD COLUMN ladder_complete BOOLEAN NOT NULL DEFAULT true;
ALTER TABLE jobs
    ADD COLUMN renditions_done INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE jobs DROP COLUMN renditions_done;
ALTER TABLE videos DROP COLUMN ladder_complete;
