package transcoder_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/bus"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/internal/testutil"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/storage/s3test"
	"github.com/videoforge/videoforge/transcoder"
	"github.com/videoforge/videoforge/transcoder/ffmpeg"
	"github.com/videoforge/videoforge/transcoder/jsqueue"
	"github.com/videoforge/videoforge/transcoder/sqs"
	"github.com/videoforge/videoforge/transcoder/sqs/sqstest"
)

// A test that runs a worker in another process re-executes this binary with childEnv
// set to the JSON of a childConfig.
const childEnv = "VIDEOFORGE_TRANSCODER_TEST_CHILD"

type childConfig struct {
	DSN     string
	NATS    string
	S3      storage.Config
	Queue   jsqueue.Config
	SQS     *sqs.Config // the SQS queue instead of the JetStream one, at SQSEndpoint
	SQSURL  string
	Marker  string // written when the job reaches Point, where the child then waits to be killed
	Point   string // a test hook point; "uploading" when empty
	WorkDir string
	// A chunk test's settings: chunks of Chunk, the ladder Rungs, ffmpeg as FFmpeg.
	Chunk  time.Duration
	Rungs  []ffmpeg.Rung
	FFmpeg string
}

var (
	clips      string // generated clips
	hostileDir string // the hostile corpus of transcoder/ffmpeg, found before the S3 gateway moves the working folder
)

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(child(cfg))
	}
	dir, err := os.MkdirTemp("", "transcoder-test-")
	if err != nil {
		panic(err)
	}
	clips = dir
	if hostileDir, err = filepath.Abs(filepath.Join("ffmpeg", "testdata", "hostile")); err != nil {
		panic(err)
	}
	if err := makeClips(dir); err != nil {
		fmt.Fprintln(os.Stderr, err, "\nthese tests need ffmpeg: apt-get install -y ffmpeg (or make deps)")
		os.Exit(1)
	}
	// The S3 gateway moves the working folder: start it before anything else.
	if _, err := s3test.Endpoint(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pgtest.Main(m, func(ctx context.Context, dsn string) error { return schema.Migrate(ctx, dsn, schema.DefaultSchema) })
}

func makeClips(dir string) error {
	for name, args := range map[string][]string{
		"landscape.mp4": {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=2", "-f", "lavfi", "-i", "sine=duration=2",
			"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"},
		"long.mp4": {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=12", "-f", "lavfi", "-i", "sine=duration=12",
			"-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"},
		"portrait.mp4": {"-f", "lavfi", "-i", "testsrc2=size=180x320:rate=25:duration=2",
			"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"},
		"vp9.webm": {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=5", "-f", "lavfi", "-i", "sine=duration=5",
			"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", "-c:a", "libopus", "-shortest"},
	} {
		args = append([]string{"-hide_banner", "-loglevel", "error", "-y"}, append(args, filepath.Join(dir, name))...)
		if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("generate %s: %v: %s", name, err, out)
		}
	}
	return os.WriteFile(filepath.Join(dir, "corrupt.mp4"), []byte(strings.Repeat("not a video ", 1000)), 0o644)
}

func testConfig(t testing.TB) transcoder.Config {
	cfg := transcoder.DefaultConfig()
	cfg.Workers = 2
	cfg.Visibility = 3 * time.Second
	cfg.MaxAttempts = 2
	cfg.MaxReceives = 3
	cfg.RetryDelay = 100 * time.Millisecond
	cfg.OutageBackoff = 200 * time.Millisecond
	cfg.ShutdownGrace = 0
	cfg.ProgressInterval = 50 * time.Millisecond
	cfg.WorkDir = t.TempDir()
	cfg.FFmpeg.Rungs = []ffmpeg.Rung{{Name: "240p", Height: 240, VideoBitrate: 400_000}, {Name: "144p", Height: 144, VideoBitrate: 150_000}}
	cfg.FFmpeg.Preset = "ultrafast"
	cfg.FFmpeg.SegmentDuration = time.Second
	cfg.FFmpeg.ThumbnailWidth = 320
	cfg.FFmpeg.StoryboardTileWidth = 80
	return cfg
}

