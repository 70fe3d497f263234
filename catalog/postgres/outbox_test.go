package postgres_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/schema"
)

func openSession(t *testing.T, o *postgres.Outbox, app string) videoforge.OutboxSession {
	t.Helper()
	s, err := o.OpenSession(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func unpublishedIDs(t *testing.T, s videoforge.OutboxSession) []int64 {
	t.Helper()
	rows, err := s.Unpublished(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestOutboxSessionLockAndMarks(t *testing.T) {
	db, videos := open(t)
	ctx := context.Background()
	o := postgres.NewOutbox(db)
	a, b := openSession(t, o, "relay-a"), openSession(t, o, "relay-b")
	if a.Schema() != schema.DefaultSchema {
		t.Fatalf("Schema() = %q, want %q", a.Schema(), schema.DefaultSchema)
	}
	for i, s := range []videoforge.OutboxSession{a, b} {
		got, err := s.TryLock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != (i == 0) {
			t.Fatalf("session %d: TryLock = %v", i, got)
		}
	}
	if held, err := b.HoldsLock(ctx); err != nil || held {
		t.Fatalf("the standby's HoldsLock = %v, %v", held, err)
	}
	if held, err := a.HoldsLock(ctx); err != nil || !held {
		t.Fatalf("the holder's HoldsLock = %v, %v", held, err)
	}

	var created []*videoforge.Video
	for range 3 {
		v := newVideo("alice")
		if err := videos.CreateVideo(ctx, v); err != nil {
			t.Fatal(err)
		}
		created = append(created, v)
	}
	rows, err := a.Unpublished(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].ID >= rows[1].ID {
		t.Fatalf("Unpublished(2) = %+v: want 2 rows in id order", rows)
	}
	for i, r := range rows {
		if r.VideoID != created[i].ID || r.Version != created[i].Version || r.EventID == "" ||
			!strings.HasPrefix(r.Subject, "videoforge.catalog.video.") || !strings.HasPrefix(string(r.Payload), `{"id":"`) ||
			r.CreatedAt.IsZero() {
			t.Errorf("row %d: %+v", i, r)
		}
	}
	all := unpublishedIDs(t, a)
	if len(all) != 3 {
		t.Fatalf("unpublished %v, want 3 rows", all)
	}

	// A session without the lock marks nothing.
	if err := b.MarkPublished(ctx, all); err != nil {
		t.Fatal(err)
	}
	if got := unpublishedIDs(t, a); !slices.Equal(got, all) {
		t.Fatalf("after the standby's mark, unpublished %v, want %v", got, all)
	}
	if err := a.MarkPublished(ctx, all[:2]); err != nil {
		t.Fatal(err)
	}
	if got := unpublishedIDs(t, a); !slices.Equal(got, all[2:]) {
		t.Fatalf("after the holder's mark, unpublished %v, want %v", got, all[2:])
	}

	// Published rows go oldest first, only once older than the age.
	if n, err := o.DeletePublished(ctx, time.Hour, 10); err != nil || n != 0 {
		t.Fatalf("DeletePublished(1h) = %d, %v: want nothing that young deleted", n, err)
	}
	for _, want := range []int64{1, 1, 0} {
		if n, err := o.DeletePublished(ctx, 0, 1); err != nil || n != want {
			t.Fatalf("DeletePublished(0, 1) = %d, %v, want %d", n, err, want)
		}
	}
	if got := unpublishedIDs(t, a); !slices.Equal(got, all[2:]) {
		t.Fatalf("after deleting published rows, unpublished %v, want %v", got, all[2:])
	}
}

func TestOutboxSessionFence(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	o := postgres.NewOutbox(db)
	a, b := openSession(t, o, "relay-a"), openSession(t, o, "relay-b")
	if got, err := a.TryLock(ctx); err != nil || !got {
		t.Fatalf("TryLock = %v, %v", got, err)
	}
	if pids, err := b.FenceStalled(ctx, time.Hour); err != nil || len(pids) != 0 {
		t.Fatalf("FenceStalled(1h) = %v, %v: fenced a live holder", pids, err)
	}
	// The holder has to exit within the silence too: a second here.
	time.Sleep(1100 * time.Millisecond)
	pids, err := b.FenceStalled(ctx, time.Second)
	if err != nil || len(pids) != 1 {
		t.Fatalf("FenceStalled(1s) = %v, %v: want the silent holder fenced", pids, err)
	}
	if _, err := a.HoldsLock(ctx); err == nil {
		t.Error("the fenced session still runs statements")
	}
	if got, err := b.TryLock(ctx); err != nil || !got {
		t.Fatalf("TryLock after fencing = %v, %v", got, err)
	}
}

func TestOutboxSessionNotifications(t *testing.T) {
	db, videos := open(t)
	ctx := context.Background()
	s := openSession(t, postgres.NewOutbox(db), "relay")
	if err := s.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := s.WaitForNotification(ctx, 20*time.Millisecond); err != nil || got {
		t.Fatalf("WaitForNotification with no commit = %v, %v", got, err)
	}
	if err := videos.CreateVideo(ctx, newVideo("alice")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.WaitForNotification(ctx, 5*time.Second); err != nil || !got {
		t.Fatalf("WaitForNotification after a commit = %v, %v", got, err)
	}
	if got, err := s.WaitForNotification(ctx, 20*time.Millisecond); err != nil || got {
		t.Fatalf("WaitForNotification after the notification was consumed = %v, %v", got, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.WaitForNotification(cctx, time.Second); err == nil {
		t.Fatal("WaitForNotification with an ended context: no error")
	}
}
