package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/schema"
)

// declared records every environment variable a command's flags read, with the
// commands that read it, for the test that holds the README's tables to them.
var declared = struct {
	sync.Mutex
	vars map[string][]string
}{vars: map[string][]string{}}

func declare(command, env string) {
	if env == "" {
		return
	}
	declared.Lock()
	defer declared.Unlock()
	if !slices.Contains(declared.vars[env], command) {
		declared.vars[env] = append(declared.vars[env], command)
	}
}

// flags is a flag set whose flags also read an environment variable each: a flag given
// on the command line wins, else the variable, else the default.
type flags struct {
	*flag.FlagSet
	env map[string]string // flag name -> variable
}

func newFlags(name, usage string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	f := &flags{FlagSet: fs, env: map[string]string{}}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: videoforge %s [flags]\n\n%s\n\nflags (each also read from the environment variable shown):\n", name, usage)
		fs.PrintDefaults()
	}
	return f
}

func (f *flags) string(name, env, def, usage string) *string {
	f.env[name] = env
	declare(f.Name(), env)
	return f.String(name, def, usage+envNote(env))
}

func (f *flags) duration(name, env string, def time.Duration, usage string) *time.Duration {
	f.env[name] = env
	declare(f.Name(), env)
	return f.Duration(name, def, usage+envNote(env))
}

func (f *flags) int(name, env string, def int, usage string) *int {
	f.env[name] = env
	declare(f.Name(), env)
	return f.Int(name, def, usage+envNote(env))
}

func (f *flags) bool(name, env string, def bool, usage string) *bool {
	f.env[name] = env
	declare(f.Name(), env)
	return f.Bool(name, def, usage+envNote(env))
}

func envNote(env string) string {
	if env == "" {
		return ""
	}
	return " ($" + env + ")"
}

// parse reads the command line, then fills the flags not given there from their
// variables (or from the file named by VAR_FILE, for secrets). A bad value is an error
// naming the variable.
func (f *flags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", f.Arg(0))
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	var errs []error
	for name, env := range f.env {
		if set[name] || env == "" {
			continue
		}
		v, ok, err := lookupEnv(env)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue
		}
		if err := f.Set(name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
		}
	}
	return errors.Join(errs...)
}

// lookupEnv reads VAR, or the contents of the file named by VAR_FILE.
func lookupEnv(name string) (string, bool, error) {
	if v, ok := os.LookupEnv(name); ok {
		return v, true, nil
	}
	if path, ok := os.LookupEnv(name + "_FILE"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", false, fmt.Errorf("%s_FILE: %w", name, err)
		}
		return strings.TrimRight(string(b), "\r\n"), true, nil
	}
	return "", false, nil
}

// dbFlags are the database settings every role that talks to PostgreSQL takes.
type dbFlags struct {
	url, schema *string
	timeout     *time.Duration
}

func (f *flags) database() *dbFlags {
	return &dbFlags{
		url:     f.string("database-url", "DATABASE_URL", "", "PostgreSQL URL; when empty it is built from DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD and DB_SSLMODE"),
		schema:  f.string("db-schema", "DB_SCHEMA", schema.DefaultSchema, "schema holding the catalog's tables"),
		timeout: f.duration("db-statement-timeout", "DB_STATEMENT_TIMEOUT", 10*time.Second, "bound on each SQL statement"),
	}
}

// config returns the database configuration, building the URL from the seed's DB_*
// variables when no URL was given.
func (d *dbFlags) config(app string) (postgres.Config, error) {
	u := *d.url
	if u == "" {
		var err error
		if u, err = urlFromSeedEnv(); err != nil {
			return postgres.Config{}, err
		}
	}
	cfg := postgres.Config{URL: u, Schema: *d.schema, StatementTimeout: *d.timeout, AppName: app}
	return cfg, cfg.Validate()
}

// urlFromSeedEnv builds a PostgreSQL URL from DB_HOST, DB_PORT, DB_NAME, DB_USER,
// DB_PASSWORD (or DB_PASSWORD_FILE) and DB_SSLMODE, the names the seed's services used.
func urlFromSeedEnv() (string, error) {
	host := os.Getenv("DB_HOST")
	if host == "" {
		return "", errors.New("no database configured: set DATABASE_URL, or DB_HOST and DB_NAME (with DB_PORT, DB_USER, DB_PASSWORD)")
	}
	name := os.Getenv("DB_NAME")
	if name == "" {
		return "", errors.New("DB_HOST is set but DB_NAME is not")
	}
	port := os.Getenv("DB_PORT")
	if port == "" {
		port = "5432"
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return "", fmt.Errorf("DB_PORT=%q: not a port number", port)
		}
	}
	user := os.Getenv("DB_USER")
	if user == "" {
		user = "postgres"
	}
	pass, _, err := lookupEnv("DB_PASSWORD")
	if err != nil {
		return "", err
	}
	ssl := os.Getenv("DB_SSLMODE")
	if ssl == "" {
		ssl = "prefer"
	}
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(host, port), Path: "/" + name, RawQuery: "sslmode=" + url.QueryEscape(ssl)}
	if pass != "" {
		u.User = url.UserPassword(user, pass)
	} else {
		u.User = url.User(user)
	}
	return u.String(), nil
}

// splitList splits a comma-separated setting, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
