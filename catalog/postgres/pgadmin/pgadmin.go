// Package pgadmin creates and drops PostgreSQL databases through a maintenance
// database (such as "postgres") of their server.
//
// It depends on pgx alone, so that the test helper pgcluster/pgtest can use it without
// importing the catalog's adapter.
package pgadmin

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Admin is a connection pool to a maintenance database. Its methods may be called
// concurrently.
type Admin struct {
	pool *pgxpool.Pool
}

// Connect opens a pool to adminDSN, a database the user may connect to, and checks
// that the server answers.
func Connect(ctx context.Context, adminDSN string) (*Admin, error) {
	pool, err := pgxpool.New(ctx, adminDSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return &Admin{pool: pool}, nil
}

// Close closes the pool.
func (a *Admin) Close() { a.pool.Close() }

// CreateDatabase creates database name as a copy of template or, when template is
// empty, of the server's default template. It fails if name exists.
func (a *Admin) CreateDatabase(ctx context.Context, name, template string) error {
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := a.pool.Exec(ctx, sql); err != nil {
		return fmt.Errorf("postgres: create database %s: %w", name, err)
	}
	return nil
}

// EnsureDatabase creates database name unless it exists.
func (a *Admin) EnsureDatabase(ctx context.Context, name string) error {
	var exists bool
	if err := a.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("postgres: look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	return a.CreateDatabase(ctx, name, "")
}

// DropDatabase drops database name, ending its sessions, if it exists.
func (a *Admin) DropDatabase(ctx context.Context, name string) error {
	if _, err := a.pool.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("postgres: drop database %s: %w", name, err)
	}
	return nil
}

// SealTemplate makes database name refuse connections and ends those it has, so that
// CREATE DATABASE … TEMPLATE name, which fails while anyone is connected to name, can
// copy it.
func (a *Admin) SealTemplate(ctx context.Context, name string) error {
	if _, err := a.pool.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("postgres: seal template database %s: %w", name, err)
	}
	if _, err := a.pool.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name); err != nil {
		return fmt.Errorf("postgres: seal template database %s: %w", name, err)
	}
	return nil
}
