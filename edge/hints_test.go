package edge_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/edge"
)

// statusIs polls for the edge's status of path with token.
func statusIs(t *testing.T, e *running, path, token string, want int) func() error {
	return func() error {
		if a := e.get(t, path, token); a.status != want {
			return fmt.Errorf("%s: %d %v, want %d", path, a.status, a.body, want)
		}
		return nil
	}
}

// TestForgedEventsCannotWiden: events that would widen access (to public, to ready, to
// another owner, a deleted video back) are read from PostgreSQL before they are
// served, whatever version they carry; events that narrow access apply at once, and
// the reconcile brings PostgreSQL's state back even though the forged version is
// higher than PostgreSQL's.
func TestForgedEventsCannotWiden(t *testing.T) {
	dsn, db, vs := catalogDB(t)
	iss, verifier := issuer(t)
	ns := startNATS(t)
	js := ns.js()
	priv := create(t, vs, newVideo("alice", videoforge.Private, videoforge.StatusReady))
	busy := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusProcessing))
	unl := create(t, vs, newVideo("alice", videoforge.Unlisted, videoforge.StatusReady))
	gone := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	relay(t, db, js)
	e := startEdge(t, edgeCatalog(t, dsn), ns.url(), verifier, nil)
	bob, _ := iss.Mint("bob", time.Hour)
	alice, _ := iss.Mint("alice", time.Hour)
	if err := vs.DeleteVideo(context.Background(), gone.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	relay(t, db, js)
	checkFor(t, 5*time.Second, statusIs(t, e, "/"+id(gone), "", 404))

	const forged = 1 << 40
	x := *priv
	x.Visibility = videoforge.Public
	publish(t, js, "forged-public", videoforge.EventUpdated, forged, &x)
	x.Visibility, x.UserID = videoforge.Private, "bob"
	publish(t, js, "forged-owner", videoforge.EventUpdated, forged+1, &x)
	y := *busy
	y.Status = videoforge.StatusReady
	publish(t, js, "forged-ready", videoforge.EventUpdated, forged, &y)
	z := *gone
	publish(t, js, "forged-resurrect", videoforge.EventUpdated, forged, &z)
	w := *unl
	w.Visibility = videoforge.Private
	publish(t, js, "forged-private", videoforge.EventUpdated, forged, &w) // narrows: applies at once
	// A marker event after them shows that every one before it was handled.
	m := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	relay(t, db, js)
	checkFor(t, 5*time.Second, statusIs(t, e, "/"+id(m), "", 200))

	for _, c := range []struct {
		name, path, token string
		want              int
	}{
		{"PrivateStaysPrivate", "/" + id(priv), "", 404},
		{"OwnerNotChanged", "/" + id(priv), bob, 404},
		{"OwnerStillServed", "/" + id(priv), alice, 200},
		{"NotReadyStaysNotReady", "/" + id(busy), "", 409},
		{"DeletedStaysDeleted", "/" + id(gone), "", 404},
		{"NarrowingAppliesAtOnce", "/" + id(unl) + keyOf(unl), "", 404},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := statusIs(t, e, c.path, c.token, c.want)(); err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("ReconcileReplacesHigherVersion", func(t *testing.T) {
		if err := e.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := statusIs(t, e, "/"+id(unl)+keyOf(unl), "", 200)(); err != nil {
			t.Fatal(err)
		}
		// PostgreSQL's version is held again: the catalog's next change applies.
		title := "changed"
		private := videoforge.Private
		if _, err := vs.UpdateVideo(context.Background(), unl.ID, "alice", videoforge.VideoUpdate{Title: &title, Visibility: &private}); err != nil {
			t.Fatal(err)
		}
		relay(t, db, js)
		checkFor(t, 5*time.Second, statusIs(t, e, "/"+id(unl)+keyOf(unl), "", 404))
	})
	t.Run("ConfirmedWideningServed", func(t *testing.T) {
		public := videoforge.Public
		if _, err := vs.UpdateVideo(context.Background(), priv.ID, "alice", videoforge.VideoUpdate{Visibility: &public}); err != nil {
			t.Fatal(err)
		}
		relay(t, db, js)
		checkFor(t, 5*time.Second, statusIs(t, e, "/"+id(priv), "", 200))
	})
}

// TestRestoredDatabaseConverges: after PostgreSQL is restored from a backup, with
// versions lower than the ones held and old updated_at times, the edge serves
// PostgreSQL's rows again within EDGE_STALENESS: a video private in the backup is
// hidden, one deleted since the backup is back, one created since is gone.
func TestRestoredDatabaseConverges(t *testing.T) {
	dsn, db, vs := catalogDB(t)
	ctx := context.Background()
	a := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	b := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	const staleness = 300 * time.Millisecond
	e := startEdge(t, edgeCatalog(t, dsn), "", nil, func(c *edge.Config) { c.Staleness = staleness })
	for i := range 5 {
		title := fmt.Sprint("title ", i)
		if _, err := vs.UpdateVideo(ctx, a.ID, "alice", videoforge.VideoUpdate{Title: &title}); err != nil {
			t.Fatal(err)
		}
	}
	if err := vs.DeleteVideo(ctx, b.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	c := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	checkFor(t, 5*time.Second, statusIs(t, e, "/"+id(b), "", 404))
	checkFor(t, 5*time.Second, statusIs(t, e, "/"+id(c), "", 200))

	// The backup: a at version 1 and private, b not deleted yet, c not created yet.
	restore := []string{
		`UPDATE videos SET version = 1, visibility = 'private', updated_at = now() - interval '1 day' WHERE id = ` + id(a),
		`INSERT INTO videos (id, user_id, title, s3_key, visibility, status, version, created_at, updated_at)
			VALUES (` + id(b) + `, 'alice', 'b', 'videos/` + id(b) + `', 'public', 'ready', 1, now() - interval '2 days', now() - interval '1 day')`,
		`DELETE FROM videos WHERE id = ` + id(c),
	}
	start := time.Now()
	for _, q := range restore {
		if _, err := db.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	checkFor(t, 10*time.Second, func() error {
		var errs []string
		for _, w := range []struct {
			v    *videoforge.Video
			want int
		}{{a, 404}, {b, 200}, {c, 404}} {
			if err := statusIs(t, e, "/"+id(w.v), "", w.want)(); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%s", strings.Join(errs, "; "))
		}
		return nil
	})
	t.Logf("converged %v after the restore (EDGE_STALENESS %v)", time.Since(start).Round(time.Millisecond), staleness)
}

// TestConfirmationsDoNotHoldUpEvents: while PostgreSQL hangs, events that
// would widen access are dropped without holding up the ones behind them: a video
// made private is hidden at once.
func TestConfirmationsDoNotHoldUpEvents(t *testing.T) {
	dsn, db, vs := catalogDB(t)
	ns := startNATS(t)
	js := ns.js()
	v := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	relay(t, db, js)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, u.Host)
	u.Host = px.addr()
	e := startEdge(t, edgeCatalog(t, u.String()), ns.url(), nil, nil)
	px.stall()          // reads hang until their timeout
	for i := range 50 { // each would need a read that cannot be made
		w := *v
		w.ID = 1_000_000 + int64(i)
		publish(t, js, fmt.Sprint("unknown-", i), videoforge.EventCreated, 1, &w)
	}
	x := *v
	x.Visibility = videoforge.Private
	publish(t, js, "made-private", videoforge.EventUpdated, v.Version+1, &x)
	start := time.Now()
	checkFor(t, 3*time.Second, statusIs(t, e, "/"+id(v)+"/qualities", "", 404)) // counts no view, which could not be written
	t.Logf("made private %v after 50 unconfirmable events", time.Since(start).Round(time.Millisecond))
	px.cut() // what still waits on PostgreSQL fails now
}

// TestNarrowedKeepsOwner: a video made private plays for its owner as soon as the
// (trimmed) event lands, before PostgreSQL's row is read back: the edge knows every
// held video's owner. The event here is ahead of PostgreSQL (still public), so the
// read-back cannot be what serves the owner.
func TestNarrowedKeepsOwner(t *testing.T) {
	dsn, db, vs := catalogDB(t)
	iss, verifier := issuer(t)
	ns := startNATS(t)
	js := ns.js()
	v := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	relay(t, db, js)
	e := startEdge(t, edgeCatalog(t, dsn), ns.url(), verifier, nil)
	alice, _ := iss.Mint("alice", time.Hour)
	bob, _ := iss.Mint("bob", time.Hour)
	trimmed := &videoforge.EventVideo{ID: v.ID, Visibility: videoforge.Private, Status: videoforge.StatusReady, TokenGen: 1,
		UpdatedAt: time.Now(), Trimmed: true}
	publishBody(t, js, "made-private", videoforge.EventUpdated, v.Version+1, trimmed)
	checkFor(t, 5*time.Second, statusIs(t, e, "/"+id(v), "", 404))
	for _, c := range []struct {
		who, token string
		want       int
	}{{"owner", alice, 200}, {"another user", bob, 404}} {
		if err := statusIs(t, e, "/"+id(v), c.token, c.want)(); err != nil {
			t.Errorf("%s: %v", c.who, err)
		}
	}
	a := e.get(t, "/"+id(v), alice)
	if u, _ := a.body["url"].(string); !strings.Contains(u, ".1/") {
		t.Errorf("the owner's URL %q is not signed at the new token generation 1", u)
	}
}
