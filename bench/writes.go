package main

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/catalog/postgres/pgadmin"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/pgcluster"
	"github.com/videoforge/videoforge/schema"
)

// writeClients are the concurrent clients of each write measurement: one catalog
// request at a time, a few, and many (group commit shares one WAL flush among them).
var writeClients = []int{1, 4, 16}

// writeKind is one kind of write: op does one of it with the client's own generator.
type writeKind struct {
	name, what string
	rows       int // rows changed per op, for a rate in rows
	op         func(ctx context.Context, rng *mrand.Rand) error
}

// benchWrites measures the writes per second one PostgreSQL primary sustains on this
// machine, through the catalog's own store: a bare commit (the WAL flush every write
// waits for), an upload (CreateUpload then CompleteUpload: two transactions), an update
// (UpdateVideo's title change, which the search triggers and indexes follow), and the
// edge's view flushes (AddViews of viewBatch distinct videos in one transaction), each
// with 1, 4 and 16 clients over a catalog of n videos. Without DATABASE_URL it runs on a
// private cluster with fsync on (the tests' clusters run without), so that commits cost
// what they cost on a real disk; beside each rate it gives the server's CPU time and
// the WAL bytes per write, which scale to other machines.
func benchWrites(ctx context.Context, n int, dur time.Duration, viewBatch int) ([]row, []string, error) {
	adminDSN, postmaster, cleanup, err := writesPostgres(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer cleanup()
	admin, err := pgadmin.Connect(ctx, adminDSN)
	if err != nil {
		return nil, nil, err
	}
	defer admin.Close()
	name := "vfbench_writes_" + randHex(4)
	if err := admin.CreateDatabase(ctx, name, ""); err != nil {
		return nil, nil, err
	}
	defer admin.DropDatabase(context.Background(), name)
	dsn := withDatabase(adminDSN, name)
	if err := schema.Migrate(ctx, dsn, schema.DefaultSchema); err != nil {
		return nil, nil, err
	}
	cfg := postgres.Config{URL: dsn, Schema: schema.DefaultSchema, MaxConns: int32(slices.Max(writeClients)) + 2}
	began := time.Now()
	created := time.Now().Add(-time.Duration(n) * time.Minute)
	desc := "a video the write benchmark changes"
	err = postgres.SeedVideos(ctx, cfg, n, func(i int) videoforge.Video {
		return videoforge.Video{UserID: "bench", Title: "write bench video " + strconv.Itoa(i), Description: &desc,
			S3Key: layout.VideosFolder + strconv.Itoa(i) + "/", Visibility: videoforge.Public, Status: videoforge.StatusReady,
			CreatedAt: created.Add(time.Duration(i) * time.Minute), UpdatedAt: created.Add(time.Duration(i) * time.Minute)}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("seed: %w", err)
	}
	seeded := time.Since(began)
	db, err := postgres.Open(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	pool := db.Pool()
	var lo, hi int64
	if err := pool.QueryRow(ctx, `SELECT min(id), max(id) FROM videos`).Scan(&lo, &hi); err != nil {
		return nil, nil, err
	}
	var fsync, syncCommit, version, migration string
	_ = pool.QueryRow(ctx, `SELECT current_setting('fsync'), current_setting('synchronous_commit'), current_setting('server_version')`).Scan(&fsync, &syncCommit, &version)
	_ = pool.QueryRow(ctx, `SELECT max(version_id)::text FROM goose_db_version`).Scan(&migration)

	videos, jobs := postgres.NewVideoService(db), postgres.NewJobService(db)
	edgeDB := postgres.NewEdgeCatalog(db)
	seal := func(ctx context.Context, j *videoforge.Job, videoID int64) (videoforge.Source, error) {
		return videoforge.Source{Key: j.SourceKey, Size: 10 << 20, ETag: `"` + randHex(8) + `"`}, nil
	}
	kinds := []writeKind{
		{name: "commit", what: "a bare commit (BEGIN; txid_current(); COMMIT: the WAL flush)", rows: 1, op: func(ctx context.Context, _ *mrand.Rand) error {
			_, err := pool.Exec(ctx, `SELECT txid_current()`)
			return err
		}},
		{name: "upload", what: "an upload: CreateUpload + CompleteUpload (2 transactions, job, video, created event)", rows: 1, op: func(ctx context.Context, _ *mrand.Rand) error {
			v := &videoforge.Video{UserID: "uploader", Title: "an upload of the write benchmark", Visibility: videoforge.Public}
			j, err := jobs.CreateUpload(ctx, v)
			if err != nil {
				return err
			}
			_, err = jobs.CompleteUpload(ctx, j.ID, "uploader", seal)
			return err
		}},
		{name: "update", what: "an update: UpdateVideo of title and description (version, updated event, search)", rows: 1, op: func(ctx context.Context, rng *mrand.Rand) error {
			id := lo + rng.Int64N(hi-lo+1)
			title := "write bench title " + strconv.Itoa(rng.IntN(1_000_000))
			desc := "changed by the write benchmark " + strconv.Itoa(rng.IntN(1000))
			_, err := videos.UpdateVideo(ctx, id, "bench", videoforge.VideoUpdate{Title: &title, Description: &desc})
			return err
		}},
		{name: "views", what: fmt.Sprintf("a view flush: AddViews of %d distinct videos (one edge's interval)", viewBatch), rows: viewBatch, op: func(ctx context.Context, rng *mrand.Rand) error {
			set := make(map[int64]bool, viewBatch)
			for len(set) < min(viewBatch, int(hi-lo+1)) {
				set[lo+rng.Int64N(hi-lo+1)] = true
			}
			ids := slices.Sorted(func(yield func(int64) bool) {
				for id := range set {
					if !yield(id) {
						return
					}
				}
			})
			counts := make([]int64, len(ids))
			for i := range counts {
				counts[i] = 1 + rng.Int64N(20)
			}
			return edgeDB.AddViews(ctx, ids, counts)
		}},
	}

	command := fmt.Sprintf("go run ./bench -only writes -writes-videos %d -writes-duration %s -view-batch %d", n, dur, viewBatch)
	var rows []row
	for _, k := range kinds {
		for _, clients := range writeClients {
			r, err := measureWrites(ctx, pool, postmaster, k, clients, dur)
			if err != nil {
				return nil, nil, fmt.Errorf("%s, %d clients: %w", k.name, clients, err)
			}
			r.command = command
			rows = append(rows, r)
		}
	}
	var upd, hot int64
	_ = pool.QueryRow(ctx, `SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = 'videos'::regclass`).Scan(&upd, &hot)
	var indexes int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM pg_index WHERE indrelid = 'videos'::regclass`).Scan(&indexes)
	notes := []string{fmt.Sprintf("Writes: of the videos rows' %d updates %d were HOT (no index touched): a change of views (an indexed column) or of the title writes an entry into each of the table's %d indexes.", upd, hot, indexes),
		fmt.Sprintf("Writes: PostgreSQL %s, fsync=%s, synchronous_commit=%s, schema at migration %s; %d videos seeded in %s; each figure over %s of as many ops as the clients could do, the Go clients on the same 2 cores as the server. "+
			"CPU is the server's (postmaster and backends, from /proc), WAL the bytes pg_current_wal_lsn() moved, both per op; a remote DATABASE_URL gives no CPU figure.",
			version, fsync, syncCommit, migration, n, seeded.Round(time.Second), dur)}
	return rows, notes, nil
}

// measureWrites runs k's op from clients goroutines for dur and returns its row.
func measureWrites(ctx context.Context, pool *pgxpool.Pool, postmaster int, k writeKind, clients int, dur time.Duration) (row, error) {
	var walBefore, walAfter int64
	if err := pool.QueryRow(ctx, `SELECT pg_current_wal_lsn() - '0/0'`).Scan(&walBefore); err != nil {
		return row{}, err
	}
	cpuBefore := serverCPU(postmaster)
	began := time.Now()
	deadline := began.Add(dur)
	lat := make([][]time.Duration, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(c), uint64(began.UnixNano())))
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t := time.Now()
				if err := k.op(ctx, rng); err != nil {
					errs[c] = err
					return
				}
				lat[c] = append(lat[c], time.Since(t))
			}
		}()
	}
	wg.Wait()
	took := time.Since(began)
	cpuAfter := serverCPU(postmaster)
	if err := errors.Join(errs...); err != nil {
		return row{}, err
	}
	if err := pool.QueryRow(ctx, `SELECT pg_current_wal_lsn() - '0/0'`).Scan(&walAfter); err != nil {
		return row{}, err
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	ops := len(all)
	if ops == 0 {
		return row{}, errors.New("no op finished")
	}
	rate := float64(ops) / took.Seconds()
	measured := fmt.Sprintf("%.0f/s", rate)
	if k.rows > 1 {
		measured += fmt.Sprintf(" (%.0f video rows/s)", rate*float64(k.rows))
	}
	measured += fmt.Sprintf(", p50 %s, p99 %s", ms(percentile(all, 50)), ms(percentile(all, 99)))
	if cpuBefore >= 0 && cpuAfter >= 0 {
		measured += fmt.Sprintf(", server CPU %.2f ms", float64(cpuAfter-cpuBefore)/float64(ops)/float64(time.Millisecond))
	}
	measured += fmt.Sprintf(", WAL %.1f kB per op", float64(walAfter-walBefore)/float64(ops)/1000)
	return row{what: fmt.Sprintf("writes: %s, %d client(s)", k.what, clients), measured: measured, target: "the figures of README, Scaling the database"}, nil
}

// writesPostgres returns the admin URL of the server the write benchmark uses: the one
// at DATABASE_URL (postmaster 0: its CPU cannot be read), else a private cluster with
// fsync on, and the PID of its postmaster.
func writesPostgres(ctx context.Context) (dsn string, postmaster int, cleanup func(), err error) {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u, 0, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "vfbench-writes-")
	if err != nil {
		return "", 0, nil, err
	}
	cl, err := pgcluster.Start(ctx, dir, pgcluster.Options{Fsync: true})
	if err != nil {
		os.RemoveAll(dir)
		return "", 0, nil, err
	}
	b, err := os.ReadFile(filepath.Join(cl.Dir, "postmaster.pid"))
	if err == nil {
		postmaster, _ = strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	}
	return cl.DSN("postgres"), postmaster, func() { cl.Kill(); os.RemoveAll(dir) }, nil
}

// serverCPU is the user and system time of the postmaster and its children (the
// backends and background processes, running or ended), from /proc; -1 when it cannot
// be read.
func serverCPU(postmaster int) time.Duration {
	if postmaster <= 0 {
		return -1
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return -1
	}
	var ticks int64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime stime: fields 4, 14 and 15, counted after comm.
		_, rest, ok := strings.Cut(string(b), ") ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		if pid != postmaster && ppid != postmaster {
			continue
		}
		for _, i := range []int{11, 12} { // utime, stime
			v, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += v
		}
		if pid == postmaster && len(f) > 14 {
			// cutime, cstime: the backends and workers that ended, which the postmaster
			// reaped, so that a connection closed during a run is not lost.
			for _, i := range []int{13, 14} {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				ticks += v
			}
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}
