package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/internal/testutil"
)

// startServer runs an embedded server on port (0: any) with its store in dir, shut
// down when the test ends.
func startServer(t *testing.T, dir string, port int) *bus.Server {
	t.Helper()
	srv, err := bus.Start(context.Background(), bus.ServerConfig{StoreDir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

func connect(t *testing.T, url string) *bus.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := bus.Connect(ctx, url, t.Name(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newEvent(videoID, version int64, typ string) *videoforge.Event {
	title := "A video"
	return &videoforge.Event{
		ID:         fmt.Sprintf("0192d4e0-0000-7000-8000-%012d", videoID*100+version),
		Type:       typ,
		OccurredAt: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC),
		Version:    version,
		Video: &videoforge.EventVideo{ID: videoID, UserID: "alice", Title: title, Visibility: videoforge.Public,
			Status:     videoforge.StatusReady,
			Renditions: []videoforge.Rendition{{Name: "720p", Width: 1280, Height: 720, Bandwidth: 2800000, Playlist: "videos/1/hls/720p/index.m3u8"}}},
	}
}

func TestStart(t *testing.T) {
	t.Run("SyncsEveryWrite", func(t *testing.T) {
		srv := startServer(t, t.TempDir(), 0)
		cfg := srv.NATSServer().JetStreamConfig()
		if cfg == nil || !cfg.SyncAlways {
			t.Fatalf("JetStream config %+v: want SyncAlways (sync_interval: always)", cfg)
		}
		if !strings.HasPrefix(srv.ClientURL(), "nats://127.0.0.1:") || srv.Port() <= 0 {
			t.Fatalf("ClientURL %q, Port %d: want a loopback URL and a port", srv.ClientURL(), srv.Port())
		}
	})
	t.Run("ErrPortInUse", func(t *testing.T) {
		srv := startServer(t, t.TempDir(), 0)
		began := time.Now()
		other, err := bus.Start(context.Background(), bus.ServerConfig{StoreDir: t.TempDir(), Port: srv.Port()})
		if err == nil {
			other.Shutdown()
			t.Fatal("a second server on the same port started")
		}
		if time.Since(began) > 5*time.Second {
			t.Fatalf("took %v to fail", time.Since(began))
		}
	})
	t.Run("ErrNoStoreDir", func(t *testing.T) {
		if _, err := bus.Start(context.Background(), bus.ServerConfig{}); err == nil {
			t.Fatal("started without a store folder")
		}
	})
}

func TestEnsureStreams(t *testing.T) {
	srv := startServer(t, t.TempDir(), 0)
	js := connect(t, srv.ClientURL()).JetStream()
	ctx := context.Background()
	for i := range 2 {
		if err := bus.EnsureStreams(ctx, js, bus.StreamOptions{}); err != nil {
			t.Fatalf("declaration %d: %v", i+1, err)
		}
	}
	for _, want := range []jetstream.StreamConfig{bus.CatalogStreamConfig(bus.StreamOptions{}), bus.JobsStreamConfig(bus.StreamOptions{})} {
		s, err := js.Stream(ctx, want.Name)
		if err != nil {
			t.Fatal(err)
		}
		got := s.CachedInfo().Config
		if strings.Join(got.Subjects, ",") != strings.Join(want.Subjects, ",") || got.Storage != jetstream.FileStorage ||
			got.Duplicates != bus.DuplicateWindow || got.MaxAge != want.MaxAge || got.Replicas != 1 {
			t.Errorf("stream %s: got %+v", want.Name, got)
		}
	}
	// A stream whose settings drifted is brought back; one that matches is left alone.
	drifted := bus.CatalogStreamConfig(bus.StreamOptions{})
	drifted.MaxAge = time.Hour
	if _, err := js.UpdateStream(ctx, drifted); err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureStreams(ctx, js, bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	if s, err := js.Stream(ctx, bus.CatalogStream); err != nil || s.CachedInfo().Config.MaxAge != bus.CatalogMaxAge {
		t.Errorf("drifted stream not brought back: %v", err)
	}
	// The subjects of the contract land in their streams.
	for subject, stream := range map[string]string{
		videoforge.CatalogSubject(42, videoforge.EventUpdated):    bus.CatalogStream,
		videoforge.CatalogSubject(1<<62, videoforge.EventDeleted): bus.CatalogStream,
		videoforge.JobSubject(7, videoforge.JobEventProgress):     bus.JobsStream,
		videoforge.JobSubject(7, videoforge.JobEventCompleted):    bus.JobsStream,
	} {
		ack, err := js.Publish(ctx, subject, []byte("{}"))
		if err != nil {
			t.Fatalf("publish on %s: %v", subject, err)
		}
		if ack.Stream != stream {
			t.Errorf("%s landed in %s, want %s", subject, ack.Stream, stream)
		}
	}
}

func TestPublishEvent(t *testing.T) {
	srv := startServer(t, t.TempDir(), 0)
	js := connect(t, srv.ClientURL()).JetStream()
	ctx := context.Background()
	if err := bus.EnsureStreams(ctx, js, bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	ev := newEvent(42, 3, videoforge.EventUpdated)

	t.Run("OK", func(t *testing.T) {
		ack, err := bus.PublishEvent(ctx, js, ev)
		if err != nil {
			t.Fatal(err)
		}
		if ack.Stream != bus.CatalogStream || ack.Duplicate {
			t.Fatalf("ack %+v", ack)
		}
	})
	t.Run("Duplicate", func(t *testing.T) {
		ack, err := bus.PublishEvent(ctx, js, ev)
		if err != nil {
			t.Fatal(err)
		}
		if !ack.Duplicate {
			t.Fatalf("second publish of %s not seen as a duplicate: %+v", ev.ID, ack)
		}
		s, err := js.Stream(ctx, bus.CatalogStream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != 1 {
			t.Fatalf("stream holds %d messages, want 1", info.State.Msgs)
		}
	})
	t.Run("Decode", func(t *testing.T) {
		cons, err := js.OrderedConsumer(ctx, bus.CatalogStream, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if got := msg.Headers().Get(jetstream.MsgIDHeader); got != ev.ID {
			t.Errorf("Nats-Msg-Id %q, want %q", got, ev.ID)
		}
		if got := msg.Headers().Get(bus.VersionHeader); got != "3" {
			t.Errorf("%s %q, want 3", bus.VersionHeader, got)
		}
		if got := msg.Headers().Get(bus.SchemaHeader); got != bus.CatalogSchema {
			t.Errorf("%s %q, want %s", bus.SchemaHeader, got, bus.CatalogSchema)
		}
		got, err := bus.DecodeEvent(msg)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(ev)
		have, _ := json.Marshal(got)
		if string(want) != string(have) || got.Version != 3 {
			t.Fatalf("decoded\n%s\nwant\n%s", have, want)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		bad := newEvent(42, 0, videoforge.EventUpdated)
		if _, err := bus.PublishEvent(ctx, js, bad); videoforge.ErrorCode(err) != videoforge.EINVALID {
			t.Fatalf("publishing an event without a version: %v", err)
		}
	})
}

func TestConnect(t *testing.T) {
	t.Run("ReconnectsAfterRestart", func(t *testing.T) {
		dir := t.TempDir()
		srv, err := bus.Start(context.Background(), bus.ServerConfig{StoreDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		port := srv.Port()
		c := connect(t, srv.ClientURL())
		js := c.JetStream()
		ctx := context.Background()
		if err := bus.EnsureStreams(ctx, js, bus.StreamOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := bus.PublishEvent(ctx, js, newEvent(1, 1, videoforge.EventCreated)); err != nil {
			t.Fatal(err)
		}
		srv.Shutdown()
		testutil.WaitFor(t, 5*time.Second, "client sees the server gone", func() error {
			if c.NATS().IsConnected() {
				return errors.New("still connected")
			}
			return nil
		})
		startServer(t, dir, port)
		testutil.WaitFor(t, 10*time.Second, "client reconnects", func() error {
			if !c.NATS().IsConnected() {
				return errors.New("not connected")
			}
			return nil
		})
		if _, err := bus.PublishEvent(ctx, js, newEvent(1, 2, videoforge.EventUpdated)); err != nil {
			t.Fatal(err)
		}
		s, err := js.Stream(ctx, bus.CatalogStream)
		if err != nil {
			t.Fatal(err)
		}
		if n := s.CachedInfo().State.Msgs; n != 2 {
			t.Fatalf("stream holds %d messages after the restart, want 2 (the first one survives)", n)
		}
	})
	t.Run("WaitsForServer", func(t *testing.T) {
		port := freePort(t)
		dir := t.TempDir()
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := bus.Connect(ctx, "nats://127.0.0.1:"+strconv.Itoa(port), "waiter", nil)
			if err == nil {
				c.Close()
			}
			done <- err
		}()
		startServer(t, dir, port)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrContextEnds", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := bus.Connect(ctx, "nats://127.0.0.1:"+strconv.Itoa(freePort(t)), "nobody", nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the context's deadline", err)
		}
	})
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
