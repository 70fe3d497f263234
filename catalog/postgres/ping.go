package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Ping connects to the database at url once and reports whether it answers.
func Ping(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}
