-- +goose Up
-- Video counts per owner and in total, kept by a trigger, so that a listing's
-- pagination total does not count a million rows. Per-owner rows have shard 0; the
-- totals over all owners have user_id '' and are spread over 16 shards (by video id)
-- so that concurrent writers do not all queue on one row.
CREATE TABLE video_counts (
    user_id    VARCHAR(255) NOT NULL,
    shard      SMALLINT     NOT NULL,
    visibility VARCHAR(20)  NOT NULL,
    status     VARCHAR(20)  NOT NULL,
    n          BIGINT       NOT NULL,
    PRIMARY KEY (user_id, shard, visibility, status)
);

INSERT INTO video_counts (user_id, shard, visibility, status, n)
SELECT user_id, 0, visibility, status, count(*) FROM videos GROUP BY 1, 3, 4
UNION ALL
SELECT '', (id % 16)::smallint, visibility, status, count(*) FROM videos GROUP BY 2, 3, 4;

-- +goose StatementBegin
CREATE FUNCTION videos_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- One statement, its rows in key order: two transactions moving videos between
    -- the same counters lock them in the same order and cannot deadlock.
    INSERT INTO video_counts AS c (user_id, shard, visibility, status, n)
    SELECT d.user_id, d.shard, d.visibility, d.status, sum(d.n)
    FROM (
        SELECT OLD.user_id, 0::smallint, OLD.visibility, OLD.status, -1 WHERE TG_OP <> 'INSERT'
        UNION ALL
        SELECT '', (OLD.id % 16)::smallint, OLD.visibility, OLD.status, -1 WHERE TG_OP <> 'INSERT'
        UNION ALL
        SELECT NEW.user_id, 0::smallint, NEW.visibility, NEW.status, 1 WHERE TG_OP <> 'DELETE'
        UNION ALL
        SELECT '', (NEW.id % 16)::smallint, NEW.visibility, NEW.status, 1 WHERE TG_OP <> 'DELETE'
    ) AS d (user_id, shard, visibility, status, n)
    GROUP BY 1, 2, 3, 4
    HAVING sum(d.n) <> 0
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (user_id, shard, visibility, status) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER videos_count AFTER INSERT OR DELETE OR UPDATE OF user_id, visibility, status ON videos
    FOR EACH ROW EXECUTE FUNCTION videos_count();

-- +goose StatementBegin
CREATE FUNCTION videos_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE video_counts;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER videos_count_truncate AFTER TRUNCATE ON videos
    FOR EACH STATEMENT EXECUTE FUNCTION videos_count_truncate();

-- +goose Down
DROP TRIGGER videos_count_truncate ON videos;
DROP TRIGGER videos_count ON videos;
DROP FUNCTION videos_count_truncate();
DROP FUNCTION videos_count();
DROP TABLE video_counts;
