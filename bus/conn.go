package bus

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Connection settings. A VideoForge process never gives up on NATS: it reconnects
// forever, and what it publishes meanwhile waits in the reconnect buffer.
const (
	// ReconnectWait is the pause between reconnect attempts (plus jitter).
	ReconnectWait = 250 * time.Millisecond
	// ReconnectBufSize is how many bytes of publishes are kept while reconnecting.
	ReconnectBufSize = 16 << 20
	// PublishAckTimeout bounds the wait for JetStream's ack of an asynchronous
	// publish; after it the publish counts as failed (and is retried by its owner).
	PublishAckTimeout = 10 * time.Second
	// DrainTimeout bounds Close.
	DrainTimeout = 5 * time.Second
)

// CAFileEnv names the variable that holds the path of the PEM file of the CA that
// signs the NATS servers' certificates (the Terraform cluster's, whose client URLs are
// tls://). Every connection VideoForge makes trusts that CA when it is set, whatever
// its URLs' scheme: a server that requires TLS gets it from a nats:// URL too.
const CAFileEnv = "NATS_CA_FILE"

// TLSOptions returns the connection options that make a client verify the servers'
// certificates with the CA named by NATS_CA_FILE; none when it is unset.
func TLSOptions() []nats.Option {
	if f := os.Getenv(CAFileEnv); f != "" {
		return []nats.Option{nats.RootCAs(f)}
	}
	return nil
}

// Conn is a connection to NATS with its JetStream context.
type Conn struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	closed chan struct{}
}

// Connect connects to the NATS server or cluster at servers (one URL or a comma-separated
// list; credentials may be in the URLs) under the client name name, and returns once
// connected, retrying until ctx ends. From then on it reconnects endlessly, logging
// every disconnect and reconnect to log (nil discards). A connection whose URL names a
// user takes its replies on that user's own inboxes (InboxPrefix), the only ones the
// user may subscribe to.
func Connect(ctx context.Context, servers, name string, log *slog.Logger) (*Conn, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "nats")
	c := &Conn{closed: make(chan struct{})}
	opts := TLSOptions()
	if user := urlUser(servers); user != "" && !strings.ContainsAny(user, ".*> \t") {
		opts = append(opts, nats.CustomInboxPrefix(InboxPrefix(user)))
	}
	nc, err := nats.Connect(servers, append(opts,
		nats.Name(name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(ReconnectWait),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.ReconnectBufSize(ReconnectBufSize),
		nats.DrainTimeout(DrainTimeout),
		nats.ConnectHandler(func(nc *nats.Conn) {
			log.Info("connected to NATS", "url", nc.ConnectedUrlRedacted(), "name", name)
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() || nc.IsDraining() {
				log.Debug("disconnected from NATS", "name", name)
				return
			}
			log.Warn("disconnected from NATS; reconnecting", "err", err, "name", name)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted(), "name", name)
		}),
		nats.ReconnectErrHandler(func(nc *nats.Conn, err error) {
			log.Debug("NATS reconnect attempt failed", "err", err, "name", name)
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Error("NATS error", "err", err, "subject", subject, "name", name)
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(c.closed) }),
	)...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect to %s: %w", redact(servers), err)
	}
	if !nc.IsConnected() {
		log.Info("waiting for NATS", "url", redact(servers), "name", name)
		ch := nc.StatusChanged(nats.CONNECTED)
		if !nc.IsConnected() {
			select {
			case <-ch:
			case <-ctx.Done():
				nc.RemoveStatusListener(ch)
				nc.Close()
				return nil, fmt.Errorf("bus: connect to %s: %w", redact(servers), ctx.Err())
			}
		}
		nc.RemoveStatusListener(ch)
	}
	c.nc = nc
	c.js, err = jetstream.New(nc, jetstream.WithPublishAsyncTimeout(PublishAckTimeout))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("bus: connect to %s: jetstream: %w", redact(servers), err)
	}
	return c, nil
}

// JetStream returns the connection's JetStream context. Its asynchronous publishes
// fail after PublishAckTimeout without an ack, so that nothing waits forever.
func (c *Conn) JetStream() jetstream.JetStream { return c.js }

// NATS returns the underlying connection, for core subscriptions and status.
func (c *Conn) NATS() *nats.Conn { return c.nc }

// Close drains the connection (subscriptions finish the messages they hold, pending
// publishes are flushed) and closes it, waiting at most a little over DrainTimeout.
func (c *Conn) Close() {
	if err := c.nc.Drain(); err != nil {
		c.nc.Close() // not connected: there is nothing to drain
	}
	select {
	case <-c.closed:
	case <-time.After(DrainTimeout + time.Second):
		c.nc.Close()
	}
}

// redact hides passwords in a list of NATS URLs, for logs and errors.
func redact(servers string) string {
	parts := strings.Split(servers, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if u, err := url.Parse(p); err == nil && u.User != nil {
			p = u.Redacted()
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}
