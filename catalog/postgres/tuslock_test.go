package postgres_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/pgcluster/pgtest"
	"github.com/videoforge/videoforge/schema"
)

// instances opens n catalog "instances" on one database: each its own pool and locker,
// as separate processes would have.
func instances(t *testing.T, n int) []*postgres.UploadLocker {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	var ls []*postgres.UploadLocker
	for range n {
		db, err := postgres.Open(context.Background(), postgres.Config{URL: dsn, Schema: schema.DefaultSchema, AppName: "locker-test"})
		if err != nil {
			t.Fatal(err)
		}
		l := postgres.NewUploadLocker(db, nil)
		t.Cleanup(func() { l.Close(); db.Close() })
		ls = append(ls, l)
	}
	return ls
}

func lock(t *testing.T, l *postgres.UploadLocker, id string, d time.Duration, release func()) (tusd.Lock, error) {
	t.Helper()
	k, err := l.NewLock(id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return k, k.Lock(ctx, release)
}

// TestUploadLockerAcrossInstances: a lock held by one instance is released when another
// wants it (the holder is asked), and is not taken while its holder keeps it.
func TestUploadLockerAcrossInstances(t *testing.T) {
	ls := instances(t, 2)
	a, b := ls[0], ls[1]
	var held tusd.Lock
	asked := make(chan struct{}, 1)
	held, err := lock(t, a, "7/source+x", time.Second, func() { asked <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	go func() { <-asked; held.Unlock() }() // the holder lets go when asked, as tusd's requests do
	start := time.Now()
	kb, err := lock(t, b, "7/source+x", 10*time.Second, func() {})
	if err != nil {
		t.Fatalf("the other instance did not get the lock: %v", err)
	}
	t.Logf("lock handed over between instances in %v", time.Since(start).Round(time.Millisecond))

	// A holder that does not let go keeps it: the other instance times out.
	if _, err := lock(t, a, "7/source+x", 300*time.Millisecond, func() {}); !errors.Is(err, tusd.ErrLockTimeout) {
		t.Errorf("lock held elsewhere: %v, want ErrLockTimeout", err)
	}
	// Another upload is not held up.
	if k, err := lock(t, a, "8/source+y", time.Second, func() {}); err != nil {
		t.Errorf("another upload: %v", err)
	} else {
		k.Unlock()
	}
	kb.Unlock()
	if k, err := lock(t, a, "7/source+x", time.Second, func() {}); err != nil {
		t.Errorf("after unlock: %v", err)
	} else {
		k.Unlock()
	}
}

// TestUploadLockerExclusive: requests on two instances and within one never hold an
// upload at once.
func TestUploadLockerExclusive(t *testing.T) {
	ls := instances(t, 2)
	var inside, most, done atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 5 {
				k, err := lock(t, ls[i%2], "job-1", 30*time.Second, func() {})
				if err != nil {
					t.Error(err)
					return
				}
				n := inside.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(2 * time.Millisecond)
				inside.Add(-1)
				k.Unlock()
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if most.Load() != 1 || done.Load() != 40 {
		t.Errorf("at most %d holders at once, %d of 40 done", most.Load(), done.Load())
	}
}

// TestUploadLockerLostSession: when the connection holding the locks is killed, their
// holders are told to let go, and another instance can take them.
func TestUploadLockerLostSession(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	open := func(app string) (*postgres.DB, *postgres.UploadLocker) {
		db, err := postgres.Open(context.Background(), postgres.Config{URL: dsn, Schema: schema.DefaultSchema, AppName: app})
		if err != nil {
			t.Fatal(err)
		}
		l := postgres.NewUploadLocker(db, nil)
		t.Cleanup(func() { l.Close(); db.Close() })
		return db, l
	}
	dbA, a := open("locker-a")
	_, b := open("locker-b")
	released := make(chan struct{})
	if _, err := lock(t, a, "9/source+z", time.Second, func() { close(released) }); err != nil {
		t.Fatal(err)
	}
	// Kill instance a's backends that hold advisory locks (the lock session).
	if _, err := dbA.Pool().Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND pid IN (SELECT pid FROM pg_stat_activity WHERE application_name = 'locker-a')`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-released:
	case <-time.After(10 * time.Second):
		t.Fatal("the holder of a lost lock was not told to let go")
	}
	if k, err := lock(t, b, "9/source+z", 10*time.Second, func() {}); err != nil {
		t.Errorf("another instance after the session was lost: %v", err)
	} else {
		k.Unlock()
	}
	// a works again on a new session.
	if k, err := lock(t, a, "10/source+w", 10*time.Second, func() {}); err != nil {
		t.Errorf("after reconnecting: %v", err)
	} else {
		k.Unlock()
	}
}

// TestWhilePending: the write runs only while the job is pending, and a complete that
// comes meanwhile waits for it to finish.
func TestWhilePending(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js := postgres.NewJobService(db)
	v := &videoforge.Video{UserID: "alice", Title: "clip", Visibility: videoforge.Public}
	j, err := js.CreateUpload(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	completed := make(chan error, 1)
	var wrote atomic.Bool
	err = js.WhilePending(ctx, j.ID, func(ctx context.Context) error {
		// A complete (the row's update to queued) starts while the source is written...
		go func() {
			_, err := db.Pool().Exec(context.Background(), `UPDATE jobs SET status = 'queued' WHERE id = $1`, j.ID)
			completed <- err
		}()
		// ...and waits on the row until the write is done.
		deadline := time.Now().Add(10 * time.Second)
		for {
			var waiting bool
			if err := db.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'UPDATE jobs SET status%')`).Scan(&waiting); err != nil {
				return err
			}
			if waiting {
				break
			}
			if time.Now().After(deadline) {
				t.Error("the complete did not wait for the write")
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		select {
		case err := <-completed:
			t.Errorf("the complete went through during the write: %v", err)
		default:
		}
		wrote.Store(true)
		return nil
	})
	if err != nil || !wrote.Load() {
		t.Fatalf("write of a pending job: %v", err)
	}
	if err := <-completed; err != nil {
		t.Fatal(err)
	}
	err = js.WhilePending(ctx, j.ID, func(context.Context) error {
		t.Error("write ran for a queued job")
		return nil
	})
	if videoforge.ErrorCode(err) != videoforge.ECONFLICT {
		t.Errorf("queued job: %v, want a conflict", err)
	}
	if err := js.WhilePending(ctx, j.ID+1000, func(context.Context) error { return nil }); videoforge.ErrorCode(err) != videoforge.ENOTFOUND {
		t.Errorf("unknown job: %v", err)
	}
}
