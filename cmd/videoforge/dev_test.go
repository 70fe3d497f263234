package main

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/videoforge/videoforge/bus"
)

// TestDevNATSCredentials: the dev stack's embedded nats-server refuses clients without
// credentials, keeps the roles' passwords in the data folder, and gives the banner's
// read-only user subscriptions but not catalog publishes.
func TestDevNATSCredentials(t *testing.T) {
	data := t.TempDir()
	s := startDev(t, data)
	if code, body := call(t, "GET", s.gallery+"/api/gallery/health", "", ""); code != 200 {
		t.Fatalf("gallery health: %d %s", code, body)
	}
	u, err := url.Parse(s.nats)
	if err != nil || u.User == nil {
		t.Fatalf("banner's NATS URL %q names no user (%v)", s.nats, err)
	}
	pass, _ := u.User.Password()
	if u.User.Username() != string(bus.RoleReader) {
		t.Fatalf("banner's NATS user is %q, want the reader", u.User.Username())
	}
	keys := filepath.Join(data, "keys", "nats")
	for _, r := range bus.Roles() {
		b, err := os.ReadFile(bus.PasswordFile(keys, r))
		if err != nil {
			t.Fatalf("%s's password: %v", r, err)
		}
		if r == bus.RoleReader && strings.TrimSpace(string(b)) != pass {
			t.Fatalf("reader's password file does not hold the banner's password")
		}
	}
	anonymous := *u
	anonymous.User = nil
	if nc, err := nats.Connect(anonymous.String()); err == nil {
		nc.Close()
		t.Fatal("an anonymous client connected")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous client: %v, want an authorization violation", err)
	}

	errs := make(chan error, 16)
	nc, err := nats.Connect(s.nats, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(bus.CatalogSubjects)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("videoforge.catalog.video.1.updated", []byte(`{"version":999999}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("reader's publish: %v, want a permissions violation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the reader's catalog publish was not refused")
	}
	// The server answers a PING after delivering what came before it: a publish that
	// had passed would be pending on the subscription once Flush returns.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := sub.Pending(); n != 0 {
		t.Fatalf("the reader's forged event reached a subscriber (%d pending)", n)
	}
}
