package pgtest

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestWithDatabase(t *testing.T) {
	for _, dsn := range []string{
		"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"postgresql://u:p%40ss@db.example:6000?sslmode=disable&dbname=other",
		"postgres://u@h/db%2Fx",
		"host=127.0.0.1 port=5432 user=postgres dbname=postgres sslmode=disable",
		"host=127.0.0.1 user=postgres",
	} {
		t.Run(dsn, func(t *testing.T) {
			want, err := pgx.ParseConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			got, err := pgx.ParseConfig(withDatabase(dsn, "vft_1"))
			if err != nil {
				t.Fatal(err)
			}
			if got.Database != "vft_1" {
				t.Errorf("database = %q, want vft_1", got.Database)
			}
			if got.Host != want.Host || got.Port != want.Port || got.User != want.User || got.Password != want.Password {
				t.Errorf("connection changed: got %s@%s:%d, want %s@%s:%d", got.User, got.Host, got.Port, want.User, want.Host, want.Port)
			}
		})
	}
}
