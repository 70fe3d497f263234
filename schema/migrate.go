// Package schema holds the catalog's database schema as versioned migrations embedded in
// the binary, and applies them.
package schema

import (
	"context"
	stdsql "database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultSchema is the schema the catalog lives in unless DB_SCHEMA says otherwise.
const DefaultSchema = "videoforge"

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// ValidateSchema reports whether name can be used as the catalog's schema: lower-case
// letters, digits and underscores, as PostgreSQL folds unquoted names.
func ValidateSchema(name string) error {
	if !schemaName.MatchString(name) {
		return fmt.Errorf("schema name %q: want lower-case letters, digits and _, at most 63, not starting with a digit", name)
	}
	return nil
}

// Migrate creates the schema when missing and applies every pending migration to it.
// Concurrent callers are serialised by goose's session lock.
func Migrate(ctx context.Context, dsn, schema string) error {
	if err := ValidateSchema(schema); err != nil {
		return err
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("migrate: parse database URL: %w", err)
	}
	cfg.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*cfg)
	defer db.Close()

	if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("migrate: create schema %s: %w", schema, err)
	}
	// One advisory lock per schema, so that catalog replicas starting together
	// migrate once while other schemas in the same database are not held up.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID(schema)))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	p, err := provider(db, goose.WithSessionLocker(locker))
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: schema %s: %w", schema, err)
	}
	return nil
}

// Version returns the schema's current migration version and the latest one known.
func Version(ctx context.Context, dsn, schema string) (current, latest int64, err error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return 0, 0, fmt.Errorf("migrate: parse database URL: %w", err)
	}
	cfg.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	p, err := provider(db)
	if err != nil {
		return 0, 0, err
	}
	current, err = p.GetDBVersion(ctx)
	if err != nil && !errors.Is(err, goose.ErrNoMigrations) {
		return 0, 0, fmt.Errorf("migrate: version: %w", err)
	}
	sources := p.ListSources()
	if len(sources) > 0 {
		latest = sources[len(sources)-1].Version
	}
	return current, latest, nil
}

func lockID(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("videoforge.migrate." + schema))
	return int64(h.Sum64() >> 1)
}

func provider(db *stdsql.DB, opts ...goose.ProviderOption) (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return p, nil
}
