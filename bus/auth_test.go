package bus_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/transcoder"
	"github.com/videoforge/videoforge/transcoder/jsqueue"
)

// startAuthServer runs an embedded server that requires the roles' credentials, kept
// in a folder as `videoforge dev` keeps them.
func startAuthServer(t *testing.T) (*bus.Server, bus.Credentials) {
	t.Helper()
	creds, err := bus.LoadOrCreateCredentials(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := bus.Start(context.Background(), bus.ServerConfig{StoreDir: t.TempDir(), Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv, creds
}

// rawConn connects with the stock client's defaults (the _INBOX prefix, as the edge
// and the nats CLI use) and hands the asynchronous errors it gets, permission
// violations among them, to errs.
func rawConn(t *testing.T, url string) (*nats.Conn, chan error) {
	t.Helper()
	errs := make(chan error, 64)
	nc, err := nats.Connect(url, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, errs
}

// waitViolation waits for the server to refuse an operation on subject.
func waitViolation(t *testing.T, errs chan error, subject string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case err := <-errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+subject+`"`) {
				return
			}
		case <-timeout:
			t.Fatalf("no permissions violation reported for %s", subject)
		}
	}
}

func TestAuthRefusesWithoutCredentials(t *testing.T) {
	srv, creds := startAuthServer(t)
	for name, url := range map[string]string{
		"Anonymous":     srv.ClientURL(),
		"WrongPassword": bus.WithUser(srv.ClientURL(), string(bus.RoleReader), creds[bus.RoleRelay]),
		"UnknownUser":   bus.WithUser(srv.ClientURL(), "admin", creds[bus.RoleRelay]),
	} {
		t.Run(name, func(t *testing.T) {
			nc, err := nats.Connect(url)
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			if !errors.Is(err, nats.ErrAuthorization) {
				t.Fatalf("err = %v, want an authorization violation", err)
			}
		})
	}
}

func TestLoadOrCreateCredentials(t *testing.T) {
	dir := t.TempDir()
	a, err := bus.LoadOrCreateCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bus.LoadOrCreateCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range bus.Roles() {
		if a[r] == "" || a[r] != b[r] {
			t.Errorf("%s: password %q, then %q: want one kept password", r, a[r], b[r])
		}
		if seen[a[r]] {
			t.Errorf("%s: password shared with another role", r)
		}
		seen[a[r]] = true
		fi, err := os.Stat(bus.PasswordFile(dir, r))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", r, fi.Mode().Perm())
		}
	}
}

