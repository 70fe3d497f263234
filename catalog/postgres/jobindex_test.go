package postgres_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
)

// TestJobReadsUseAnIndex: reading a job names its video (jobColumns' subquery) by
// job_id through an index, not by scanning every video: with sequential scans priced
// out, no plan of that lookup or of a job's cascading delete scans videos.
func TestJobReadsUseAnIndex(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	conn, err := db.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`SELECT (SELECT v.id FROM videos v WHERE v.job_id = jobs.id ORDER BY v.id LIMIT 1) FROM jobs WHERE id = 1`,
		`SELECT 1 FROM videos WHERE job_id = 1`,
	} {
		rows, err := conn.Query(ctx, `EXPLAIN `+q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		if p := strings.Join(plan, "\n"); strings.Contains(p, "Seq Scan on videos") {
			t.Errorf("%s scans videos:\n%s", q, p)
		}
	}
}

// TestCutConnectionIsUnavailable: a connection cut mid-answer (an unexpected EOF, as a
// failover or a closing proxy gives) is the database being unavailable (503 with
// Retry-After), never an internal error.
func TestCutConnectionIsUnavailable(t *testing.T) {
	for _, err := range []error{io.ErrUnexpectedEOF, fmt.Errorf("read: %w", io.ErrUnexpectedEOF), io.EOF} {
		if got := postgres.Translate("find", err); videoforge.ErrorCode(got) != videoforge.EUNAVAILABLE {
			t.Errorf("%v: %v (%s)", err, got, videoforge.ErrorCode(got))
		}
	}
}
