-- +goose Up
-- Impact-ordered postings: search ranked over every match at a million videos.
--
-- RUM ranks inside its index but still reads every match to do so (it sorts them all
-- before returning the first): about 3 s for a word found in 740 000 listed videos of
-- the benchmark's million. search_postings holds, for every listed video (public and
-- ready) and every lexeme of its search vector, the lexeme's impact in that video, so
-- that the best matches of a word are the first entries of search_postings_rank_idx,
-- whatever the number of matches.
--
-- The impact of a lexeme in a video is 1 per mention in the title (weight A), up to
-- 2, plus 0.25 per mention in the description (the other weights), up to 2: eight
-- levels from 0.25 to 2.5, exact in floating point. A search of several words ranks by
-- the sum of their impacts (for a prefix, the best impact of the words it begins),
-- ties going to the newest video (the highest id); the catalog finds the top of that
-- sum by reading each word's postings from the top down until no unread video can beat
-- the page (see catalog/postgres/video.go). Few levels matter: with ts_rank's
-- continuous score (each further mention adding less) the impacts of a common word
-- fall so slowly that thousands of postings per word had to be read before the best
-- videos of two common words were settled; with levels, ties settle them.
--
-- Triggers keep it: rows inserted (once per statement, so that a COPY of a million
-- rows adds their postings in one pass), rows whose text or listing changed, rows
-- deleted, and TRUNCATE.
CREATE TABLE search_postings (
    video_id BIGINT           NOT NULL,
    lexeme   TEXT COLLATE "C" NOT NULL,
    impact   REAL             NOT NULL,
    PRIMARY KEY (video_id, lexeme) INCLUDE (impact)
);
CREATE INDEX search_postings_rank_idx ON search_postings (lexeme, impact DESC, video_id DESC);

INSERT INTO search_postings (video_id, lexeme, impact)
SELECT v.id, l.lexeme, (SELECT greatest(least(count(*) FILTER (WHERE u.w = 'A'), 2) + 0.25 * least(count(*) FILTER (WHERE u.w <> 'A'), 2), 0.25)
        FROM unnest(l.weights) AS u (w))
FROM videos v, unnest(v.search) AS l
WHERE v.visibility = 'public' AND v.status = 'ready';
-- The planner needs the table's statistics at once (an upgraded catalog of a million
-- videos has some ten million postings); autovacuum keeps them afterwards.
ANALYZE search_postings;

-- +goose StatementBegin
CREATE FUNCTION search_postings_add() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
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

-- +goose StatementBegin
CREATE FUNCTION search_postings_change() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
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
CREATE FUNCTION search_postings_truncate() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    TRUNCATE search_postings;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER search_postings_add AFTER INSERT ON videos
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION search_postings_add();
CREATE TRIGGER search_postings_change AFTER UPDATE OF id, title, description, visibility, status ON videos
    FOR EACH ROW WHEN (OLD.search IS DISTINCT FROM NEW.search OR OLD.id <> NEW.id
        OR (OLD.visibility = 'public' AND OLD.status = 'ready') <> (NEW.visibility = 'public' AND NEW.status = 'ready'))
    EXECUTE FUNCTION search_postings_change();
CREATE TRIGGER search_postings_delete AFTER DELETE ON videos
    FOR EACH ROW EXECUTE FUNCTION search_postings_change();
CREATE TRIGGER search_postings_truncate AFTER TRUNCATE ON videos
    FOR EACH STATEMENT EXECUTE FUNCTION search_postings_truncate();

-- +goose Down
DROP TRIGGER search_postings_truncate ON videos;
DROP TRIGGER search_postings_delete ON videos;
DROP TRIGGER search_postings_change ON videos;
DROP TRIGGER search_postings_add ON videos;
DROP FUNCTION search_postings_truncate();
DROP FUNCTION search_postings_change();
DROP FUNCTION search_postings_add();
DROP TABLE search_postings;
