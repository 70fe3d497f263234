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

// TestProducerLeavesConsumer starts the upload side's producer before and after the
// transcoder's queue: the consumer keeps the AckWait the transcoder gave it, and a
// producer alone declares no consumer.
func TestProducerLeavesConsumer(t *testing.T) {
	js := startJetStream(t)
	ctx := context.Background()
	early, err := jsqueue.NewProducer(ctx, js, jsqueue.Config{AckWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := early.Send(ctx, "job-1", []byte("1")); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, jsqueue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := consumers(t, s); n != 0 {
		t.Fatalf("a producer alone declared %d consumers, want none", n)
	}

	const ackWait = 7 * time.Second
	q, err := jsqueue.New(ctx, js, jsqueue.Config{AckWait: ackWait, PollWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Producers starting after the transcoder, with the defaults and with other settings.
	for _, cfg := range []jsqueue.Config{{}, {AckWait: time.Second, MaxReceives: 1}} {
		p, err := jsqueue.NewProducer(ctx, js, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Send(ctx, "job-2", []byte("2")); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.Consumer(ctx, jsqueue.DefaultConsumer)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.AckWait != ackWait {
		t.Fatalf("consumer AckWait %v after producers started, want the transcoder's %v", info.Config.AckWait, ackWait)
	}
	if n := consumers(t, s); n != 1 {
		t.Fatalf("%d consumers on the stream, want the transcoder's one", n)
	}
	// What the producers sent reaches the transcoder, the early message included.
	var got []string
	for len(got) < 2 {
		d, err := q.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d == nil {
			t.Fatalf("received %q, want both messages", got)
		}
		got = append(got, string(d.Body()))
		if err := d.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(got, ",") != "1,2" {
		t.Fatalf("received %q, want 1 then 2 (the second send of job-2 de-duplicated)", got)
	}
}

func consumers(t *testing.T, s jetstream.Stream) int {
	t.Helper()
	n := 0
	names := s.ConsumerNames(context.Background())
	for range names.Name() {
		n++
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