// env is one test's world: its own database, bucket and NATS server.
type env struct {
	dsn    string
	db     *postgres.DB
	jobs   *postgres.JobService
	videos *postgres.VideoService
	s3     storage.Config
	st     *storage.Store
	nats   string
	ns     *server.Server
	nsOpts server.Options
	nc     *nats.Conn
	js     jetstream.JetStream
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, pgtest.NewDatabase(t), s3test.Config(t))
}

// newEnvWith builds a test's world on the database at dsn and the bucket of s3.
func newEnvWith(t *testing.T, dsn string, s3 storage.Config) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{dsn: dsn, s3: s3}
	var err error
	if e.db, err = postgres.Open(ctx, postgres.Config{URL: e.dsn, Schema: schema.DefaultSchema}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.db.Close)
	e.jobs, e.videos = postgres.NewJobService(e.db), postgres.NewVideoService(e.db)
	if e.st, err = storage.New(ctx, e.s3); err != nil {
		t.Fatal(err)
	}
	e.nsOpts = server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true}
	e.startNATS(t)
	t.Cleanup(func() { e.ns.Shutdown() })
	e.nats = e.ns.ClientURL()
	e.nsOpts.Port = e.ns.Addr().(*net.TCPAddr).Port // a restart comes back on the same port
	if e.nc, err = nats.Connect(e.nats, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.nc.Close)
	if e.js, err = jetstream.New(e.nc); err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "JOBS", Subjects: []string{"videoforge.jobs.>"}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// startNATS starts the env's nats-server (again, after a stop, on its port and store).
