-- +goose Up
-- Every function of the schema runs with the schema's search_path, whatever the
-- session's: an INSERT INTO <schema>.videos from a session whose search_path lacks the
-- schema (an operator's psql, a data import) finds video_counts all the same. FROM
-- CURRENT takes the migrator's search_path, which is the configured schema alone.
-- A function added later pins its own (catalog/postgres TestSchemaFromAnySession
-- checks that every one does).
ALTER FUNCTION outbox_notify() SET search_path FROM CURRENT;
ALTER FUNCTION videos_count() SET search_path FROM CURRENT;
ALTER FUNCTION videos_count_truncate() SET search_path FROM CURRENT;

-- +goose Down
ALTER FUNCTION outbox_notify() RESET search_path;
ALTER FUNCTION videos_count() RESET search_path;
ALTER FUNCTION videos_count_truncate() RESET search_path;
