-- +goose Up
-- Event bodies are published exactly as the catalog wrote them: json keeps the text
-- (the contract's key order, no added spaces) where jsonb would re-render it.
ALTER TABLE outbox ALTER COLUMN payload TYPE JSON;

-- +goose Down
ALTER TABLE outbox ALTER COLUMN payload TYPE JSONB;
