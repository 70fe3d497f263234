package postgres

import (
	"context"

	"github.com/videoforge/videoforge/catalog/postgres/pgadmin"
)

// CreateDatabase creates the database name on the server of adminDSN (a database the
// user may connect to, such as "postgres") unless it exists.
func CreateDatabase(ctx context.Context, adminDSN, name string) error {
	admin, err := pgadmin.Connect(ctx, adminDSN)
	if err != nil {
		return err
	}
	defer admin.Close()
	return admin.EnsureDatabase(ctx, name)
}
