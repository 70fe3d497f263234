package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerConfig configures the embedded nats-server.
type ServerConfig struct {
	// StoreDir is the folder JetStream keeps its streams in; required. It is created
	// when missing.
	StoreDir string
	// Host is the interface to listen on; empty means 127.0.0.1, so that the embedded
	// server is never reachable from other machines by accident.
	Host string
	// Port is the client port; 0 (or -1) picks a free one.
	Port int
	// Name is the server's name in logs and monitoring; empty means "videoforge".
	Name string
	// StartTimeout bounds start-up; 0 means 10 s.
	StartTimeout time.Duration
	// Log receives the server's log lines; nil discards them.
	Log *slog.Logger
	// Credentials, when not nil, are the only users the server accepts, one per role
	// with that role's permissions (see Permissions); clients without them are
	// refused. Nil leaves the server open to every client, which only tests want.
	Credentials Credentials
}

// Server is a running embedded nats-server with JetStream.
type Server struct {
	ns *server.Server
}

// Start runs a nats-server in this process and returns once it accepts clients. JetStream
// keeps its data in cfg.StoreDir and syncs every write to disk before acknowledging
// it (the configuration file's "sync_interval: always"): with the default lazy sync an
// acknowledged message can be lost in a crash, as Jepsen's 2025 analysis showed.
func Start(ctx context.Context, cfg ServerConfig) (*Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("bus: start nats-server: no store folder configured")
	}
	if err := os.MkdirAll(cfg.StoreDir, 0o755); err != nil {
		return nil, fmt.Errorf("bus: start nats-server: %w", err)
	}
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	port := cfg.Port
	if port == 0 {
		port = server.RANDOM_PORT // nats-server reads 0 as its default port, 4222
	}
	name := cfg.Name
	if name == "" {
		name = "videoforge"
	}
	timeout := cfg.StartTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	opts := &server.Options{
		ServerName: name,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		SyncAlways: true,
		NoSigs:     true, // the process's owner handles signals and calls Shutdown
	}
	if cfg.Credentials != nil {
		opts.Users = cfg.Credentials.Users()
		if len(opts.Users) == 0 {
			return nil, errors.New("bus: start nats-server: credentials hold no user")
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: start nats-server: %w", err)
	}
	logger := &serverLog{log: cfg.Log, fatal: make(chan string, 1)}
	if logger.log == nil {
		logger.log = slog.New(slog.DiscardHandler)
	}
	ns.SetLoggerV2(logger, false, false, false)
	go ns.Start()

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for !ns.ReadyForConnections(20 * time.Millisecond) {
		select {
		case msg := <-logger.fatal:
			ns.Shutdown()
			return nil, fmt.Errorf("bus: start nats-server on %s: %s", net.JoinHostPort(host, strconv.Itoa(cfg.Port)), msg)
		case <-ctx.Done():
			ns.Shutdown()
			return nil, fmt.Errorf("bus: start nats-server on %s: not ready: %w", net.JoinHostPort(host, strconv.Itoa(cfg.Port)), ctx.Err())
		default:
		}
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		return nil, errors.New("bus: start nats-server: JetStream did not start; see the server's log")
	}
	return &Server{ns: ns}, nil
}

// ClientURL returns the URL clients connect to, e.g. nats://127.0.0.1:4222.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Port returns the client port the server listens on, useful when it was picked at
// random and the server is to be restarted on the same one.
func (s *Server) Port() int {
	if a, ok := s.ns.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// NATSServer returns the running server, for monitoring and for tests that inspect
// its JetStream settings.
func (s *Server) NATSServer() *server.Server { return s.ns }

// Shutdown closes every client connection, stops JetStream (flushing its stores) and
// returns once the server has stopped.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// serverLog passes nats-server's log lines to slog. Routine notices (the start-up
// banner) go to debug; a fatal error is also handed to Start, since the server's own
// loggers would exit the process.
type serverLog struct {
	log   *slog.Logger
	fatal chan string
}

func (l *serverLog) Noticef(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "nats-server")
}

func (l *serverLog) Warnf(format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...), "component", "nats-server")
}

func (l *serverLog) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg, "component", "nats-server")
	select {
	case l.fatal <- msg:
	default:
	}
}

func (l *serverLog) Errorf(format string, v ...any) {
	l.log.Error(fmt.Sprintf(format, v...), "component", "nats-server")
}

func (l *serverLog) Debugf(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "nats-server")
}

func (l *serverLog) Tracef(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "nats-server")
}
