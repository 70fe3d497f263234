-- +goose Up
-- Wake the relay on commit: every statement that adds outbox rows sends a notification
-- on the channel <schema>_outbox (e.g. videoforge_outbox), which PostgreSQL delivers when
-- the transaction commits, once per transaction. The payload is empty: the relay reads
-- the unpublished rows itself, and identical notifications of one transaction fold into one.

-- +goose StatementBegin
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Channel names are at most 63 bytes; the relay cuts its own the same way.
    PERFORM pg_notify(left(TG_TABLE_SCHEMA || '_outbox', 63), '');
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- +goose Down
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
