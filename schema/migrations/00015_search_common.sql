-- +goose Up
-- The catalog's commonest words, carried in every posting.
--
-- A search of a common word and a rarer one ranked by reading both words' postings
-- (catalog/postgres/search.go, rankMerge) has to look the rarer word's videos up in the
-- common word's list, or read that list deep: some 5 µs a look-up, tens of milliseconds
-- at a million videos. So each of up to 30 common lexemes gets a slot in
-- search_common, and every posting of a video carries, 4 bits per slot, the impact of
-- each slot's lexeme in that video (impact × 4: 1 to 10; 0 when the video lacks it):
-- slots 0 to 14 in common_lo, 15 to 29 in common_hi. Reading the rarer word's postings
-- then gives every video's exact score, and whether it has the common word, without a
-- look-up.
--
-- A slot is given once and never taken back or given to another lexeme. It is filled
-- (catalog/postgres/common.go): the slot row is added with ready false while writers
-- are held off (so that every posting written afterwards carries it), every posting is
-- rewritten in batches, and then ready is set; searches use ready slots only. Until a
-- catalog has words that common, it has no slot, and searches go the other ways.
CREATE TABLE search_common (
    slot   SMALLINT         PRIMARY KEY CHECK (slot >= 0 AND slot < 30),
    lexeme TEXT COLLATE "C" NOT NULL UNIQUE,
    ready  BOOLEAN          NOT NULL DEFAULT false
);

ALTER TABLE search_postings
    ADD COLUMN common_lo BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN common_hi BIGINT NOT NULL DEFAULT 0;
-- The rank index carries them, for reading a word's postings in impact order without
-- visiting the table.
DROP INDEX search_postings_rank_idx;
CREATE INDEX search_postings_rank_idx ON search_postings (lexeme, impact DESC, video_id DESC) INCLUDE (common_lo, common_hi);

-- search_postings_of returns the postings of the listed videos among ids: one per
-- lexeme of the video's search vector, with its impact (see 00011_search_postings.sql)
-- and the video's levels of the common lexemes (every slot, ready or being filled).
-- +goose StatementBegin
CREATE FUNCTION search_postings_of(ids BIGINT[])
    RETURNS TABLE (video_id BIGINT, lexeme TEXT, impact REAL, common_lo BIGINT, common_hi BIGINT)
    LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    WITH l AS (
        SELECT v.id, x.lexeme, (SELECT greatest(least(count(*) FILTER (WHERE u.w = 'A'), 2) + 0.25 * least(count(*) FILTER (WHERE u.w <> 'A'), 2), 0.25)
            FROM unnest(x.weights) AS u (w))::real AS impact
        FROM videos v, unnest(v.search) AS x
        WHERE v.id = ANY(ids) AND v.visibility = 'public' AND v.status = 'ready'),
    m AS (
        SELECT l.id,
            coalesce(bit_or(((l.impact * 4)::int::bigint) << (4 * c.slot)) FILTER (WHERE c.slot < 15), 0) AS lo,
            coalesce(bit_or(((l.impact * 4)::int::bigint) << (4 * (c.slot - 15))) FILTER (WHERE c.slot >= 15), 0) AS hi
        FROM l JOIN search_common c ON c.lexeme = l.lexeme COLLATE "C"
        GROUP BY l.id)
    SELECT l.id, l.lexeme, l.impact, coalesce(m.lo, 0), coalesce(m.hi, 0)
    FROM l LEFT JOIN m ON m.id = l.id
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION search_postings_add() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO search_postings (video_id, lexeme, impact, common_lo, common_hi)
    SELECT * FROM search_postings_of(ARRAY(SELECT a.id FROM added a WHERE a.visibility = 'public' AND a.status = 'ready'));
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION search_postings_change() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM search_postings WHERE video_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.visibility = 'public' AND NEW.status = 'ready' THEN
        INSERT INTO search_postings (video_id, lexeme, impact, common_lo, common_hi)
        SELECT * FROM search_postings_of(ARRAY[NEW.id]);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION search_postings_change() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM search_postings WHERE video_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.visibility = 'public' AND NEW.status = 'ready' THEN
        INSERT INTO search_postings (video_id, lexeme, impact)
        SELECT NEW.id, l.lexeme, (SELECT greatest(least(count(*) FILTER (WHERE u.w = 'A'), 2) + 0.25 * least(count(*) FILTER (WHERE u.w <> 'A'), 2), 0.25)
        FROM unnest(l.weights) AS u (w))
        FROM unnest(NEW.search) AS l;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION search_postings_add() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO search_postings (video_id, lexeme, impact)
    SELECT a.id, l.lexeme, (SELECT greatest(least(count(*) FILTER (WHERE u.w = 'A'), 2) + 0.25 * least(count(*) FILTER (WHERE u.w <> 'A'), 2), 0.25)
        FROM unnest(l.weights) AS u (w))
    FROM added a, unnest(a.search) AS l
    WHERE a.visibility = 'public' AND a.status = 'ready';
    RETURN NULL;
END
$$;
-- +goose StatementEnd
DROP FUNCTION search_postings_of(BIGINT[]);
DROP INDEX search_postings_rank_idx;
CREATE INDEX search_postings_rank_idx ON search_postings (lexeme, impact DESC, video_id DESC);
ALTER TABLE search_postings DROP COLUMN common_hi, DROP COLUMN common_lo;
DROP TABLE search_common;
