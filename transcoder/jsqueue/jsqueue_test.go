package jsqueue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/videoforge/videoforge/transcoder"
	"github.com/videoforge/videoforge/transcoder/jsqueue"
	"github.com/videoforge/videoforge/transcoder/queuetest"
)

// startJetStream runs an embedded nats-server with JetStream for one test.
func startJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func TestContract(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, opt queuetest.Options) (transcoder.Queue, transcoder.Queue) {
		js := startJetStream(t)
		q, err := jsqueue.New(context.Background(), js, jsqueue.Config{AckWait: opt.Visibility, MaxReceives: opt.MaxReceives, PollWait: opt.PollWait})
		if err != nil {
			t.Fatal(err)
		}
		dead, err := q.DeadLetters(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return q, dead
	})
}

func TestSendDeduplicates(t *testing.T) {
	js := startJetStream(t)
	ctx := context.Background()
	q, err := jsqueue.New(ctx, js, jsqueue.Config{PollWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := q.Send(ctx, "job-1", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	s, err := js.Stream(ctx, jsqueue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 || info.Config.Retention != jetstream.WorkQueuePolicy || !strings.HasPrefix(info.Config.Subjects[0], "videoforge.") {
		t.Fatalf("stream %+v holds %d messages", info.Config, info.State.Msgs)
	}
}

func TestReceiveStopsWithContext(t *testing.T) {
	js := startJetStream(t)
	q, err := jsqueue.New(context.Background(), js, jsqueue.Config{PollWait: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	d, err := q.Receive(ctx)
	if d != nil || err == nil || time.Since(began) > 5*time.Second {
		t.Fatalf("Receive returned %v, %v after %v; want the context's error at once", d, err, time.Since(began))
	}
}
