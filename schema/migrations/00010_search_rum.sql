-- +goose Up
-- Search ranked over every match, with prefixes and typo tolerance.
--
-- videos_search_rum_idx is a RUM index on the search vector that keeps each lexeme's
-- positions and weights, so that `ORDER BY search <=> query` (RUM's distance, the
-- inverse of a ts_rank-like score) ranks inside the index over every match instead of
-- fetching each matching row to rank it. It also answers `@@` with and without `:*`
-- prefixes. It replaces the GIN index videos_search_idx. It is partial, over the
-- listed videos (public and ready) that anonymous searches read; a signed-in viewer's
-- own other videos are found through videos_user_created_idx, one owner at a time.
--
-- search_lexemes holds every lexeme of the catalog's search vectors, for typo
-- tolerance: a query word that is no lexeme is rewritten to the nearest one within one
-- edit, found by pg_trgm's distance (<->) on its GiST index. Triggers add the lexemes
-- of inserted rows (once per statement, so that a COPY of a million rows adds them in
-- one pass) and of rows whose title or description changed. Lexemes are not removed
-- when their last video goes: a stale one only keeps a word from being rewritten.
--
-- rum and pg_trgm live in schema public, whichever catalog schema this is, so that
-- several catalog schemas of one database share them; the catalog names their
-- operators with that schema (OPERATOR(public.<=>)). rum needs no preload
-- (shared_preload_libraries), on RDS neither.

-- +goose StatementBegin
DO $$
DECLARE
    found_in name;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'rum') THEN
        RAISE EXCEPTION 'the PostgreSQL extension "rum" is not installed on this server, and the catalog''s search needs it: '
            'install the package postgresql-15-rum (Debian/Ubuntu, for PostgreSQL 15; scripts/deps.sh does it) or, on Amazon RDS, '
            'run the migration as the master user (rds_superuser), then run it again'
            USING HINT = 'Debian/Ubuntu: apt-get install -y postgresql-15-rum (scripts/deps.sh does it; the package matching the server''s major version), '
                'then run the migration again. Amazon RDS for PostgreSQL offers rum: the migration creates it as the master user (rds_superuser); '
                'no parameter group change is needed.';
    END IF;
    SELECT n.nspname INTO found_in FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname IN ('rum', 'pg_trgm') AND n.nspname <> 'public' LIMIT 1;
    IF found_in IS NOT NULL THEN
        RAISE EXCEPTION 'the extension rum or pg_trgm is installed in schema %, the catalog expects both in schema public', found_in
            USING HINT = 'ALTER EXTENSION rum SET SCHEMA public; ALTER EXTENSION pg_trgm SET SCHEMA public; then run the migration again.';
    END IF;
END
$$;
-- +goose StatementEnd
CREATE EXTENSION IF NOT EXISTS rum SCHEMA public;
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;

CREATE INDEX videos_search_rum_idx ON videos USING rum (search public.rum_tsvector_ops)
    WHERE visibility = 'public' AND status = 'ready';
DROP INDEX videos_search_idx;

CREATE TABLE search_lexemes (
    lexeme TEXT COLLATE "C" PRIMARY KEY
);
CREATE INDEX search_lexemes_trgm_idx ON search_lexemes USING gist (lexeme public.gist_trgm_ops);
INSERT INTO search_lexemes (lexeme)
SELECT DISTINCT l.lexeme FROM videos, unnest(videos.search) AS l ORDER BY 1;
ANALYZE search_lexemes;

-- +goose StatementBegin
CREATE FUNCTION search_lexemes_add() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    -- In key order, so that two transactions adding the same new lexemes wait for
    -- each other instead of deadlocking.
    INSERT INTO search_lexemes (lexeme)
    SELECT DISTINCT l.lexeme FROM added, unnest(added.search) AS l ORDER BY 1
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION search_lexemes_change() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO search_lexemes (lexeme)
    SELECT DISTINCT l.lexeme FROM unnest(NEW.search) AS l ORDER BY 1
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER search_lexemes_add AFTER INSERT ON videos
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION search_lexemes_add();
CREATE TRIGGER search_lexemes_change AFTER UPDATE OF title, description ON videos
    FOR EACH ROW WHEN (OLD.search IS DISTINCT FROM NEW.search) EXECUTE FUNCTION search_lexemes_change();

-- +goose Down
DROP TRIGGER search_lexemes_change ON videos;
DROP TRIGGER search_lexemes_add ON videos;
DROP FUNCTION search_lexemes_change();
DROP FUNCTION search_lexemes_add();
DROP TABLE search_lexemes;
CREATE INDEX videos_search_idx ON videos USING GIN (search);
DROP INDEX videos_search_rum_idx;
-- The extensions stay: other catalog schemas of the database may use them.
