package videoforge

import (
	"context"
	"time"
)

// Revocation is a row of the catalog's revocations: tokens of VideoID signed at a
// generation below TokenGen are refused. Deleted says the video is gone. RevokedAt
// tells a revocation apart from a later one of the same video, which replaces it.
type Revocation struct {
	VideoID   int64
	TokenGen  int64
	Deleted   bool
	RevokedAt time.Time
}

// RevocationLog is the catalog's table of revocations as the pusher that moves them to
// the verifiers' store sees it. Any number of pushers may share it: each works in
// transactions that lock the videos they handle, skipping those another one holds.
type RevocationLog interface {
	// Begin starts a transaction on the log of the schema the database's search_path
	// selects. Its locks last until it commits or rolls back.
	Begin(ctx context.Context) (RevocationTx, error)
	// DeleteUnpushed deletes the revocations never pushed that were revoked more than
	// age ago, and reports how many.
	DeleteUnpushed(ctx context.Context, age time.Duration) (int64, error)
}

// RevocationTx is a transaction on the revocation log. Its Lock methods take a
// transaction-scoped lock on each video they return, skipping the videos another
// transaction holds, and take no row lock, so that the catalog's own writes never
// wait for them. The read methods run in statements of their own after the locks,
// and so see every revocation committed before the locks were taken.
type RevocationTx interface {
	// OldestUnpushed returns when the oldest unpushed revocation was revoked; ok is
	// false when every revocation is pushed.
	OldestUnpushed(ctx context.Context) (at time.Time, ok bool, err error)
	// LockUnpushed locks up to limit videos with an unpushed revocation, the oldest
	// revocations first, and returns their ids.
	LockUnpushed(ctx context.Context, limit int) ([]int64, error)
	// Unpushed reads the unpushed revocations of the videos ids, in id order.
	Unpushed(ctx context.Context, ids []int64) ([]Revocation, error)
	// LockExpired locks up to limit videos whose pushed revocation was revoked more
	// than age ago, the oldest first, and returns their ids.
	LockExpired(ctx context.Context, age time.Duration, limit int) ([]int64, error)
	// Expired reads the pushed revocations of the videos ids revoked more than age
	// ago, in id order.
	Expired(ctx context.Context, ids []int64, age time.Duration) ([]Revocation, error)
	// MarkPushed marks the revocations pushed, except those revoked again since they
	// were read (a different RevokedAt), and reports how many it marked.
	MarkPushed(ctx context.Context, revs []Revocation) (int64, error)
	// Delete deletes the revocations, except those revoked again since they were
	// read, and reports how many it deleted.
	Delete(ctx context.Context, revs []Revocation) (int64, error)
	// Commit commits the transaction, which releases its locks.
	Commit(ctx context.Context) error
	// Rollback ends the transaction without committing; after Commit it does nothing.
	Rollback(ctx context.Context) error
}