// TestAuthRolesDoTheirJobs runs each role's part with its own user: the relay declares
// the streams and publishes a catalog event, the upload side queues a job, the
// transcoder takes it (heartbeat, release, dead letter, ack) and publishes job events,
// and readers follow both streams as the edge, the upload command and the nats CLI do.
func TestAuthRolesDoTheirJobs(t *testing.T) {
	srv, creds := startAuthServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := func(r bus.Role) string { return creds.URL(srv.ClientURL(), r) }

	relay := connect(t, url(bus.RoleRelay))
	if err := bus.EnsureStreams(ctx, relay.JetStream(), bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	// A reader subscribed as `nats sub` does, before anything is published.
	cli, _ := rawConn(t, url(bus.RoleReader))
	catalogSub, err := cli.SubscribeSync(bus.CatalogSubjects)
	if err != nil {
		t.Fatal(err)
	}
	jobsSub, err := cli.SubscribeSync(bus.JobsSubjects)
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.PublishEvent(ctx, relay.JetStream(), newEvent(7, 1, videoforge.EventUpdated)); err != nil {
		t.Fatalf("relay publishes: %v", err)
	}
	if f, err := relay.JetStream().PublishMsgAsync(bus.NewCatalogMsg(videoforge.CatalogSubject(7, videoforge.EventUpdated), "e2", 2, []byte(`{}`))); err != nil {
		t.Fatal(err)
	} else {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatalf("relay publishes asynchronously: %v", err)
		}
	}
	if m, err := catalogSub.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("nats sub on %s: %v", bus.CatalogSubjects, err)
	} else if m.Subject != videoforge.CatalogSubject(7, videoforge.EventUpdated) {
		t.Fatalf("nats sub got %s", m.Subject)
	}

	// Readers: the edge (stock inbox) and the upload command (bus.Connect) look the
	// stream up, follow it with an ordered consumer and read a single message.
	edgeNC, _ := rawConn(t, url(bus.RoleReader))
	edgeJS, err := jetstream.New(edgeNC)
	if err != nil {
		t.Fatal(err)
	}
	for name, js := range map[string]jetstream.JetStream{"edge": edgeJS, "bus": connect(t, url(bus.RoleReader)).JetStream()} {
		s, err := js.Stream(ctx, bus.CatalogStream)
		if err != nil {
			t.Fatalf("%s reader: stream: %v", name, err)
		}
		info, err := s.Info(ctx)
		if err != nil || info.State.LastSeq != 2 {
			t.Fatalf("%s reader: stream info: %v, %+v", name, err, info)
		}
		if name, err := js.StreamNameBySubject(ctx, bus.CatalogSubjects); err != nil || name != bus.CatalogStream {
			t.Fatalf("reader: stream by subject (the nats CLI's sub --all): %q, %v", name, err)
		}
		if _, err := s.GetLastMsgForSubject(ctx, videoforge.CatalogSubject(7, videoforge.EventUpdated)); err != nil {
			t.Fatalf("%s reader: direct get: %v", name, err)
		}
		follow(ctx, t, name, js, bus.CatalogStream, bus.CatalogSubjects, 2)
	}

	// The upload side queues a job and says so.
	uploads := connect(t, url(bus.RoleUploads))
	if err := bus.EnsureStreams(ctx, uploads.JetStream(), bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	uq, err := jsqueue.NewProducer(ctx, uploads.JetStream(), jsqueue.Config{})
	if err != nil {
		t.Fatalf("upload side declares the work queue: %v", err)
	}
	if err := uq.Send(ctx, "job-1", []byte(`{"jobId":1}`)); err != nil {
		t.Fatalf("upload side queues: %v", err)
	}
	if err := (bus.JobEvents{JS: uploads.JetStream()}).PublishJobEvent(ctx, videoforge.JobEvent{JobID: 1, Type: videoforge.JobEventQueued, OccurredAt: time.Now()}); err != nil {
		t.Fatalf("upload side publishes queued: %v", err)
	}

	// The transcoder takes it, keeps it, gives it back, and sees it dead-lettered after
	// its one allowed receive; then it takes it from the dead letters and acks it.
	tc := connect(t, url(bus.RoleTranscoder))
	if err := bus.EnsureStreams(ctx, tc.JetStream(), bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	tq, err := jsqueue.New(ctx, tc.JetStream(), jsqueue.Config{MaxReceives: 1, PollWait: time.Second})
	if err != nil {
		t.Fatalf("transcoder declares the work queue: %v", err)
	}
	dq, err := tq.DeadLetters(ctx)
	if err != nil {
		t.Fatalf("transcoder declares the dead letters' consumer: %v", err)
	}
	d := receive(ctx, t, tq)
	if err := d.Extend(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := d.Release(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if d, err := tq.Receive(ctx); err != nil || d != nil { // the second receive moves it to the dead letters
		t.Fatalf("second receive: %v, %v; want it dead-lettered", d, err)
	}
	dd := receive(ctx, t, dq)
	if string(dd.Body()) != `{"jobId":1}` {
		t.Fatalf("dead letter %q", dd.Body())
	}
	if err := dd.Ack(ctx); err != nil {
		t.Fatalf("transcoder acks: %v", err)
	}
	ev := bus.JobEvents{JS: tc.JetStream()}
	if err := ev.PublishJobEvent(ctx, videoforge.JobEvent{JobID: 1, Type: videoforge.JobEventFailed, OccurredAt: time.Now()}); err != nil {
		t.Fatalf("transcoder publishes job events: %v", err)
	}
	for _, want := range []string{"videoforge.jobs.1.queued", "videoforge.jobs.1.failed"} {
		m, err := jobsSub.NextMsg(10 * time.Second)
		if err != nil || m.Subject != want {
			t.Fatalf("nats sub on %s: %v, %v; want %s", bus.JobsSubjects, m, err, want)
		}
	}
	follow(ctx, t, "upload command", connect(t, url(bus.RoleReader)).JetStream(), bus.JobsStream, bus.JobsSubjects, 2)
}

// follow reads n messages of a stream with an ordered consumer, as the edge and the
// upload command do.
func follow(ctx context.Context, t *testing.T, who string, js jetstream.JetStream, stream, filter string, n int) {
	t.Helper()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter},
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 1})
	if err != nil {
		t.Fatalf("%s: ordered consumer on %s: %v", who, stream, err)
	}
	got := make(chan jetstream.Msg, n)
	cc, err := cons.Consume(func(m jetstream.Msg) { got <- m })
	if err != nil {
		t.Fatalf("%s: consume %s: %v", who, stream, err)
	}
	defer cc.Stop()
	for i := 0; i < n; i++ {
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatalf("%s: %d of %d messages of %s", who, i, n, stream)
		}
	}
}

func receive(ctx context.Context, t *testing.T, q *jsqueue.Queue) transcoder.Delivery {
	t.Helper()
	for ctx.Err() == nil {
		d, err := q.Receive(ctx)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if d != nil {
			return d
		}
	}
	t.Fatal("nothing received")
	return nil
}

