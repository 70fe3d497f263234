package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/videoforge/videoforge"
)

// uploadReleaseChannel is the NOTIFY channel on which a process asks the holder of an
// upload's lock to let go of it; the payload is the upload's id.
const uploadReleaseChannel = "videoforge_upload_release"

// How the locker waits and watches: a lock held elsewhere is tried again with growing
// pauses up to lockPollMax and its holder asked again every askAgain; the session
// holding this process's locks is checked every heartbeat, so that locks lost with it
// (a failover, a killed backend) are given up by their holders within about that long.
const (
	lockPollMax = 200 * time.Millisecond
	askAgain    = 500 * time.Millisecond
	heartbeat   = time.Second
	sessionWait = 5 * time.Second
)

// UploadLocker is a tusd handler.Locker whose locks hold across every process on the
// database, so that a fleet of catalog instances never handles one resumable upload in
// two requests at once. A lock is a session advisory lock, taken on a connection kept
// for this process's locks, and a lock wanted while another process holds it makes
// that process's holder let go (a NOTIFY it listens for), as tusd's own in-process
// locker does. Within the process it works as tusd's memorylocker.
//
// If the connection holding the locks breaks, PostgreSQL drops them: the locker tells
// every holder to let go as soon as it notices (within a heartbeat), so a request on
// another instance may overlap the end of one that was stopping.
type UploadLocker struct {
	db  *DB
	log *slog.Logger

	mu    sync.Mutex // guards holds
	holds map[string]*uploadHold

	sessMu sync.Mutex // guards sess and gen, and serialises statements on sess
	sess   *pgx.Conn  // nil until first needed and after it broke
	gen    uint64     // grows with every new session

	stop chan struct{}
	wg   sync.WaitGroup
}

// uploadHold is one request's hold on an upload in this process.
type uploadHold struct {
	release func()        // asks the holder to let go
	free    chan struct{} // closed when the hold ends
	gen     uint64        // the session holding its advisory lock; 0 while still acquiring
}

// NewUploadLocker returns a locker over db's database. Close stops it.
func NewUploadLocker(db *DB, log *slog.Logger) *UploadLocker {
	if log == nil {
		log = slog.Default()
	}
	l := &UploadLocker{db: db, log: log.With("component", "upload-locker"), holds: map[string]*uploadHold{}, stop: make(chan struct{})}
	l.wg.Go(l.listen)
	l.wg.Go(l.watch)
	return l
}

// UseIn makes composer use the locker.
func (l *UploadLocker) UseIn(composer *tusd.StoreComposer) { composer.UseLocker(l) }

// NewLock returns the (unlocked) lock of upload id.
func (l *UploadLocker) NewLock(id string) (tusd.Lock, error) {
	return &uploadLock{l: l, id: id, key: uploadLockKey(id)}, nil
}

// Close stops listening and closes the session, which releases every lock it holds.
func (l *UploadLocker) Close() {
	close(l.stop)
	l.wg.Wait()
	l.sessMu.Lock()
	defer l.sessMu.Unlock()
	l.dropSession()
}

// uploadLockKey is the advisory lock key of an upload id.
func uploadLockKey(id string) int64 {
	h := fnv.New64a()
	h.Write([]byte("videoforge/upload/"))
	h.Write([]byte(id))
	return int64(h.Sum64())
}

type uploadLock struct {
	l    *UploadLocker
	id   string
	key  int64
	hold *uploadHold
}

// Lock takes the upload: first from the other requests of this process, then from the
// other processes, asking each holder to let go; tusd.ErrLockTimeout when ctx ends
// first, or the database's error when it could not be asked.
func (k *uploadLock) Lock(ctx context.Context, requestRelease func()) error {
	l := k.l
	h := &uploadHold{release: requestRelease, free: make(chan struct{})}
	for {
		l.mu.Lock()
		other, busy := l.holds[k.id]
		if !busy {
			l.holds[k.id] = h
			l.mu.Unlock()
			break
		}
		l.mu.Unlock()
		other.release()
		select {
		case <-other.free:
		case <-ctx.Done():
			return tusd.ErrLockTimeout
		}
	}
	wait := 10 * time.Millisecond
	var asked time.Time
	var lastErr error
	for {
		gen, ok, err := l.try(k.key)
		if ok {
			l.mu.Lock()
			h.gen = gen
			l.mu.Unlock()
			k.hold = h
			return nil
		}
		if err != nil {
			lastErr = err
		} else if time.Since(asked) >= askAgain {
			l.ask(k.id)
			asked = time.Now()
		}
		select {
		case <-ctx.Done():
			l.forget(k.id, h)
			if lastErr != nil {
				return translate("lock upload "+k.id, lastErr)
			}
			return tusd.ErrLockTimeout
		case <-time.After(wait):
		}
		wait = min(2*wait, lockPollMax)
	}
}

