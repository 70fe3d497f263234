// Package postgres stores the catalog (videos, renditions, jobs and the outbox of
// catalog events) in PostgreSQL through pgx.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/schema"
)

// Config says how to reach the catalog database.
type Config struct {
	URL              string        // a pgx connection URL or keyword/value string
	Schema           string        // the schema holding the tables (DB_SCHEMA)
	MaxConns         int32         // pool size; 0 lets pgx choose
	StatementTimeout time.Duration // bounds every statement; 0 means none
	AppName          string        // application_name shown in pg_stat_activity
}

// Validate checks the configuration before anything connects.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("DATABASE_URL (or DB_HOST and DB_NAME) is not set")
	}
	if _, err := pgxpool.ParseConfig(c.URL); err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	if err := schema.ValidateSchema(c.Schema); err != nil {
		return fmt.Errorf("DB_SCHEMA: %w", err)
	}
	return nil
}

// DB is a connection pool to the catalog database.
type DB struct {
	pool *pgxpool.Pool
}

// Open creates the pool; it does not wait for the server, so that a catalog can start
// while PostgreSQL is still coming up and answer 503 meanwhile.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse config: %w", err)
	}
	pc.ConnConfig.RuntimeParams["search_path"] = cfg.Schema
	if cfg.StatementTimeout > 0 {
		pc.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(cfg.StatementTimeout.Milliseconds(), 10)
	}
	if cfg.AppName != "" {
		pc.ConnConfig.RuntimeParams["application_name"] = cfg.AppName
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: open pool: %w", err)
	}
	return &DB{pool: pool}, nil
}

// Pool returns the underlying pool, for tests that set up rows or faults with SQL of
// their own; every part of the system goes through the adapter's types.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return translate("ping", err)
	}
	return nil
}

// Close closes every connection of the pool.
func (db *DB) Close() { db.pool.Close() }

// translate turns a driver error into the project's error codes: missing rows become
// ENOTFOUND, constraint violations EINVALID or ECONFLICT, and a database that cannot
// be reached or is shutting down EUNAVAILABLE. Anything else stays internal.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var vfErr *videoforge.Error
	if errors.As(err, &vfErr) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return &videoforge.Error{Code: videoforge.ENOTFOUND, Message: "not found"}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505":
			return fmt.Errorf("postgres: %s: %w", op, videoforge.Errorf(videoforge.ECONFLICT, "already exists"))
		case pgErr.Code == "23503" || pgErr.Code == "23514" || pgErr.Code == "22001" || pgErr.Code == "22P02" || pgErr.Code == "22021":
			return fmt.Errorf("postgres: %s: %w", op, videoforge.Errorf(videoforge.EINVALID, "invalid value"))
		case pgErr.Code == "57014": // statement_timeout
			return fmt.Errorf("postgres: %s: %w: %w", op, videoforge.Errorf(videoforge.EUNAVAILABLE, "the database is too slow to answer"), err)
		case len(pgErr.Code) == 5 && (pgErr.Code[:2] == "08" || pgErr.Code[:2] == "53" || pgErr.Code[:2] == "57"):
			return fmt.Errorf("postgres: %s: %w: %w", op, videoforge.Errorf(videoforge.EUNAVAILABLE, "the database is unavailable"), err)
		}
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	// A connection cut mid-answer (a failover, a proxy closing) reads as an unexpected
	// EOF: the database is unavailable, not the request wrong.
	if errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("postgres: %s: %w: %w", op, videoforge.Errorf(videoforge.EUNAVAILABLE, "the database is unavailable"), err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}
