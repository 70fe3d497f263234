package uploads

import (
	"context"
	"time"
)

// SweepMultipart runs one round of the multipart sweeper with age for its cutoff.
func (u *Uploads) SweepMultipart(ctx context.Context, age time.Duration) (int, error) {
	return u.sweepMultipart(ctx, age)
}
