package postgres

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/videoforge/videoforge"
)

// ReplicaRetry is how long listings stay on the primary after the replica failed to
// answer one, before the replica is tried again. It keeps a dead replica from costing
// every listing a connection attempt.
const ReplicaRetry = 5 * time.Second

// ReplicaVideoService is the video store with the gallery's listings and searches
// (FindVideos) read from a read replica, and everything that must read its own writes
// from the primary: FindVideoByID (an owner reads a video right after changing it),
// and every write. A streaming replica lags its primary (on RDS typically well under a
// second), so a listing may miss a change for that long; a video's own page never does.
//
// While the replica cannot be reached (or cancels a query for a conflict with its
// recovery), listings are answered by the primary, and for ReplicaRetry after a failure
// the replica is not tried at all. A listing that fails on the replica for any other
// reason (a bad cursor, a statement timeout) fails as it would on the primary.
type ReplicaVideoService struct {
	primary, replica *VideoService
	log              *slog.Logger

	retry     time.Duration
	downUntil atomic.Int64 // UnixNano before which the replica is not tried
	down      atomic.Bool  // logged as down, so that its return is logged once
}

var _ videoforge.VideoService = (*ReplicaVideoService)(nil)

// NewReplicaVideoService returns the video store over primary whose listings read from
// replica, a streaming replica of the same database. log notes when the replica stops
// and starts answering; nil discards that.
func NewReplicaVideoService(primary, replica *DB, log *slog.Logger) *ReplicaVideoService {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ReplicaVideoService{primary: NewVideoService(primary), replica: NewVideoService(replica), log: log, retry: ReplicaRetry}
}

// estimator is the listing that also says whether its total is an estimate; it is
// asserted rather than called directly so that this wrapper follows VideoService's
// listing as it is, with or without that method.
type estimator interface {
	FindVideosEstimated(ctx context.Context, f videoforge.VideoFilter) ([]*videoforge.Video, int, bool, error)
}

func findVideos(ctx context.Context, s *VideoService, f videoforge.VideoFilter) ([]*videoforge.Video, int, bool, error) {
	if e, ok := any(s).(estimator); ok {
		return e.FindVideosEstimated(ctx, f)
	}
	videos, total, err := s.FindVideos(ctx, f)
	return videos, total, false, err
}

// FindVideos returns one page of listed videos from the replica (the primary while the
// replica is down).
func (s *ReplicaVideoService) FindVideos(ctx context.Context, f videoforge.VideoFilter) ([]*videoforge.Video, int, error) {
	videos, total, _, err := s.FindVideosEstimated(ctx, f)
	return videos, total, err
}

// FindVideosEstimated is FindVideos saying whether the total is an estimate, as the
// primary's store does.
func (s *ReplicaVideoService) FindVideosEstimated(ctx context.Context, f videoforge.VideoFilter) ([]*videoforge.Video, int, bool, error) {
	if time.Now().UnixNano() >= s.downUntil.Load() {
		videos, total, est, err := findVideos(ctx, s.replica, f)
		switch {
		case err == nil:
			if s.down.CompareAndSwap(true, false) {
				s.log.Info("read replica answers again: listings read from it")
			}
			return videos, total, est, nil
		case ctx.Err() != nil:
			return nil, 0, false, err // the caller went away; the primary is not asked
		case recoveryConflict(err):
			// One query cancelled by the replica's replay: the replica itself is fine.
			s.log.Debug("read replica cancelled a listing (conflict with recovery); asking the primary", "err", err)
		case replicaDown(err):
			s.downUntil.Store(time.Now().Add(s.retry).UnixNano())
			if s.down.CompareAndSwap(false, true) {
				s.log.Warn("read replica unavailable: listings read from the primary", "retry", s.retry, "err", err)
			}
		default:
			return nil, 0, false, err
		}
	}
	return findVideos(ctx, s.primary, f)
}

// replicaDown says the replica could not answer at all (connection refused or lost,
// shutting down, too many connections), as opposed to refusing the query itself. A
// statement timeout is not one: the same query would take the primary as long.
func replicaDown(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "57014" {
		return false
	}
	if videoforge.ErrorCode(err) == videoforge.EUNAVAILABLE {
		return true
	}
	// A connection the replica (or the network) dropped in the middle of a query,
	// which translate does not count as an outage.
	var netErr net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.As(err, &netErr)
}

// recoveryConflict is a hot standby cancelling a query whose rows its replay must
// remove ("canceling statement due to conflict with recovery", SQLSTATE 40001; 40P01
// for a lock it waited on).
func recoveryConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// FindVideoByID reads the primary: an owner who just changed a video sees the change.
func (s *ReplicaVideoService) FindVideoByID(ctx context.Context, id int64, viewer string) (*videoforge.Video, error) {
	return s.primary.FindVideoByID(ctx, id, viewer)
}

// CreateVideo writes to the primary.
func (s *ReplicaVideoService) CreateVideo(ctx context.Context, v *videoforge.Video) error {
	return s.primary.CreateVideo(ctx, v)
}

// UpdateVideo writes to the primary.
func (s *ReplicaVideoService) UpdateVideo(ctx context.Context, id int64, userID string, upd videoforge.VideoUpdate) (*videoforge.Video, error) {
	return s.primary.UpdateVideo(ctx, id, userID, upd)
}

// DeleteVideo writes to the primary.
func (s *ReplicaVideoService) DeleteVideo(ctx context.Context, id int64, userID string) error {
	return s.primary.DeleteVideo(ctx, id, userID)
}
