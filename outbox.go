package videoforge

import (
	"context"
	"time"
)

// OutboxRow is an unpublished row of the catalog's outbox: one catalog event, written
// in the transaction of its change.
type OutboxRow struct {
	ID        int64 // grows with every row
	EventID   string
	Subject   string
	VideoID   int64
	Version   int64
	Payload   []byte // the event's JSON, as published
	CreatedAt time.Time
	// TraceParent is the W3C traceparent of the change that wrote the row, "" when it
	// was not traced: the relay's publish span continues that trace.
	TraceParent string
}

// Outbox is the catalog's outbox as the relay publishing it sees it.
type Outbox interface {
	// OpenSession opens a dedicated database session, shown as appName in the
	// server's list of sessions, for the outbox of the schema the database's
	// search_path selects. Its statements have no statement timeout.
	OpenSession(ctx context.Context, appName string) (OutboxSession, error)
	// DeletePublished deletes up to limit of the oldest rows published more than age
	// ago, and reports how many.
	DeletePublished(ctx context.Context, age time.Duration, limit int) (int64, error)
}

// OutboxSession is a relay's dedicated session. It can hold the publisher lock of its
// schema, which elects one relay; the lock lasts as long as the session, and the
// server knows when the session last ran a statement, which lets a standby fence a
// holder that went silent.
type OutboxSession interface {
	// Schema is the schema whose outbox the session reads.
	Schema() string
	// TryLock takes the publisher lock if no other session holds it, and reports
	// whether this session holds it now.
	TryLock(ctx context.Context) (bool, error)
	// FenceStalled terminates the session holding the publisher lock if it has run no
	// statement for silence, waiting up to silence again for it to exit (which ends
	// its lock), and returns the process ids it terminated.
	FenceStalled(ctx context.Context, silence time.Duration) ([]int32, error)
	// HoldsLock reports whether this session still holds the publisher lock.
	HoldsLock(ctx context.Context) (bool, error)
	// Listen subscribes the session to the notification sent on every commit that
	// adds outbox rows (on the channel OutboxChannel names).
	Listen(ctx context.Context) error
	// WaitForNotification waits up to d for a notification. It reports true once one
	// has arrived, having consumed every notification already received, so that a
	// burst of commits costs one read; false, and no error, when d ran out.
	WaitForNotification(ctx context.Context, d time.Duration) (bool, error)
	// Unpublished reads up to limit unpublished rows in id order.
	Unpublished(ctx context.Context, limit int) ([]OutboxRow, error)
	// MarkPublished marks the rows ids published, unless this session no longer holds
	// the publisher lock: a fenced session marks nothing.
	MarkPublished(ctx context.Context, ids []int64) error
	// Close ends the session, which releases the publisher lock.
	Close()
}

// OutboxChannel returns the notification channel of a schema's outbox, as the trigger
// of migration 00002 names it: <schema>_outbox, cut to PostgreSQL's 63 bytes.
func OutboxChannel(schema string) string {
	c := schema + "_outbox"
	if len(c) > 63 {
		c = c[:63]
	}
	return c
}
