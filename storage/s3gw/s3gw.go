// Package s3gw runs an S3-compatible server over a local folder (versitygw's embeddable
// gateway with its posix backend, which checks request signatures as S3 does): the
// object store of the dev stack and of tests.
//
// The gateway changes the process's working folder to its root and runs once per
// process, so callers pass absolute paths.
package s3gw

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
)

// Region is the region the gateway signs for.
const Region = "us-east-1"

// Gateway is a running S3 server.
type Gateway struct {
	// Endpoint is its URL, http://127.0.0.1:<port>.
	Endpoint string
	cancel   context.CancelFunc
	done     chan error
}

// Start serves dir (absolute) over the S3 API on a free loopback port, its root user
// accessKey with secretKey, and returns once it accepts connections (within 10 s).
func Start(dir, accessKey, secretKey string) (*Gateway, error) {
	be, err := posix.New(dir, meta.XattrMeta{}, posix.PosixOpts{})
	if err != nil {
		return nil, fmt.Errorf("s3gw: posix backend over %s: %w", dir, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{Endpoint: "http://" + addr, cancel: cancel, done: make(chan error, 1)}
	go func() {
		g.done <- embedgw.RunVersityGW(ctx, be, &embedgw.Config{
			RootUserAccess: accessKey, RootUserSecret: secretKey, Region: Region,
			Ports: []string{addr}, MaxConnections: 250, MaxRequests: 250, MultipartMaxParts: 10000, Quiet: true,
		})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return g, nil
		}
		select {
		case err := <-g.done:
			cancel()
			return nil, fmt.Errorf("s3gw: gateway stopped: %w", err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			g.Stop()
			return nil, fmt.Errorf("s3gw: gateway not listening on %s", addr)
		}
	}
}

// Stop stops the gateway, waiting up to 10 s.
func (g *Gateway) Stop() error {
	g.cancel()
	select {
	case err := <-g.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("s3gw: %w", err)
		}
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("s3gw: the gateway did not stop within 10 s")
	}
}
