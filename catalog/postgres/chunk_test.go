package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog/postgres"
)

// shortLease runs out soon enough for a test to wait for it.
const shortLease = 50 * time.Millisecond

// waitFor polls cond until it holds, failing the test after a while.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func split(t *testing.T, js *postgres.JobService, a *videoforge.Attempt, n int) {
	t.Helper()
	if err := js.SplitJob(context.Background(), a, tasks(n)); err != nil {
		t.Fatalf("SplitJob(%d): %v", n, err)
	}
}

// claim claims chunk index (the lowest claimable one when < 0) of the attempt and
// fails the test without one.
func claim(t *testing.T, js *postgres.JobService, a *videoforge.Attempt, index int, lease time.Duration) *videoforge.ChunkClaim {
	t.Helper()
	c, err := js.ClaimChunk(context.Background(), a.JobID, a.Token, index, lease)
	if err != nil || c == nil {
		t.Fatalf("ClaimChunk(%d): %+v %v", index, c, err)
	}
	// The claim carries what the split recorded of its chunk and the sealed source.
	if string(c.Task) != fmt.Sprintf("task %d", c.Index) || c.Source != a.Source {
		t.Fatalf("claim %+v: want task %d and the source %+v", c, c.Index, a.Source)
	}
	return c
}

// tasks are n chunks' tasks as the transcoder would record them.
func tasks(n int) [][]byte {
	var out [][]byte
	for i := 0; i < n; i++ {
		out = append(out, []byte(fmt.Sprintf("task %d", i)))
	}
	return out
}

// noClaim checks that there is nothing to claim at index.
func noClaim(t *testing.T, js *postgres.JobService, jobID, token int64, index int) {
	t.Helper()
	if c, err := js.ClaimChunk(context.Background(), jobID, token, index, lease); err != nil || c != nil {
		t.Fatalf("ClaimChunk(%d) of attempt %d: %+v %v, want nothing to claim", index, token, c, err)
	}
}

