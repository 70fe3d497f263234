// Package pgcluster runs a private PostgreSQL cluster from the local server binaries.
//
// The dev stack keeps its data in a cluster started with Fsync on; tests start
// throwaway clusters with Fsync off. Servers listen on 127.0.0.1 only, without
// Unix sockets, and trust every connection: they are for one machine's own use.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// installHint is appended to every "binaries not found" error so the reader
// knows the one command that fixes it.
const installHint = `install them with "apt-get install -y postgresql", ` +
	`or set PG_BIN to the folder holding initdb and pg_ctl`

const (
	startAttempts = 5                // tries when a picked port is taken meanwhile
	stopTimeout   = 30 * time.Second // pg_ctl -t for a fast stop
	killTimeout   = 10 * time.Second // pg_ctl -t for an immediate stop
)

// errPortInUse marks a start that failed because another process bound the port.
var errPortInUse = errors.New("port already in use")

// BinDir returns the folder holding the PostgreSQL server binaries: $PG_BIN if
// set, else the newest /usr/lib/postgresql/*/bin (the Debian layout), else
// the folder named by `pg_config --bindir`.
func BinDir() (string, error) {
	if dir := os.Getenv("PG_BIN"); dir != "" {
		if !hasServer(dir) {
			return "", fmt.Errorf("pgcluster: PG_BIN=%s has no initdb and pg_ctl: %s", dir, installHint)
		}
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, dir := range dirs {
		if hasServer(dir) {
			return dir, nil
		}
	}
	// pg_config also comes with libpq-dev alone, so its answer must be checked too.
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); hasServer(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("pgcluster: PostgreSQL server binaries (initdb, pg_ctl) not found: %s", installHint)
}

func hasServer(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

// versionOf turns /usr/lib/postgresql/9.6/bin into 9.06 and .../15/bin into 15,
// so that 15 sorts above 9.6.
func versionOf(binDir string) float64 {
	major, minor, _ := strings.Cut(filepath.Base(filepath.Dir(binDir)), ".")
	v, _ := strconv.Atoi(major)
	m, _ := strconv.Atoi(minor)
	return float64(v) + float64(m)/100
}

// Options configures Start.
type Options struct {
	// Fsync keeps the server's default fsync=on. Tests leave it false: a
	// throwaway cluster does not need to survive a power cut, and runs faster.
	Fsync bool
	// Port is the TCP port on 127.0.0.1. Zero picks a free one.
	Port int
	// Log receives start and stop events. Nil discards them.
	Log *slog.Logger
}

// Cluster is a running PostgreSQL server on 127.0.0.1 with its data in Dir.
type Cluster struct {
	// Dir is the absolute path of the data folder; the server log is Dir/server.log.
	Dir string
	// Port is the TCP port the server listens on.
	Port int

	bin     string
	runuser string // path of runuser when running as root, else ""
	log     *slog.Logger

	mu      sync.Mutex
	stopped bool
}

// Start initialises dir as a cluster if it is not one yet, then starts a server
// on it listening on 127.0.0.1 only. ctx bounds initialisation and start-up.
//
// As root it runs the server as the unprivileged "postgres" user, which
// PostgreSQL insists on: it hands dir to that user and makes every parent
// folder traversable (o+x) so the server can reach it.
func Start(ctx context.Context, dir string, opt Options) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("pgcluster: start: %w", err)
	}
	// pg_ctl pastes the log path into a /bin/sh command line inside double quotes.
	if strings.ContainsAny(dir, "\"$`\\\n") {
		return nil, fmt.Errorf("pgcluster: start: data folder %q has a character pg_ctl cannot quote", dir)
	}
	c := &Cluster{Dir: dir, bin: bin, log: opt.Log}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if err := c.prepareDir(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.initdb(ctx, opt.Fsync); err != nil {
			return nil, err
		}
	}
	for attempt := 1; ; attempt++ {
		port := opt.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, fmt.Errorf("pgcluster: start %s: %w", dir, err)
			}
		}
		err := c.start(ctx, port, opt.Fsync)
		if err == nil {
			c.Port = port
			return c, nil
		}
		if opt.Port != 0 || attempt == startAttempts || !errors.Is(err, errPortInUse) {
			return nil, err
		}
		c.log.Warn("pgcluster: port taken meanwhile, trying another", "port", port)
	}
}