// TestAuthRefusesWhatARoleDoesNotNeed tries, as each role, what another role does or
// what nobody should: every try is refused and CATALOG keeps only the relay's event.
func TestAuthRefusesWhatARoleDoesNotNeed(t *testing.T) {
	srv, creds := startAuthServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	relay := connect(t, creds.URL(srv.ClientURL(), bus.RoleRelay))
	if err := bus.EnsureStreams(ctx, relay.JetStream(), bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.PublishEvent(ctx, relay.JetStream(), newEvent(7, 1, videoforge.EventUpdated)); err != nil {
		t.Fatal(err)
	}
	forged := videoforge.CatalogSubject(7, videoforge.EventUpdated)
	cases := []struct {
		role     bus.Role
		pub, sub []string
	}{
		{bus.RoleReader,
			[]string{forged, "videoforge.catalog.video.8.created", "videoforge.jobs.1.completed", bus.TranscodeJobSubject,
				"$JS.API.STREAM.PURGE.CATALOG", "$JS.API.STREAM.DELETE.CATALOG", "$JS.API.STREAM.UPDATE.CATALOG",
				"$JS.API.STREAM.CREATE.FORGED", "$JS.API.STREAM.LIST", "$JS.API.STREAM.INFO.TRANSCODE", "$JS.API.STREAM.MSG.DELETE.CATALOG", "$JS.API.CONSUMER.DELETE.CATALOG.x",
				"$JS.API.CONSUMER.CREATE.TRANSCODE.transcoder", "$JS.API.CONSUMER.MSG.NEXT.TRANSCODE.transcoder",
				"$JS.ACK.TRANSCODE.transcoder.1.1.1.1.0"},
			[]string{bus.TranscodeSubjects, "_INBOX_transcoder.>", "_INBOX_relay.>", "$JS.API.>", ">"}},
		{bus.RoleTranscoder,
			[]string{forged, "$JS.API.STREAM.UPDATE.CATALOG", "$JS.API.STREAM.CREATE.CATALOG", "$JS.API.STREAM.PURGE.JOBS",
				"$JS.API.STREAM.DELETE.TRANSCODE", "$JS.API.CONSUMER.CREATE.CATALOG.x"},
			[]string{bus.CatalogSubjects, "_INBOX.>", "_INBOX_uploads.>"}},
		{bus.RoleUploads,
			[]string{forged, "videoforge.jobs.1.completed", "videoforge.transcode.dead", "$JS.API.STREAM.UPDATE.CATALOG",
				"$JS.API.STREAM.PURGE.TRANSCODE", "$JS.API.CONSUMER.CREATE.TRANSCODE.transcoder",
				"$JS.API.CONSUMER.MSG.NEXT.TRANSCODE.transcoder"},
			[]string{bus.CatalogSubjects, bus.TranscodeSubjects, "_INBOX_transcoder.>"}},
		{bus.RoleRelay,
			[]string{"videoforge.jobs.1.queued", bus.TranscodeJobSubject, "$JS.API.STREAM.PURGE.CATALOG",
				"$JS.API.STREAM.DELETE.CATALOG", "$JS.API.STREAM.MSG.DELETE.CATALOG"},
			[]string{bus.CatalogSubjects, bus.JobsSubjects}},
	}
	for _, c := range cases {
		t.Run(string(c.role), func(t *testing.T) {
			nc, errs := rawConn(t, creds.URL(srv.ClientURL(), c.role))
			for _, s := range c.pub {
				if err := nc.Publish(s, []byte(`{"id":"forged","version":999999,"video":{"visibility":"public"}}`)); err != nil {
					t.Fatal(err)
				}
				waitViolation(t, errs, s)
			}
			for _, s := range c.sub {
				if _, err := nc.SubscribeSync(s); err != nil {
					t.Fatal(err)
				}
				waitViolation(t, errs, s)
			}
		})
	}
	t.Run("JetStreamPublishByReader", func(t *testing.T) {
		reader := connect(t, creds.URL(srv.ClientURL(), bus.RoleReader))
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := bus.PublishEvent(pctx, reader.JetStream(), newEvent(7, 999999, videoforge.EventUpdated)); err == nil {
			t.Fatal("a reader published a catalog event")
		}
	})
	info, err := relay.JetStream().Stream(ctx, bus.CatalogStream)
	if err != nil {
		t.Fatal(err)
	}
	if st := info.CachedInfo().State; st.Msgs != 1 || st.LastSeq != 1 {
		t.Fatalf("CATALOG holds %d messages up to %d, want only the relay's one", st.Msgs, st.LastSeq)
	}
}
