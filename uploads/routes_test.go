package uploads_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/storage"
	"github.com/videoforge/videoforge/storage/s3test"
	"github.com/videoforge/videoforge/uploads"
)

// sentMessages records the job messages the gallery sends; while down, it refuses
// them as a queue that is unreachable does.
type sentMessages struct {
	mu   sync.Mutex
	msgs []videoforge.JobMessage
	down atomic.Bool
	// onSend runs before each send, with the message.
	onSend func(m videoforge.JobMessage)
}

// Send takes one message of the queue (transcoder.Sender).
func (s *sentMessages) Send(_ context.Context, _ string, body []byte) error {
	var m videoforge.JobMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	if s.onSend != nil {
		s.onSend(m)
	}
	if s.down.Load() {
		return errors.New("queue unreachable")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return nil
}

func (s *sentMessages) all() []videoforge.JobMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]videoforge.JobMessage(nil), s.msgs...)
}

// uploadEnv is a gallery with its upload side over real storage, its janitor going
// round every 10 ms once run is called.
func uploadEnv(t *testing.T, sent *sentMessages) (e *env, run func(), jobs *postgres.JobService, st *storage.Store) {
	t.Helper()
	st, err := storage.New(context.Background(), s3test.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	var up *uploads.Uploads
	e = newEnv(t, func(db *postgres.DB, _ func(context.Context, string) (*auth.User, error)) *catalog.Uploads {
		jobs = postgres.NewJobService(db)
		up, err = uploads.New(uploads.Config{Jobs: jobs, Objects: st, Queue: sent, Limits: uploads.DefaultLimits(),
			SendGrace: time.Millisecond, Resend: time.Hour, Every: 10 * time.Millisecond, Log: quiet,
			URL: func(_ context.Context, jobID int64, _ string, _ time.Time) (string, error) {
				return "http://uploads.invalid/" + strconv.FormatInt(jobID, 10), nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		return up.Gallery()
	})
	run = func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			up.Run(ctx)
		}()
		t.Cleanup(func() { cancel(); <-done })
	}
	return e, run, jobs, st
}

// TestMessageAfterCommit: the job's message is sent only once the job is committed
// queued; when it cannot be sent (the queue down, or a crash between the commit and
// the send), complete still answers, and the sweeper sends it once the queue is back.
func TestMessageAfterCommit(t *testing.T) {
	sent := &sentMessages{}
	e, runJanitor, jobs, st := uploadEnv(t, sent)
	token := e.token("alice")
	r := e.do("POST", "/api/gallery/uploads", token, map[string]any{"title": "clip"})
	var u videoforge.Upload
	r.decode(t, &u)
	if r.status != http.StatusCreated {
		t.Fatalf("create upload: %d %s", r.status, r.body)
	}
	if err := st.Put(context.Background(), layout.UploadKey(u.JobID), bytes.NewReader(bytes.Repeat([]byte{0, 1, 2, 3}, 1000))); err != nil {
		t.Fatal(err)
	}
	// Every send happens after the commit: the job is queued for anybody reading it.
	sent.onSend = func(m videoforge.JobMessage) {
		j, err := jobs.FindJobByID(context.Background(), m.JobID)
		if err != nil || j.Status != videoforge.JobQueued {
			t.Errorf("a message was sent for job %+v (%v), not committed queued", j, err)
		}
	}
	sent.down.Store(true)
	r = e.do("POST", "/api/gallery/uploads/"+strconv.FormatInt(u.JobID, 10)+"/complete", token, nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("complete with the queue down: %d %s", r.status, r.body)
	}
	if n := len(sent.all()); n != 0 {
		t.Fatalf("%d messages sent while the queue was down", n)
	}
	sent.down.Store(false)
	runJanitor()
	deadline := time.Now().Add(10 * time.Second)
	for len(sent.all()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not send the job's message")
		}
		time.Sleep(10 * time.Millisecond)
	}
	m := sent.all()[0]
	if m.JobID != u.JobID || m.VideoID != u.VideoID || m.Send != 1 || m.SourceKey != layout.UploadKey(u.JobID) {
		t.Errorf("message %+v", m)
	}
	// Sent and recorded: the sweeper leaves it alone (the resend period is an hour).
	waitRounds := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(waitRounds) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(sent.all()); n != 1 {
		t.Errorf("%d messages after the sweep, want 1", n)
	}
	// A repeated complete sends nothing more.
	r = e.do("POST", "/api/gallery/uploads/"+strconv.FormatInt(u.JobID, 10)+"/complete", token, nil)
	if r.status != http.StatusAccepted || len(sent.all()) != 1 {
		t.Errorf("repeated complete: %d, %d messages", r.status, len(sent.all()))
	}
}

// TestCompleteRefusedSendsNothing: a complete whose check fails commits nothing and
// sends no message.
func TestCompleteRefusedSendsNothing(t *testing.T) {
	sent := &sentMessages{}
	e, _, _, _ := uploadEnv(t, sent)
	token := e.token("alice")
	r := e.do("POST", "/api/gallery/uploads", token, map[string]any{"title": "clip"})
	var u videoforge.Upload
	r.decode(t, &u)
	r = e.do("POST", "/api/gallery/uploads/"+strconv.FormatInt(u.JobID, 10)+"/complete", token, nil)
	if r.status != http.StatusConflict || len(sent.all()) != 0 {
		t.Fatalf("complete before the upload: %d %s, %d messages", r.status, r.body, len(sent.all()))
	}
}