func (e *env) startNATS(t testing.TB) {
	opts := e.nsOpts
	ns, err := server.NewServer(&opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	e.ns = ns
}

// newJob uploads a clip as a client does: the upload's pending job and video, the
// bytes, then complete, which seals the source and queues the job.
func (e *env) newJob(t *testing.T, clip string) videoforge.JobMessage {
	t.Helper()
	return e.newJobFrom(t, filepath.Join(clips, clip))
}

// newJobFrom is newJob with the file at path.
func (e *env) newJobFrom(t *testing.T, path string) videoforge.JobMessage {
	t.Helper()
	clip := filepath.Base(path)
	ctx := context.Background()
	v := &videoforge.Video{UserID: "alice", Title: clip, Visibility: videoforge.Public}
	j, err := e.jobs.CreateUpload(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.PutFile(ctx, j.SourceKey, path); err != nil {
		t.Fatal(err)
	}
	if _, err := e.jobs.CompleteUpload(ctx, j.ID, "alice", func(ctx context.Context, j *videoforge.Job, _ int64) (videoforge.Source, error) {
		return e.st.Seal(ctx, j.SourceKey)
	}); err != nil {
		t.Fatal(err)
	}
	return videoforge.JobMessage{JobID: j.ID, VideoID: v.ID, SourceKey: j.SourceKey, Send: 1}
}

func (e *env) jsQueue(t *testing.T, cfg transcoder.Config) (*jsqueue.Queue, jsqueue.Config) {
	t.Helper()
	qc := jsqueue.Config{AckWait: cfg.Visibility, MaxReceives: cfg.MaxReceives, PollWait: 500 * time.Millisecond}
	q, err := jsqueue.New(context.Background(), e.js, qc)
	if err != nil {
		t.Fatal(err)
	}
	return q, qc
}

// start runs a transcoder until the test ends.
func start(t *testing.T, cfg transcoder.Config, q transcoder.Queue, e *env, hook func(string)) context.CancelFunc {
	t.Helper()
	tr, err := transcoder.New(cfg, q, e.st, e.jobs, bus.JobEvents{JS: e.js}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	if hook != nil {
		tr.SetTestHook(hook)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tr.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return cancel
}

// waitJob polls the job until it reaches status.
func (e *env) waitJob(t *testing.T, id int64, status videoforge.JobStatus, d time.Duration) *videoforge.Job {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		j, err := e.jobs.FindJobByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status == status {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d is %s (error %v) after %v, want %s", id, j.Status, j.Error, d, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readyEvents counts the video's outbox events that made it ready with its whole
// ladder: its commits (renditions published early are counted by earlyEvents).
func (e *env) readyEvents(t *testing.T, videoID int64) int {
	t.Helper()
	var n int
	err := e.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE video_id = $1
		AND payload->'video'->>'status' = 'ready' AND coalesce((payload->'video'->>'ladderComplete')::boolean, true)`, videoID).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkResults reads the stored ladder back through its master playlist.
func (e *env) checkResults(t *testing.T, msg videoforge.JobMessage, wantRenditions []string, audio bool) {
	t.Helper()
	ctx := context.Background()
	v, err := e.videos.FindVideoByID(ctx, msg.VideoID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	// The committed attempt's folder holds everything the video plays.
	folder := v.S3Key + "/"
	if !strings.HasPrefix(folder, layout.VideoPrefix(msg.VideoID)+"a") || v.Status != videoforge.StatusReady ||
		v.Duration == nil || *v.Duration < 1.9 || v.ThumbnailURL == nil || *v.ThumbnailURL != folder+"thumbnail.jpg" ||
		(v.AudioCodec != nil) != audio {
		t.Fatalf("video %+v", v)
	}
	var ev videoforge.Event
	var payload []byte
	if err := e.db.Pool().QueryRow(ctx, `SELECT payload FROM outbox WHERE video_id = $1 ORDER BY id DESC LIMIT 1`, msg.VideoID).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range ev.Video.Renditions {
		names = append(names, fmt.Sprintf("%s:%dx%d", r.Name, r.Width, r.Height))
		if r.Bandwidth <= 0 || r.Playlist != folder+"hls/"+r.Name+"/index.m3u8" {
			t.Errorf("rendition %+v", r)
		}
	}
	if strings.Join(names, " ") != strings.Join(wantRenditions, " ") {
		t.Errorf("renditions %v, want %v", names, wantRenditions)
	}
	// Everything under the attempt's folder, read back from S3 into a folder.
	prefix := folder
	dir := e.download(t, prefix)
	for _, f := range []string{layout.MasterPlaylist, layout.ThumbnailFile, layout.StoryboardImage, layout.StoryboardVTT} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s%s", prefix, f)
		}
	}
	out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", filepath.Join(dir, layout.MasterPlaylist), "-map", "0", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Errorf("ffmpeg could not read the stored ladder back: %v: %s", err, out)
	}
}

// eventKinds collects the kinds of job events published for a job.
func (e *env) eventKinds(t *testing.T, jobID int64) func() []string {
	t.Helper()
	var mu sync.Mutex
	var kinds []string
	sub, err := e.nc.Subscribe(fmt.Sprintf("videoforge.jobs.%d.>", jobID), func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		kinds = append(kinds, m.Subject[strings.LastIndex(m.Subject, ".")+1:])
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return func() []string {
		_ = e.nc.Flush()
		mu.Lock()
		defer mu.Unlock()
		return append([]string{}, kinds...)
	}
}

func TestTranscodeJetStream(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig(t)
	q, _ := e.jsQueue(t, cfg)
	good := e.newJob(t, "landscape.mp4")
	silent := e.newJob(t, "portrait.mp4")
	bad := e.newJob(t, "corrupt.mp4")
	kinds := e.eventKinds(t, good.JobID)
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	for _, m := range []videoforge.JobMessage{good, silent, bad} {
		if err := transcoder.Enqueue(context.Background(), q, m); err != nil {
			t.Fatal(err)
		}
	}
	start(t, cfg, q, e, nil)

	t.Run("Landscape", func(t *testing.T) {
		j := e.waitJob(t, good.JobID, videoforge.JobCompleted, time.Minute)
		if j.Progress != 100 || j.Attempts != 1 {
			t.Errorf("job %+v", j)
		}
		e.checkResults(t, good, []string{"240p:320x240", "144p:192x144"}, true)
		got := strings.Join(kinds(), " ")
		if !strings.HasPrefix(got, "started progress") || !strings.HasSuffix(got, "progress completed") {
			t.Errorf("job events %q: want started, progress…, completed", got)
		}
	})
	t.Run("PortraitWithoutAudio", func(t *testing.T) {
		e.waitJob(t, silent.JobID, videoforge.JobCompleted, time.Minute)
		// The source, larger than every rung that fits it, stays as its stream copy above them.
		e.checkResults(t, silent, []string{"180p:180x320", "144p:144x256"}, false)
	})
	t.Run("CorruptFailsCleanly", func(t *testing.T) {
		j := e.waitJob(t, bad.JobID, videoforge.JobFailed, time.Minute)
		if j.Error == nil || !strings.Contains(*j.Error, "corrupt") || j.Attempts != 1 {
			t.Errorf("job %+v (error %v): want one attempt failed as corrupt", j, *j.Error)
		}
		v, err := e.videos.FindVideoByID(context.Background(), bad.VideoID, "alice")
		if err != nil || v.Status != videoforge.StatusFailed {
			t.Errorf("video %+v %v", v, err)
		}
	})
	t.Run("Metrics", func(t *testing.T) {
		// The counters move just after the commit the subtests above waited for.
		deadline := time.Now().Add(5 * time.Second)
	again:
		got := map[string]float64{}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if mf.GetName() == "videoforge_transcoder_messages_total" {
					got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
				}
				if mf.GetName() == "videoforge_transcoder_job_seconds" {
					got["observed"] = float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
		if got["completed"] != 2 || got["failed"] != 1 || got["retried"] != 0 || got["observed"] != 2 {
			if time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				goto again
			}
			t.Errorf("metrics %v: want 2 completed (2 observed), 1 failed", got)
		}
	})
	// Every message was acked: the work queue is empty.
	e.waitQueueEmpty(t)
}

// waitQueueEmpty waits until the JetStream work queue holds no message: every one was
// acked.
func (e *env) waitQueueEmpty(t *testing.T) {
	t.Helper()
	s, err := e.js.Stream(context.Background(), jsqueue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := s.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages left in the work queue", info.State.Msgs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sqsQueue starts an SQS server with a job queue (and its dead-letter queue) for cfg
// and returns the queue, its client and its URL.
func sqsQueue(t *testing.T, cfg transcoder.Config) (*sqs.Queue, *awssqs.Client, string) {
	t.Helper()
	ctx := context.Background()
	c, err := sqs.NewClient(ctx, sqs.ClientConfig{Endpoint: sqstest.Start(t), Region: "us-east-1", AccessKey: "test", SecretKey: "test"})
	if err != nil {
		t.Fatal(err)
	}
	url, _, err := sqs.CreateQueues(ctx, c, "jobs", cfg.MaxReceives, cfg.Visibility)
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqs.New(c, sqs.Config{URL: url, Visibility: cfg.Visibility, PollWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return q, c, url
}

func TestTranscodeSQS(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig(t)
	ctx := context.Background()
	q, c, url := sqsQueue(t, cfg)
	msg := e.newJob(t, "landscape.mp4")
	if err := transcoder.Enqueue(ctx, q, msg); err != nil {
		t.Fatal(err)
	}
	start(t, cfg, q, e, nil)
	e.waitJob(t, msg.JobID, videoforge.JobCompleted, time.Minute)
	e.checkResults(t, msg, []string{"240p:320x240", "144p:192x144"}, true)
	time.Sleep(cfg.Visibility + 500*time.Millisecond)
	attrs, err := c.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	if n := attrs.Attributes["ApproximateNumberOfMessages"] + "/" + attrs.Attributes["ApproximateNumberOfMessagesNotVisible"]; n != "0/0" {
		t.Fatalf("queue holds %s messages (visible/invisible) after the commit", n)
	}
}

// TestKilledWorker kills a worker process with SIGKILL at each step of a job
// (download, encode, upload, commit, and after the commit before the ack): after the
// visibility timeout another worker takes the job over and completes it, once, or,
// killed after the commit, finds it done and drops the message.
func TestKilledWorker(t *testing.T) {
	for _, point := range []string{"downloading", "encoding", "uploading", "committing", "committed"} {
		t.Run("JetStream/"+point, func(t *testing.T) {
			e := newEnv(t)
			cfg := testConfig(t)
			q, qc := e.jsQueue(t, cfg)
			killedWorker(t, e, cfg, q, childConfig{Queue: qc, Point: point})
			e.waitQueueEmpty(t)
		})
	}
	t.Run("SQS", func(t *testing.T) {
		e := newEnv(t)
		cfg := testConfig(t)
		endpoint := sqstest.Start(t)
		c, err := sqs.NewClient(context.Background(), sqs.ClientConfig{Endpoint: endpoint, Region: "us-east-1", AccessKey: "test", SecretKey: "test"})
		if err != nil {
			t.Fatal(err)
		}
		url, _, err := sqs.CreateQueues(context.Background(), c, "jobs", cfg.MaxReceives, cfg.Visibility)
		if err != nil {
			t.Fatal(err)
		}
		qc := sqs.Config{URL: url, Visibility: cfg.Visibility, PollWait: time.Second}
		q, err := sqs.New(c, qc)
		if err != nil {
			t.Fatal(err)
		}
		killedWorker(t, e, cfg, q, childConfig{SQS: &qc, SQSURL: endpoint})
	})
}

func killedWorker(t *testing.T, e *env, cfg transcoder.Config, q transcoder.Queue, cc childConfig) {
	msg := e.newJob(t, "landscape.mp4")
	if err := transcoder.Enqueue(context.Background(), q, msg); err != nil {
		t.Fatal(err)
	}
	if cc.Point == "" {
		cc.Point = "uploading"
	}
	cmd := e.startChild(t, cc)
	committed := cc.Point == "committed"
	if j, _ := e.jobs.FindJobByID(context.Background(), msg.JobID); (j.Status == videoforge.JobCompleted) != committed {
		t.Fatalf("job %+v when the worker dies at %s", j, cc.Point)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()

	start(t, cfg, q, e, nil)
	j := e.waitJob(t, msg.JobID, videoforge.JobCompleted, time.Minute)
	if since := time.Since(killed); !committed && since < cfg.Visibility-time.Second {
		t.Errorf("taken over %v after the kill, before the visibility timeout %v", since, cfg.Visibility)
	}
	if want := map[bool]int{false: 2, true: 1}[committed]; j.Attempts != want {
		t.Errorf("attempts %d, want %d", j.Attempts, want)
	}
	e.checkResults(t, msg, []string{"240p:320x240", "144p:192x144"}, true)
	if n := e.readyEvents(t, msg.VideoID); n != 1 {
		t.Errorf("%d ready events, want exactly 1", n)
	}
}

// startChild runs a worker in another process (see child) and returns once it
// reached cc.Point, where it waits to be killed.
func (e *env) startChild(t *testing.T, cc childConfig) *exec.Cmd {
	t.Helper()
	marker := filepath.Join(t.TempDir(), cc.Point)
	cc.DSN, cc.NATS, cc.S3, cc.Marker, cc.WorkDir = e.dsn, e.nats, e.s3, marker, t.TempDir()
	ccJSON, _ := json.Marshal(cc)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(ccJSON))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFor(t, time.Minute, "the worker process at "+cc.Point, func() bool {
		_, err := os.Stat(marker)
		return err == nil
	})
	return cmd
}

// child runs one worker for TestKilledWorker and stops at the upload until killed.
func child(cfgJSON string) int {
	var cc childConfig
	if err := json.Unmarshal([]byte(cfgJSON), &cc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "child:", err); return 1 }
	db, err := postgres.Open(ctx, postgres.Config{URL: cc.DSN, Schema: schema.DefaultSchema})
	if err != nil {
		return fail(err)
	}
	st, err := storage.New(ctx, cc.S3)
	if err != nil {
		return fail(err)
	}
	nc, err := nats.Connect(cc.NATS)
	if err != nil {
		return fail(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fail(err)
	}
	var q transcoder.Queue
	if cc.SQS != nil {
		c, err := sqs.NewClient(ctx, sqs.ClientConfig{Endpoint: cc.SQSURL, Region: "us-east-1", AccessKey: "test", SecretKey: "test"})
		if err != nil {
			return fail(err)
		}
		if q, err = sqs.New(c, *cc.SQS); err != nil {
			return fail(err)
		}
	} else if q, err = jsqueue.New(ctx, js, cc.Queue); err != nil {
		return fail(err)
	}
	cfg := testConfig(&testing.T{})
	cfg.WorkDir = cc.WorkDir
	cfg.Workers = 1
	if cc.Chunk > 0 {
		cfg.ChunkDuration, cfg.FFmpeg.Rungs, cfg.Bin.FFmpeg = cc.Chunk, cc.Rungs, cc.FFmpeg
	}
	tr, err := transcoder.New(cfg, q, st, postgres.NewJobService(db), bus.JobEvents{JS: js}, nil)
	if err != nil {
		return fail(err)
	}
	tr.SetTestHook(func(point string) {
		if point == cc.Point {
			_ = os.WriteFile(cc.Marker, nil, 0o644)
			time.Sleep(time.Hour)
		}
	})
	_ = tr.Run(ctx)
	return 0
}

// TestPoisonMessage: a message that is not a job's reaches the dead-letter queue
// after the maximum receives; a job that crashes its worker every time fails after
// its attempts, saying so, and the supervisor restarts the workers it crashes.
func TestPoisonMessage(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig(t)
	q, _ := e.jsQueue(t, cfg)
	dead, err := q.DeadLetters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	crashing := e.newJob(t, "landscape.mp4")
	for _, body := range [][]byte{[]byte("{not json"), mustJSON(crashing)} {
		if err := q.Send(context.Background(), "", body); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	start(t, cfg, q, e, func(point string) {
		if point == "started" {
			panic("a job that crashes its worker")
		}
	})
	j := e.waitJob(t, crashing.JobID, videoforge.JobFailed, time.Minute)
	if j.Attempts != cfg.MaxAttempts || j.Error == nil || !strings.Contains(*j.Error, "crashed") {
		t.Errorf("job %+v: want failed after %d attempts, saying the worker crashed", j, cfg.MaxAttempts)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if time.Now().After(deadline) {
			t.Fatal("the unreadable message did not reach the dead-letter queue")
		}
		d, err := dead.Receive(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if d != nil {
			if string(d.Body()) != "{not json" {
				t.Fatalf("dead letter %q: only the unreadable message belongs there", d.Body())
			}
			_ = d.Ack(context.Background())
			break
		}
	}
	if n := counter(t, reg, "videoforge_transcoder_worker_restarts_total", ""); n < float64(cfg.MaxAttempts) {
		t.Errorf("%v worker restarts, want at least %d", n, cfg.MaxAttempts)
	}
}

// counter reads the counter name from reg: the one with the label value label, or,
// with label "", the only one.
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if (label == "" && len(mf.GetMetric()) == 1) || (len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() == label) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestShutdownHandsBack: a transcoder stopped mid-job with no grace hands the message
// back at once, and another completes it without waiting for the visibility timeout.
func TestShutdownHandsBack(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig(t)
	cfg.Visibility = 30 * time.Second
	q, _ := e.jsQueue(t, cfg)
	msg := e.newJob(t, "landscape.mp4")
	if err := transcoder.Enqueue(context.Background(), q, msg); err != nil {
		t.Fatal(err)
	}
	reached := make(chan struct{})
	var once sync.Once
	stop := start(t, cfg, q, e, func(point string) {
		if point == "encoding" {
			once.Do(func() { close(reached) })
			time.Sleep(500 * time.Millisecond)
		}
	})
	select {
	case <-reached:
	case <-time.After(time.Minute):
		t.Fatal("the job did not start")
	}
	stopped := time.Now()
	stop()
	rq := &recordingQueue{Queue: q}
	start(t, cfg, rq, e, nil)
	j := e.waitJob(t, msg.JobID, videoforge.JobCompleted, time.Minute)
	if since := time.Since(stopped); since > cfg.Visibility/2 {
		t.Errorf("completed %v after the shutdown: the message was not handed back", since)
	}
	if j.Attempts != 2 || e.readyEvents(t, msg.VideoID) != 1 {
		t.Errorf("job %+v", j)
	}
	// The hand-back did not use up a receive: the job came back as a fresh message.
	if got := rq.receives(); len(got) != 1 || got[0] != 1 {
		t.Errorf("receives after the hand-back %v, want one first receive", got)
	}
	e.waitQueueEmpty(t)
}

// recordingQueue is a real queue whose receives are counted.
type recordingQueue struct {
	transcoder.Queue
	mu       sync.Mutex
	attempts []int
}

func (q *recordingQueue) Receive(ctx context.Context) (transcoder.Delivery, error) {
	d, err := q.Queue.Receive(ctx)
	if d != nil {
		q.mu.Lock()
		q.attempts = append(q.attempts, d.Attempt())
		q.mu.Unlock()
	}
	return d, err
}

func (q *recordingQueue) receives() []int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.attempts)
}

// TestVideoDeletedMidJob: deleting the video while ffmpeg runs stops the job: nothing is
// stored, the job is failed with the reason and the message is gone.
func TestVideoDeletedMidJob(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig(t)
	q, _ := e.jsQueue(t, cfg)
	msg := e.newJob(t, "landscape.mp4")
	if err := transcoder.Enqueue(context.Background(), q, msg); err != nil {
		t.Fatal(err)
	}
	start(t, cfg, q, e, func(point string) {
		if point == "encoding" {
			if err := e.videos.DeleteVideo(context.Background(), msg.VideoID, "alice"); err != nil {
				t.Error(err)
			}
		}
	})
	j := e.waitJob(t, msg.JobID, videoforge.JobFailed, time.Minute)
	if j.Error == nil || !strings.Contains(*j.Error, "deleted") || j.Attempts != 1 {
		t.Errorf("job %+v: want failed once, saying the video was deleted", j)
	}
	// The job is failed by the delete itself; the attempt, which may have published
	// its stream copy already, removes what it stored once it notices.
	testutil.WaitFor(t, 30*time.Second, "the deleted video's objects removed", func() error {
		keys, err := e.st.List(context.Background(), fmt.Sprintf("videos/%d/", msg.VideoID))
		if err != nil {
			return err
		}
		if len(keys) != 0 {
			return fmt.Errorf("stored %v for a deleted video", keys)
		}
		return nil
	})
	if d, err := q.Receive(context.Background()); err != nil || d != nil {
		t.Errorf("the message is still queued: %v %v", d, err)
	}
}

// TestDeadLetterWatcher: a job whose worker died on its last attempt reaches the
// dead-letter queue unmarked; the watcher marks it failed and removes the message.
func TestDeadLetterWatcher(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig(t)
	cfg.MaxAttempts, cfg.MaxReceives = 1, 1
	q, _ := e.jsQueue(t, cfg)
	dead, err := q.DeadLetters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	msg := e.newJob(t, "landscape.mp4")
	if err := transcoder.Enqueue(context.Background(), q, msg); err != nil {
		t.Fatal(err)
	}
	// A worker takes the job, starts it and dies without a word.
	d, err := q.Receive(context.Background())
	if err != nil || d == nil {
		t.Fatalf("receive: %v %v", d, err)
	}
	if a, err := e.jobs.StartJob(context.Background(), msg.JobID, msg.VideoID, cfg.Visibility); a == nil || err != nil {
		t.Fatal(a, err)
	}
	kinds := e.eventKinds(t, msg.JobID)
	tr, err := transcoder.New(cfg, q, e.st, e.jobs, bus.JobEvents{JS: e.js}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	tr.WatchDeadLetters(dead)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = tr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	j := e.waitJob(t, msg.JobID, videoforge.JobFailed, cfg.Visibility+30*time.Second)
	if j.Error == nil || !strings.Contains(*j.Error, "the worker stopped") || j.Attempts != 1 {
		t.Errorf("job %+v: want failed after its one attempt, saying the worker stopped", j)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(kinds(), videoforge.JobEventFailed) {
		if time.Now().After(deadline) {
			t.Fatalf("events %v: want failed", kinds())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if d, err := dead.Receive(context.Background()); err != nil || d != nil {
		t.Errorf("the dead letter is still there: %v %v", d, err)
	}
}