// prepareDir creates dir and, as root, makes it usable by the postgres user.
func (c *Cluster) prepareDir() error {
	if os.Geteuid() != 0 {
		return nil // initdb creates dir itself; pg_ctl finds any problem with an existing one.
	}
	var err error
	if c.runuser, err = exec.LookPath("runuser"); err != nil {
		return fmt.Errorf("pgcluster: running as root needs runuser (util-linux): %w", err)
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("pgcluster: running as root needs a postgres user (apt-get install -y postgresql creates it): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: create %s: %w", c.Dir, err)
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := os.Chown(c.Dir, uid, gid); err != nil {
			return fmt.Errorf("pgcluster: give %s to postgres: %w", c.Dir, err)
		}
	}
	// t.TempDir and os.MkdirTemp make 0700 folders; postgres needs to walk through them.
	for p := filepath.Dir(c.Dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pgcluster: make %s traversable: %w", p, err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			mode := fi.Mode() & (os.ModePerm | os.ModeSetgid | os.ModeSetuid | os.ModeSticky)
			if err := os.Chmod(p, mode|0o001); err != nil {
				return fmt.Errorf("pgcluster: make %s traversable: %w", p, err)
			}
			c.log.Info("pgcluster: made folder traversable for postgres", "dir", p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// initdb makes dir a cluster. dir must be missing or empty; if initdb fails,
// even killed by ctx, what it left is removed so that the next Start does not
// mistake a half-made cluster for a real one.
func (c *Cluster) initdb(ctx context.Context, fsync bool) error {
	began := time.Now()
	if entries, err := os.ReadDir(c.Dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("pgcluster: initdb %s: folder is neither empty nor a PostgreSQL cluster", c.Dir)
	}
	args := []string{"-D", c.Dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"}
	if !fsync {
		args = append(args, "--no-sync")
	}
	if out, err := c.run(ctx, "initdb", args...); err != nil {
		if entries, rerr := os.ReadDir(c.Dir); rerr == nil {
			for _, e := range entries {
				_ = os.RemoveAll(filepath.Join(c.Dir, e.Name()))
			}
		}
		return fmt.Errorf("pgcluster: initdb %s: %w\n%s", c.Dir, err, tail(out, 2000))
	}
	c.log.Info("pgcluster: initialised cluster", "dir", c.Dir, "took", time.Since(began))
	return nil
}

// start runs pg_ctl start once. pg_ctl -w waits for the "ready" status that the
// server (PostgreSQL 10 and later) writes to postmaster.pid, so no Unix socket
// is needed for the wait. A postmaster.pid left by a killed server is ignored
// by the server when its PID is gone.
func (c *Cluster) start(ctx context.Context, port int, fsync bool) error {
	began := time.Now()
	logFile := filepath.Join(c.Dir, "server.log")
	var logStart int64
	if fi, err := os.Stat(logFile); err == nil {
		logStart = fi.Size()
	}
	oldPID := c.pid()
	wait := 60
	if d, ok := ctx.Deadline(); ok {
		wait = max(1, int(time.Until(d).Seconds()))
	}
	// pg_ctl hands -o to /bin/sh, so the empty value needs its quotes.
	server := "-p " + strconv.Itoa(port) + " -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
	if !fsync {
		server += " -c fsync=off"
	}
	out, err := c.run(ctx, "pg_ctl", "start", "-D", c.Dir, "-l", logFile, "-w", "-t", strconv.Itoa(wait), "-o", server)
	if err == nil {
		c.log.Info("pgcluster: started", "dir", c.Dir, "port", port, "took", time.Since(began))
		return nil
	}
	serverLog := readFrom(logFile, logStart)
	// A start cut short by ctx or by pg_ctl's own timeout may leave a server
	// coming up; stop it unless the pid file is still that of another server.
	if pid := c.pid(); pid != 0 && pid != oldPID && (ctx.Err() != nil || bytes.Contains(out, []byte("did not start in time"))) {
		stopCtx, cancel := context.WithTimeout(context.Background(), killTimeout+5*time.Second)
		defer cancel()
		_, _ = c.run(stopCtx, "pg_ctl", "stop", "-D", c.Dir, "-m", "immediate", "-w", "-t", strconv.Itoa(int(killTimeout.Seconds())))
	}
	if strings.Contains(serverLog, "Address already in use") {
		err = fmt.Errorf("%w: %w", errPortInUse, err)
	}
	hint := ""
	if strings.Contains(serverLog, `lock file "postmaster.pid" already exists`) {
		hint = "\nA server from an earlier run may still be using this folder; stop it with: " + c.stopCommand()
	}
	return fmt.Errorf("pgcluster: start %s on port %d: %w\n%s\nserver log:\n%s%s",
		c.Dir, port, err, bytes.TrimSpace(out), tail([]byte(serverLog), 2000), hint)
}

// DSN returns a pgx-compatible URL for database on the cluster, as the
// superuser postgres, without TLS.
func (c *Cluster) DSN(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Stop shuts the server down in "fast" mode: sessions are ended, data is
// flushed and kept. If that fails or takes more than 30 s it stops the server
// in "immediate" mode instead. Calling it after a successful stop does nothing.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.stop("fast", stopTimeout)
	if err != nil {
		c.log.Warn("pgcluster: fast stop failed, stopping immediately", "dir", c.Dir, "err", err)
		if c.stop("immediate", killTimeout) == nil {
			return nil
		}
	}
	return err
}

// Kill shuts the server down in "immediate" mode, without a final checkpoint:
// the quickest way to end a throwaway cluster. Data written so far survives
// through crash recovery at the next start. Calling it after a successful
// stop does nothing.
func (c *Cluster) Kill() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stop("immediate", killTimeout)
}

// stop runs pg_ctl stop in mode; c.mu must be held.
func (c *Cluster) stop(mode string, timeout time.Duration) error {
	if c.stopped {
		return nil
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+5*time.Second)
	defer cancel()
	out, err := c.run(ctx, "pg_ctl", "stop", "-D", c.Dir, "-m", mode, "-w", "-t", strconv.Itoa(int(timeout.Seconds())))
	if err != nil {
		return fmt.Errorf("pgcluster: stop %s (%s): %w\n%s", c.Dir, mode, err, bytes.TrimSpace(out))
	}
	c.stopped = true
	c.log.Info("pgcluster: stopped", "dir", c.Dir, "mode", mode, "took", time.Since(began))
	return nil
}

// run runs one of the server binaries, as the postgres user when we are root,
// and returns its combined output. Cancelling ctx kills its process group;
// the server itself lives in its own session (pg_ctl detaches it) and survives.
func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	argv := append([]string{filepath.Join(c.bin, name)}, args...)
	if c.runuser != "" {
		argv = append([]string{c.runuser, "-u", "postgres", "--"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = "/" // the caller's folder may be closed to the postgres user
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return out.Bytes(), err
}

// stopCommand spells out, for error messages, how to stop a server on Dir by hand.
func (c *Cluster) stopCommand() string {
	cmd := filepath.Join(c.bin, "pg_ctl") + " stop -D " + c.Dir + " -m fast"
	if c.runuser != "" {
		cmd = "runuser -u postgres -- " + cmd
	}
	return cmd
}

// pid returns the PID recorded in Dir/postmaster.pid, or 0.
func (c *Cluster) pid() int {
	b, err := os.ReadFile(filepath.Join(c.Dir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

// freePort asks the kernel for a free port. Another process may take it before
// the server binds it; Start retries when that happens.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// readFrom returns what was appended to a file since offset, at most its last 64 KiB.
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size()-offset > 64<<10 {
		offset = fi.Size() - 64<<10
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// tail keeps the last n bytes of b, which is where the reason for a failure is.
func tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = append([]byte("…"), b[len(b)-n:]...)
	}
	return string(b)
}