func chunks(t *testing.T, js *postgres.JobService, jobID, token int64) []videoforge.Chunk {
	t.Helper()
	cs, err := js.Chunks(context.Background(), jobID, token)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// waitLeaseOut waits until the chunk's lease has run out, by the database's clock.
func waitLeaseOut(t *testing.T, js *postgres.JobService, c *videoforge.ChunkClaim) {
	t.Helper()
	waitFor(t, fmt.Sprintf("the lease of chunk %d to run out", c.Index), func() bool {
		return !chunks(t, js, c.JobID, c.Token)[c.Index].Held
	})
}

// supersede starts a new attempt once a's lease (short) has run out.
func supersede(t *testing.T, js *postgres.JobService, a *videoforge.Attempt) *videoforge.Attempt {
	t.Helper()
	var cur *videoforge.Attempt
	waitFor(t, "the job's lease to run out", func() bool {
		var err error
		cur, err = js.StartJob(context.Background(), a.JobID, a.VideoID, lease)
		if err != nil && !errors.Is(err, videoforge.ErrJobHeld) {
			t.Fatal(err)
		}
		return cur != nil
	})
	if cur.Token != a.Token+1 {
		t.Fatalf("tokens %d then %d", a.Token, cur.Token)
	}
	return cur
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if videoforge.ErrorCode(err) != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
}

// TestChunkClaimEach: claims of the lowest claimable chunk take each chunk once, in
// order, and completing them all makes every chunk done.
func TestChunkClaimEach(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js, j, v := newJob(t, db)
	a := start(t, js, j, v, lease)
	if cs := chunks(t, js, j.ID, a.Token); len(cs) != 0 {
		t.Fatalf("chunks before the split: %+v", cs)
	}
	split(t, js, a, 5)
	var claims []*videoforge.ChunkClaim
	for {
		c, err := js.ClaimChunk(ctx, j.ID, a.Token, -1, lease)
		if err != nil {
			t.Fatal(err)
		}
		if c == nil {
			break
		}
		want := videoforge.ChunkClaim{JobID: j.ID, VideoID: v.ID, Token: a.Token, Index: len(claims), Claim: 1,
			Task: []byte(fmt.Sprintf("task %d", len(claims))), Source: a.Source}
		if !reflect.DeepEqual(*c, want) {
			t.Fatalf("claim %+v, want %+v", c, want)
		}
		claims = append(claims, c)
	}
	if len(claims) != 5 {
		t.Fatalf("%d claims, want 5", len(claims))
	}
	for _, c := range chunks(t, js, j.ID, a.Token) {
		if !c.Held || c.Done || c.Claim != 1 {
			t.Fatalf("claimed chunk %+v", c)
		}
	}
	for _, c := range claims {
		if err := js.RenewChunk(ctx, c, lease); err != nil {
			t.Fatal(err)
		}
		if err := js.CompleteChunk(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	cs := chunks(t, js, j.ID, a.Token)
	for i, c := range cs {
		if c != (videoforge.Chunk{Index: i, Done: true, Claim: 1}) {
			t.Fatalf("completed chunk %+v", c)
		}
	}
	if len(cs) != 5 {
		t.Fatalf("%d chunks, want 5", len(cs))
	}
	noClaim(t, js, j.ID, a.Token, -1)
}

// TestChunkClaimConcurrently: workers claiming at once never get the same chunk and
// claim, and together claim each chunk once.
func TestChunkClaimConcurrently(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js, j, v := newJob(t, db)
	a := start(t, js, j, v, lease)
	const n = 60
	split(t, js, a, n)
	var mu sync.Mutex
	got := map[[2]int64]int{} // (index, claim) → claims of it
	perIndex := make([]int, n)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				c, err := js.ClaimChunk(ctx, j.ID, a.Token, -1, lease)
				if err != nil {
					t.Error(err)
					return
				}
				if c == nil {
					return
				}
				mu.Lock()
				got[[2]int64{int64(c.Index), c.Claim}]++
				perIndex[c.Index]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for k, times := range got {
		if times != 1 {
			t.Errorf("chunk %d claim %d handed out %d times", k[0], k[1], times)
		}
	}
	for i, times := range perIndex {
		if times != 1 {
			t.Errorf("chunk %d claimed %d times, want once", i, times)
		}
	}
}

// TestChunkLeaseRunsOut: a claim whose lease ran out loses its chunk to the next
// claim, but completes it (or renews) while nobody took it.
func TestChunkLeaseRunsOut(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js, j, v := newJob(t, db)
	a := start(t, js, j, v, lease)
	split(t, js, a, 3)

	t.Run("Reclaimed", func(t *testing.T) {
		old := claim(t, js, a, 0, shortLease)
		waitLeaseOut(t, js, old)
		cur := claim(t, js, a, -1, lease)
		if cur.Index != 0 || cur.Claim != 2 {
			t.Fatalf("claim after the lease ran out: %+v, want chunk 0, claim 2", cur)
		}
		wantCode(t, "complete of a lost claim", js.CompleteChunk(ctx, old), videoforge.ECONFLICT)
		wantCode(t, "renew of a lost claim", js.RenewChunk(ctx, old, lease), videoforge.ECONFLICT)
		if err := js.ReleaseChunk(ctx, old); err != nil {
			t.Fatal(err)
		}
		if c := chunks(t, js, j.ID, a.Token)[0]; !c.Held || c.Claim != 2 {
			t.Fatalf("a lost claim's release changed the chunk: %+v", c)
		}
		for range 2 {
			if err := js.CompleteChunk(ctx, cur); err != nil {
				t.Fatal(err)
			}
		}
		if c := chunks(t, js, j.ID, a.Token)[0]; c != (videoforge.Chunk{Index: 0, Done: true, Claim: 2}) {
			t.Fatalf("chunk %+v", c)
		}
		wantCode(t, "renew of a done chunk", js.RenewChunk(ctx, cur, lease), videoforge.ECONFLICT)
		wantCode(t, "complete of a lost claim after the chunk is done", js.CompleteChunk(ctx, old), videoforge.ECONFLICT)
	})
	t.Run("NotReclaimed", func(t *testing.T) {
		c := claim(t, js, a, 1, shortLease)
		waitLeaseOut(t, js, c)
		if err := js.CompleteChunk(ctx, c); err != nil {
			t.Fatalf("complete of an expired claim nobody took over: %v", err)
		}
		if got := chunks(t, js, j.ID, a.Token)[1]; got != (videoforge.Chunk{Index: 1, Done: true, Claim: 1}) {
			t.Fatalf("chunk %+v", got)
		}
	})
	t.Run("Renewed", func(t *testing.T) {
		c := claim(t, js, a, 2, shortLease)
		waitLeaseOut(t, js, c)
		if err := js.RenewChunk(ctx, c, lease); err != nil {
			t.Fatalf("renew of an expired claim nobody took over: %v", err)
		}
		if got := chunks(t, js, j.ID, a.Token)[2]; !got.Held || got.Claim != 1 {
			t.Fatalf("renewed chunk %+v", got)
		}
		_, err := js.ClaimChunk(ctx, j.ID, a.Token, 2, lease)
		if !errors.Is(err, videoforge.ErrChunkHeld) {
			t.Fatalf("claim of a renewed chunk: %v", err)
		}
	})
}

// TestChunkHeld: a claim of a given chunk is ErrChunkHeld while a live claim holds
// it, and nothing to claim when it is done or does not exist.
func TestChunkHeld(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js, j, v := newJob(t, db)
	a := start(t, js, j, v, lease)
	split(t, js, a, 2)
	c := claim(t, js, a, 1, lease)

	t.Run("ErrChunkHeld", func(t *testing.T) {
		got, err := js.ClaimChunk(ctx, j.ID, a.Token, 1, lease)
		if !errors.Is(err, videoforge.ErrChunkHeld) || videoforge.ErrorCode(err) != videoforge.ECONFLICT || got != nil {
			t.Fatalf("claim of a held chunk: %+v %v", got, err)
		}
		// The lowest claimable chunk skips the held one.
		if got := claim(t, js, a, -1, lease); got.Index != 0 {
			t.Fatalf("claim %+v, want chunk 0", got)
		}
		noClaim(t, js, j.ID, a.Token, -1)
	})
	t.Run("Done", func(t *testing.T) {
		if err := js.CompleteChunk(ctx, c); err != nil {
			t.Fatal(err)
		}
		noClaim(t, js, j.ID, a.Token, 1)
	})
	t.Run("NoSuchChunk", func(t *testing.T) {
		noClaim(t, js, j.ID, a.Token, 2)
		noClaim(t, js, j.ID, a.Token, 1<<40)
		noClaim(t, js, j.ID, a.Token+1, 0)
		noClaim(t, js, j.ID+1000, 1, -1)
	})
}

// TestChunkSupersededAttempt: the chunks of an attempt that lost its job can no longer
// be claimed, renewed or completed, and a new split replaces them.
func TestChunkSupersededAttempt(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js, j, v := newJob(t, db)
	old := start(t, js, j, v, shortLease)
	split(t, js, old, 3)
	held := claim(t, js, old, 0, lease)
	expired := claim(t, js, old, 1, shortLease)
	cur := supersede(t, js, old)

	noClaim(t, js, j.ID, old.Token, -1)
	noClaim(t, js, j.ID, old.Token, 2)
	for name, err := range map[string]error{
		"split":                  js.SplitJob(ctx, old, tasks(3)),
		"renew":                  js.RenewChunk(ctx, held, lease),
		"complete":               js.CompleteChunk(ctx, held),
		"complete expired claim": js.CompleteChunk(ctx, expired),
	} {
		wantCode(t, name+" of a superseded attempt", err, videoforge.ECONFLICT)
	}
	if err := js.ReleaseChunk(ctx, held); err != nil {
		t.Fatal(err)
	}
	if cs := chunks(t, js, j.ID, old.Token); len(cs) != 3 || cs[0].Done || cs[1].Done {
		t.Fatalf("chunks of the superseded attempt: %+v", cs)
	}

	split(t, js, cur, 2)
	if cs := chunks(t, js, j.ID, old.Token); len(cs) != 0 {
		t.Fatalf("chunks of the superseded attempt after a new split: %+v", cs)
	}
	wantCode(t, "complete of a superseded attempt after a new split", js.CompleteChunk(ctx, held), videoforge.ECONFLICT)
	c := claim(t, js, cur, -1, lease)
	if c.Token != cur.Token || c.Index != 0 || c.Claim != 1 {
		t.Fatalf("claim of the current attempt: %+v", c)
	}
	if err := js.CompleteChunk(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// TestChunkCompleteAfterJob: a claim that completed its chunk may repeat its complete
// after its attempt completed the job; nothing more can be claimed.
func TestChunkCompleteAfterJob(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js, j, v := newJob(t, db)
	a := start(t, js, j, v, lease)
	split(t, js, a, 2)
	c := claim(t, js, a, 0, lease)
	if err := js.CompleteChunk(ctx, c); err != nil {
		t.Fatal(err)
	}
	other := claim(t, js, a, 1, lease)
	if _, err := js.CompleteJob(ctx, a, result(a)); err != nil {
		t.Fatal(err)
	}
	if err := js.CompleteChunk(ctx, c); err != nil {
		t.Fatalf("repeated complete after the job completed: %v", err)
	}
	wantCode(t, "complete of a chunk after the job completed", js.CompleteChunk(ctx, other), videoforge.ECONFLICT)
	wantCode(t, "split of a completed job", js.SplitJob(ctx, a, tasks(2)), videoforge.ECONFLICT)
	if err := js.ReleaseChunk(ctx, other); err != nil {
		t.Fatal(err)
	}
	noClaim(t, js, j.ID, a.Token, -1)
	noClaim(t, js, j.ID, a.Token, 1)
}

// TestChunkDeletedVideo: the chunks of a deleted video's job have nothing to claim,
// and its claims are ENOTFOUND, as the job's attempt is.
func TestChunkDeletedVideo(t *testing.T) {
	db, vs := open(t)
	ctx := context.Background()
	js, j, v := newJob(t, db)
	a := start(t, js, j, v, lease)
	split(t, js, a, 2)
	c := claim(t, js, a, 0, lease)
	if err := vs.DeleteVideo(ctx, v.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	noClaim(t, js, j.ID, a.Token, -1)
	noClaim(t, js, j.ID, a.Token, 1)
	for name, err := range map[string]error{
		"split":    js.SplitJob(ctx, a, tasks(2)),
		"renew":    js.RenewChunk(ctx, c, lease),
		"complete": js.CompleteChunk(ctx, c),
	} {
		wantCode(t, name+" of a deleted video's chunk", err, videoforge.ENOTFOUND)
	}
	if err := js.ReleaseChunk(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// TestChunkSplit: a split is repeated with the same count only, and only by the
// attempt holding the job.
func TestChunkSplit(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js, j, v := newJob(t, db)
	a := start(t, js, j, v, shortLease)

	t.Run("OK", func(t *testing.T) {
		split(t, js, a, 3)
		c := claim(t, js, a, 0, lease)
		split(t, js, a, 3)
		cs := chunks(t, js, j.ID, a.Token)
		if len(cs) != 3 || !cs[0].Held || cs[0].Claim != c.Claim || cs[1] != (videoforge.Chunk{Index: 1}) {
			t.Fatalf("chunks after a repeated split: %+v", cs)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, n := range []int{2, 4, 0, -1} {
			wantCode(t, fmt.Sprintf("split of a split attempt in %d", n), js.SplitJob(ctx, a, tasks(n)), videoforge.EINVALID)
		}
		if cs := chunks(t, js, j.ID, a.Token); len(cs) != 3 {
			t.Fatalf("chunks after refused splits: %+v", cs)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		cur := supersede(t, js, a)
		wantCode(t, "split of a superseded attempt", js.SplitJob(ctx, a, tasks(3)), videoforge.ECONFLICT)
		wantCode(t, "split in 0 chunks", js.SplitJob(ctx, cur, tasks(0)), videoforge.EINVALID)
		split(t, js, cur, 4)
		if cs := chunks(t, js, j.ID, cur.Token); len(cs) != 4 {
			t.Fatalf("chunks of the new attempt: %+v", cs)
		}
	})
}

// TestChunkRelease: a released chunk can be claimed again at once, by the next claim.
func TestChunkRelease(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	js, j, v := newJob(t, db)
	a := start(t, js, j, v, lease)
	split(t, js, a, 1)
	c := claim(t, js, a, -1, lease)
	if err := js.ReleaseChunk(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := chunks(t, js, j.ID, a.Token)[0]; got != (videoforge.Chunk{Index: 0, Claim: 1}) {
		t.Fatalf("released chunk %+v", got)
	}
	next := claim(t, js, a, -1, lease)
	if next.Index != 0 || next.Claim != c.Claim+1 {
		t.Fatalf("claim after the release: %+v", next)
	}
	wantCode(t, "complete of a released claim", js.CompleteChunk(ctx, c), videoforge.ECONFLICT)
	if err := js.CompleteChunk(ctx, next); err != nil {
		t.Fatal(err)
	}
	if err := js.ReleaseChunk(ctx, next); err != nil {
		t.Fatal(err)
	}
	if got := chunks(t, js, j.ID, a.Token)[0]; got != (videoforge.Chunk{Index: 0, Done: true, Claim: 2}) {
		t.Fatalf("a done chunk after its release: %+v", got)
	}
}
