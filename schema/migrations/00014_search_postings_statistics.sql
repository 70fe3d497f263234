-- +goose Up
-- The ranked path asks the planner how many postings each word of a search has before
-- it counts them (catalog/postgres/search.go, groupEstimates): the estimate is close for
-- the lexemes of the column's most-common list, and a guess for the others. A thousand
-- of them (instead of the default hundred) cover every word found in more than about
-- one video in a thousand, at a million videos. ANALYZE then samples 300 000 rows.
ALTER TABLE search_postings ALTER COLUMN lexeme SET STATISTICS 1000;

-- +goose Down
ALTER TABLE search_postings ALTER COLUMN lexeme SET STATISTICS -1;
