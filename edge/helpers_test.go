package edge_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/edge"
	"github.com/videoforge/videoforge/internal/testutil"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
)

func TestMain(m *testing.M) {
	pgtest.Main(m, func(ctx context.Context, dsn string) error {
		return schema.Migrate(ctx, dsn, schema.DefaultSchema)
	})
}

var tokenKey = []byte("test key of the edge, at least 32 bytes long")

// catalogDB opens a fresh migrated database and its video store.
func catalogDB(t *testing.T) (string, *postgres.DB, *postgres.VideoService) {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	db, err := postgres.Open(context.Background(), postgres.Config{URL: dsn, Schema: schema.DefaultSchema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return dsn, db, postgres.NewVideoService(db)
}

// edgeCatalog opens the catalog database at dsn as an edge reads it, giving up on a
// connection after a second.
func edgeCatalog(t *testing.T, dsn string) videoforge.EdgeCatalog {
	t.Helper()
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("connect_timeout", "1")
		u.RawQuery = q.Encode()
		dsn = u.String()
	} else {
		dsn += " connect_timeout=1"
	}
	db, err := postgres.Open(context.Background(), postgres.Config{URL: dsn, Schema: schema.DefaultSchema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return postgres.NewEdgeCatalog(db)
}

func newVideo(user string, vis videoforge.Visibility, status videoforge.Status) *videoforge.Video {
	return &videoforge.Video{UserID: user, Title: "a title", Visibility: vis, Status: status, S3Key: "videos/x",
		Renditions: []videoforge.Rendition{
			{Name: "1080p", Width: 1920, Height: 1080, Bandwidth: 5_000_000, Playlist: "hls/1080p/index.m3u8"},
			{Name: "720p", Width: 1280, Height: 720, Bandwidth: 2_800_000, Playlist: "hls/720p/index.m3u8"},
		}}
}

func create(t *testing.T, vs *postgres.VideoService, v *videoforge.Video) *videoforge.Video {
	t.Helper()
	if err := vs.CreateVideo(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	return v
}

// natsServer is an embedded nats-server with JetStream that can be stopped and
// started again on the same port and store.
type natsServer struct {
	t    *testing.T
	opts server.Options
	srv  *server.Server
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	n := &natsServer{t: t, opts: server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true}}
	n.start()
	n.opts.Port = n.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(n.stop)
	js := n.js()
	_, err := js.CreateOrUpdateStream(context.Background(), jetstream.StreamConfig{
		Name: "CATALOG", Subjects: []string{"videoforge.catalog.>"}, Storage: jetstream.FileStorage,
		Duplicates: 2 * time.Minute, AllowDirect: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *natsServer) start() {
	n.t.Helper()
	opts := n.opts
	s, err := server.NewServer(&opts)
	if err != nil {
		n.t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("nats-server did not start")
	}
	n.srv = s
}

func (n *natsServer) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func (n *natsServer) url() string {
	return "nats://" + net.JoinHostPort(n.opts.Host, itoa(n.opts.Port))
}

func (n *natsServer) js() jetstream.JetStream {
	n.t.Helper()
	nc, err := nats.Connect(n.url())
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		n.t.Fatal(err)
	}
	return js
}

func itoa(i int) string { return strconv.Itoa(i) }

// relay publishes the unpublished outbox rows as the relay does: in id order, with the
// event id as Nats-Msg-Id.
func relay(t *testing.T, db *postgres.DB, js jetstream.JetStream) {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Pool().Query(ctx, `SELECT id, event_id::text, subject, payload::text FROM outbox WHERE published_at IS NULL ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	type msg struct {
		id                        int64
		eventID, subject, payload string
	}
	var msgs []msg
	for rows.Next() {
		var m msg
		if err := rows.Scan(&m.id, &m.eventID, &m.subject, &m.payload); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if _, err := js.Publish(ctx, m.subject, []byte(m.payload), jetstream.WithMsgID(m.eventID)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Pool().Exec(ctx, `UPDATE outbox SET published_at = now() WHERE id = $1`, m.id); err != nil {
			t.Fatal(err)
		}
	}
}

// publish sends a hand-made event.
func publish(t *testing.T, js jetstream.JetStream, msgID, typ string, version int64, v *videoforge.Video) {
	t.Helper()
	publishBody(t, js, msgID, typ, version, v.EventBody())
}

// publishBody publishes an event with the body v, as a forger could.
func publishBody(t *testing.T, js jetstream.JetStream, msgID, typ string, version int64, v *videoforge.EventVideo) {
	t.Helper()
	ev := videoforge.Event{ID: msgID, Type: typ, OccurredAt: time.Now(), Version: version, Video: v}
	b, err := json.Marshal(&ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(context.Background(), ev.Subject(), b, jetstream.WithMsgID(msgID)); err != nil {
		t.Fatal(err)
	}
}

// running is an edge served over loopback.
type running struct {
	*edge.Edge
	url  string
	stop func()
}

func startEdge(t *testing.T, cat videoforge.EdgeCatalog, natsURL string, verifier auth.TokenVerifier, mod func(*edge.Config)) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := edge.Config{NATSURL: natsURL, BaseURL: "https://cdn.example", TokenKey: tokenKey, Staleness: time.Hour}
	if mod != nil {
		mod(&cfg)
	}
	e, err := edge.New(cfg, cat, verifier, slog.New(slog.NewTextHandler(testLog{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("edge: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := e.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	return &running{Edge: e, url: "http://" + ln.Addr().String(), stop: stop}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func (r *running) get(t testing.TB, path, token string) answer {
	t.Helper()
	req, _ := http.NewRequest("GET", r.url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	a := answer{status: res.StatusCode, header: res.Header}
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, &a.body); err != nil {
		t.Fatalf("GET %s: %d %q: %v", path, res.StatusCode, b, err)
	}
	return a
}

// checkFor polls f until it returns nil or d passes.
func checkFor(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	testutil.WaitFor(t, d, "condition", f)
}

// issuer is a dev token issuer with its JWKS served over loopback, and a verifier.
func issuer(t *testing.T) (*auth.Issuer, *auth.Verifier) {
	t.Helper()
	iss, err := auth.LoadOrCreateIssuer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(iss.JWKSHandler())
	t.Cleanup(jwks.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := auth.NewVerifier(ctx, auth.DevConfig(jwks.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	return iss, v
}

// proxy forwards TCP connections to target until closed, so that a test can cut a
// dependency off the network.
type proxy struct {
	ln      net.Listener
	mu      sync.Mutex
	conns   []net.Conn
	stalled chan struct{} // closed: bytes are no longer forwarded, connections stay open
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, stalled: make(chan struct{})}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { p.copy(u, c); u.Close() }()
			go func() { p.copy(c, u); c.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// copy forwards src to dst until either fails, holding every byte once stalled.
func (p *proxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-p.stalled:
			io.Copy(io.Discard, src) // hold the connection open, answer nothing
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// stall stops forwarding without closing anything: the dependency hangs.
func (p *proxy) stall() { close(p.stalled) }

// cut closes the listener and every forwarded connection.
func (p *proxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

var errNotYet = errors.New("not yet")

// testLog writes the edge's log lines to the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// keyOf is the query that streams v: its share key when it is unlisted.
func keyOf(v *videoforge.Video) string {
	if v.Visibility == videoforge.Unlisted {
		return "?key=" + v.ShareKey
	}
	return ""
}