// Unlock lets go of the upload.
func (k *uploadLock) Unlock() error {
	h := k.hold
	if h == nil {
		return nil
	}
	k.hold = nil
	k.l.unlock(k.key, h.gen)
	k.l.forget(k.id, h)
	return nil
}

// forget ends hold h of upload id in this process.
func (l *UploadLocker) forget(id string, h *uploadHold) {
	l.mu.Lock()
	if l.holds[id] == h {
		delete(l.holds, id)
	}
	l.mu.Unlock()
	close(h.free)
}

// try takes the advisory lock key on the session, connecting it when needed, and
// returns the session's generation.
func (l *UploadLocker) try(key int64) (gen uint64, ok bool, err error) {
	l.sessMu.Lock()
	defer l.sessMu.Unlock()
	// The caller's context does not reach the session: a statement cut short by
	// it would close the connection, and every lock on it.
	ctx, cancel := context.WithTimeout(context.Background(), sessionWait)
	defer cancel()
	if l.sess == nil {
		c, err := l.db.pool.Acquire(ctx)
		if err != nil {
			return 0, false, err
		}
		l.sess = c.Hijack()
		l.gen++
	}
	if err := l.sess.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
		l.log.Warn("upload lock session failed", "err", err)
		l.dropSession()
		return 0, false, err
	}
	return l.gen, ok, nil
}

// unlock releases the advisory lock key, if the session that took it is still the one.
func (l *UploadLocker) unlock(key int64, gen uint64) {
	l.sessMu.Lock()
	defer l.sessMu.Unlock()
	if l.sess == nil || gen != l.gen {
		return // that session is gone, and its locks with it
	}
	ctx, cancel := context.WithTimeout(context.Background(), sessionWait)
	defer cancel()
	if _, err := l.sess.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
		l.log.Warn("upload lock session failed", "err", err)
		l.dropSession()
	}
}

// dropSession closes the session (its locks go with it) and tells their holders to let
// go. sessMu must be held.
func (l *UploadLocker) dropSession() {
	if l.sess == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	l.sess.Close(ctx)
	cancel()
	l.sess = nil
	var lost []*uploadHold
	l.mu.Lock()
	for _, h := range l.holds {
		if h.gen == l.gen {
			lost = append(lost, h)
		}
	}
	l.mu.Unlock()
	for _, h := range lost {
		go h.release()
	}
}

// watch checks the session every heartbeat, so that holders of locks it lost learn of
// it even while nothing else happens on it.
func (l *UploadLocker) watch() {
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		l.sessMu.Lock()
		if l.sess != nil {
			ctx, cancel := context.WithTimeout(context.Background(), sessionWait)
			if err := l.sess.Ping(ctx); err != nil {
				l.log.Warn("lost the session holding upload locks; their holders are stopped", "err", err)
				l.dropSession()
			}
			cancel()
		}
		l.sessMu.Unlock()
	}
}

// ask asks whichever process holds upload id to let go of it.
func (l *UploadLocker) ask(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), sessionWait)
	defer cancel()
	if _, err := l.db.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, uploadReleaseChannel, id); err != nil {
		l.log.Warn("ask for an upload lock", "upload", id, "err", err)
	}
}

// listen takes the release requests of other processes, on a connection of its own,
// reconnecting until Close.
func (l *UploadLocker) listen() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-l.stop; cancel() }()
	for ctx.Err() == nil {
		err := l.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		l.log.Warn("upload lock release requests: listening again", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (l *UploadLocker) listenOnce(ctx context.Context) error {
	c, err := l.db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := c.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+uploadReleaseChannel); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		l.mu.Lock()
		h := l.holds[n.Payload]
		held := h != nil && h.gen != 0
		l.mu.Unlock()
		if held {
			go h.release()
		}
	}
}

// WhilePending runs write while job jobID is pending, and keeps it so until write
// returns (a share lock on the job's row): a complete of the job waits for write, and
// once a complete was accepted write is not run and the answer is ECONFLICT. It is how
// a resumable upload's last step stores the source without racing complete.
func (s *JobService) WhilePending(ctx context.Context, jobID int64, write func(ctx context.Context) error) error {
	op := "hold pending job " + strconv.FormatInt(jobID, 10)
	return pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
		var status videoforge.JobStatus
		err := tx.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1 FOR SHARE`, jobID).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return videoforge.Errorf(videoforge.ENOTFOUND, "job %d not found", jobID)
		} else if err != nil {
			return translate(op, err)
		}
		if status != videoforge.JobPending {
			return videoforge.Errorf(videoforge.ECONFLICT, "job %d is %s: its upload was completed and it takes no more bytes", jobID, status)
		}
		if err := write(ctx); err != nil {
			return fmt.Errorf("postgres: %s: %w", op, err)
		}
		return nil
	})
}
