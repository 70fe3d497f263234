package catalog_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog"
)

// cursorListing is the list answer with what cursor paging reads.
type cursorListing struct {
	Videos []struct {
		ID    int64  `json:"id"`
		Title string `json:"title"`
	} `json:"videos"`
	Pagination struct {
		Total, Page, Limit, TotalPages int
		NextCursor                     *string `json:"nextCursor"`
	} `json:"pagination"`
}

func (e *env) cursorList(path, token string) cursorListing {
	e.t.Helper()
	r := e.do("GET", path, token, nil)
	if r.status != 200 {
		e.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	var l cursorListing
	r.decode(e.t, &l)
	return l
}

// seedRow is a video the cursor tests insert, with what decides who lists it.
type seedRow struct {
	id                  int64
	user                string
	visibility, status  string
	common, doomed, new bool
}

func (r seedRow) listed() bool { return r.visibility == "public" && r.status == "ready" }

// cursorTitles have ties, cases and accents, so that the keyset must compare titles
// exactly as the ORDER BY does, in the database's collation.
var cursorTitles = []string{"alpha", "Alpha", "beta", "Beta 2", "épée", "epee", "gamma", "zeta", "Zeta"}

// TestCursorWalk: following nextCursor from page 1 to the last page lists every
// video that stays in the listing exactly once, in the listing's order, and never one
// twice, while between pages a goroutine inserts videos anywhere in the order (with
// sort keys equal to others') and deletes others, for every sort and for anonymous,
// signed-in (the union of listed and own videos), one owner's, userId and search
// listings.
func TestCursorWalk(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pool := e.db.Pool()
	base := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	const n, limit = 240, 7

	type query struct {
		name, params, viewer string
		lists                func(seedRow) bool
	}
	queries := []query{
		{"Anonymous", "", "", seedRow.listed},
		{"SignedIn", "", "alice", func(r seedRow) bool { return r.listed() || r.user == "alice" }},
		{"Owner", "userId=alice", "alice", func(r seedRow) bool { return r.user == "alice" }},
		{"UserID", "userId=bob", "", func(r seedRow) bool { return r.listed() && r.user == "bob" }},
		{"Search", "search=common", "", func(r seedRow) bool { return r.listed() && r.common }},
		{"Status", "status=ready", "alice", func(r seedRow) bool { return r.status == "ready" && (r.listed() || r.user == "alice") }},
	}
	orders := map[string]string{
		videoforge.SortNewest: "created_at DESC, id DESC",
		videoforge.SortOldest: "created_at, id",
		videoforge.SortTitle:  "title, id",
		videoforge.SortViews:  "views DESC, id DESC",
	}
	users := []string{"alice", "bob", "carol"}
	insert := func(rng *mrand.Rand, r *seedRow) error {
		r.user = users[rng.IntN(len(users))]
		r.visibility = []string{"public", "public", "public", "unlisted", "private"}[rng.IntN(5)]
		r.status = []string{"ready", "ready", "ready", "processing"}[rng.IntN(4)]
		r.common = rng.IntN(2) == 0
		desc := "rare"
		if r.common {
			desc = "a common word"
		}
		// Whole seconds over the range and a few views: many ties with other videos.
		created := base.Add(time.Duration(rng.IntN(n/3)) * time.Second)
		return pool.QueryRow(ctx, `INSERT INTO videos (user_id, title, description, s3_key, visibility, status, created_at, views)
			VALUES ($1, $2, $3, 'videos/x', $4, $5, $6, $7) RETURNING id`,
			r.user, cursorTitles[rng.IntN(len(cursorTitles))], desc, r.visibility, r.status, created, rng.IntN(5)).Scan(&r.id)
	}

	for _, sort := range []string{videoforge.SortNewest, videoforge.SortOldest, videoforge.SortTitle, videoforge.SortViews} {
		for _, q := range queries {
			t.Run(sort+"/"+q.name, func(t *testing.T) {
				if _, err := pool.Exec(ctx, `DELETE FROM videos`); err != nil {
					t.Fatal(err)
				}
				rng := mrand.New(mrand.NewPCG(uint64(len(sort)), uint64(len(q.name))))
				rows := map[int64]*seedRow{}
				var doomed []int64
				for i := range n {
					r := &seedRow{doomed: i%4 == 1}
					if err := insert(rng, r); err != nil {
						t.Fatal(err)
					}
					rows[r.id] = r
					if r.doomed {
						doomed = append(doomed, r.id)
					}
				}
				token := ""
				if q.viewer != "" {
					token = e.token(q.viewer)
				}

				// Between pages the goroutine inserts three videos and deletes two doomed
				// ones and one it inserted before. The channels order its writes to
				// rows and doomed before the walk's reads.
				step, stepped := make(chan struct{}), make(chan error)
				var inserted []int64
				go func() {
					for range step {
						stepped <- func() error {
							for range 3 {
								r := &seedRow{new: true}
								if err := insert(rng, r); err != nil {
									return err
								}
								rows[r.id] = r
								inserted = append(inserted, r.id)
							}
							var gone []int64
							for range 2 {
								if len(doomed) > 0 {
									k := rng.IntN(len(doomed))
									gone = append(gone, doomed[k])
									doomed = slices.Delete(doomed, k, k+1)
								}
							}
							k := rng.IntN(len(inserted))
							gone = append(gone, inserted[k])
							inserted = slices.Delete(inserted, k, k+1)
							_, err := pool.Exec(ctx, `DELETE FROM videos WHERE id = ANY($1)`, gone)
							return err
						}()
					}
				}()
				defer close(step)

				seen := map[int64]int{}
				var order []int64
				path := "/videos?limit=" + fmt.Sprint(limit) + "&sort=" + url.QueryEscape(sort) + "&" + q.params
				for page := 1; ; page++ {
					if page > 3*n/limit {
						t.Fatalf("still walking at page %d", page)
					}
					l := e.cursorList(path, token)
					if l.Pagination.Page != page {
						t.Errorf("page %d says it is page %d", page, l.Pagination.Page)
					}
					if len(l.Videos) > limit || (len(l.Videos) < limit && l.Pagination.NextCursor != nil) {
						t.Fatalf("page %d: %d videos, next cursor %v", page, len(l.Videos), l.Pagination.NextCursor)
					}
					for _, v := range l.Videos {
						seen[v.ID]++
						order = append(order, v.ID)
						if r := rows[v.ID]; r == nil || !q.lists(*r) {
							t.Errorf("page %d lists video %d (%+v), which the query does not select", page, v.ID, r)
						}
					}
					if l.Pagination.NextCursor == nil {
						break
					}
					path = "/videos?limit=" + fmt.Sprint(limit) + "&sort=" + url.QueryEscape(sort) + "&" + q.params +
						"&cursor=" + url.QueryEscape(*l.Pagination.NextCursor)
					step <- struct{}{}
					if err := <-stepped; err != nil {
						t.Fatal(err)
					}
				}

				// Every video present for the whole walk, exactly once, in the
				// database's order for the sort.
				// (doomed holds the doomed videos not deleted yet.)
				var stayed []int64
				for id, r := range rows {
					if !r.new && (!r.doomed || slices.Contains(doomed, id)) && q.lists(*r) {
						stayed = append(stayed, id)
					}
				}
				var want []int64
				err := pool.QueryRow(ctx, `SELECT coalesce(array_agg(id ORDER BY `+orders[sort]+`), '{}')
					FROM videos WHERE id = ANY($1)`, stayed).Scan(&want)
				if err != nil {
					t.Fatal(err)
				}
				if len(want) != len(stayed) {
					t.Fatalf("%d of %d staying videos are in the table", len(want), len(stayed))
				}
				var got []int64
				for _, id := range order {
					if seen[id] > 1 {
						t.Errorf("video %d listed %d times", id, seen[id])
						seen[id] = 1
					}
					if slices.Contains(want, id) && !slices.Contains(got, id) {
						got = append(got, id)
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("the walk listed %d of the %d videos that stayed, or out of order:\n got %v\nwant %v", len(got), len(want), got, want)
				}
				if len(want) < 20 {
					t.Errorf("only %d videos stayed in the listing: too few to tell", len(want))
				}
			})
		}
	}
}

// TestCursorLastPage: the last page has no nextCursor, also when it is full.
func TestCursorLastPage(t *testing.T) {
	e := newEnv(t)
	if l := e.cursorList("/videos", ""); l.Pagination.NextCursor != nil || len(l.Videos) != 0 {
		t.Errorf("empty listing: %d videos, %+v", len(l.Videos), l.Pagination)
	}
	for i := range 6 {
		e.video("u", fmt.Sprintf("video %d", i), public, ready)
	}
	for _, sort := range []string{"", "-createdAt", "createdAt", "title", "views"} {
		l := e.cursorList("/videos?limit=3&sort="+sort, "")
		if l.Pagination.NextCursor == nil || len(l.Videos) != 3 {
			t.Fatalf("sort %q page 1: %d videos, no next cursor", sort, len(l.Videos))
		}
		l = e.cursorList("/videos?limit=3&sort="+sort+"&cursor="+*l.Pagination.NextCursor, "")
		if l.Pagination.NextCursor != nil || len(l.Videos) != 3 || l.Pagination.Page != 2 || l.Pagination.TotalPages != 2 {
			t.Errorf("sort %q full last page: %d videos, %+v", sort, len(l.Videos), l.Pagination)
		}
		if l := e.cursorList("/videos?limit=6&sort="+sort, ""); l.Pagination.NextCursor != nil {
			t.Errorf("sort %q: a single full page has a next cursor", sort)
		}
		if l := e.cursorList("/videos?limit=3&page=2&sort="+sort, ""); l.Pagination.NextCursor != nil {
			t.Errorf("sort %q: the last page by number has a next cursor", sort)
		}
	}
	// A search ordered by relevance has no cursor to give.
	e.video("u", "a cat", public, ready)
	e.video("u", "another cat", public, ready)
	if l := e.cursorList("/videos?limit=1&search=cat", ""); l.Pagination.NextCursor != nil || len(l.Videos) != 1 {
		t.Errorf("search by relevance: %d videos, %+v", len(l.Videos), l.Pagination)
	}
	if l := e.cursorList("/videos?limit=1&search=cat&sort=title", ""); l.Pagination.NextCursor == nil {
		t.Errorf("search by title: no next cursor")
	}
}

// TestDeepOffset: a page may start at most MaxOffset videos in; past that it is 400
// invalid, naming the offset and the way on.
func TestDeepOffset(t *testing.T) {
	e := newEnv(t)
	for _, q := range []string{"page=101&limit=100", "page=1001&limit=10", "page=10001&limit=1"} {
		if r := e.do("GET", "/videos?"+q, "", nil); r.status != 200 {
			t.Errorf("%s (offset %d): %d %s", q, catalog.MaxOffset, r.status, r.body)
		}
	}
	for q, msg := range map[string]string{
		"page=100000&limit=100":         "page 100000 of 100 starts at offset 9999900, past the deepest offset served (10000): follow pagination.nextCursor to go deeper",
		"page=102&limit=100":            "page 102 of 100 starts at offset 10100, past the deepest offset served (10000): follow pagination.nextCursor to go deeper",
		"page=10002&sort=title&limit=1": "page 10002 of 1 starts at offset 10001, past the deepest offset served (10000): follow pagination.nextCursor to go deeper",
	} {
		r := e.do("GET", "/videos?"+q, "", nil)
		var b struct {
			Error struct{ Code, Message string }
		}
		r.decode(t, &b)
		if r.status != 400 || b.Error.Code != videoforge.EINVALID || b.Error.Message != msg {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
}

// TestCursorRefused: a malformed, altered or foreign cursor, or a cursor on a search
// ordered by relevance, is 400 invalid with a message that says so; never a 500.
func TestCursorRefused(t *testing.T) {
	e := newEnv(t)
	for i := range 4 {
		e.video("alice", fmt.Sprintf("video %d", i), public, ready, "common")
	}
	l := e.cursorList("/videos?limit=2&sort=title&userId=alice", "")
	if l.Pagination.NextCursor == nil {
		t.Fatal("no next cursor")
	}
	good := *l.Pagination.NextCursor
	raw, err := base64.RawURLEncoding.DecodeString(good)
	if err != nil {
		t.Fatalf("cursor %q is not base64url: %v", good, err)
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("cursor %s is not JSON: %v", raw, err)
	}
	edited := func(edit func(m map[string]any)) string {
		m := map[string]any{}
		for k, v := range body {
			m[k] = v
		}
		edit(m)
		b, _ := json.Marshal(m)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	const params = "limit=2&sort=title&userId=alice"
	malformed := map[string]string{
		"NotBase64":      "!!!!",
		"Padded":         base64.URLEncoding.EncodeToString(raw) + "==",
		"StdAlphabet":    strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/",
		"NotJSON":        enc("{"),
		"Array":          enc("[1,2]"),
		"Trailing":       enc(string(raw) + "{}"),
		"UnknownField":   edited(func(m map[string]any) { m["x"] = 1 }),
		"Version":        edited(func(m map[string]any) { m["v"] = 2 }),
		"NoVersion":      edited(func(m map[string]any) { delete(m, "v") }),
		"ZeroID":         edited(func(m map[string]any) { m["id"] = 0 }),
		"FloatID":        edited(func(m map[string]any) { m["id"] = 1.5 }),
		"HugeID":         edited(func(m map[string]any) { m["id"] = json.Number("99999999999999999999") }),
		"StringID":       edited(func(m map[string]any) { m["id"] = "7" }),
		"ZeroPage":       edited(func(m map[string]any) { m["p"] = 0 }),
		"HugePage":       edited(func(m map[string]any) { m["p"] = 1 << 40 }),
		"NoKey":          edited(func(m map[string]any) { delete(m, "s") }),
		"NullKey":        edited(func(m map[string]any) { m["s"] = nil }),
		"WrongKey":       edited(func(m map[string]any) { delete(m, "s"); m["t"] = 0 }),
		"TwoKeys":        edited(func(m map[string]any) { m["n"] = 3 }),
		"KeyType":        edited(func(m map[string]any) { m["s"] = 3 }),
		"NULInTitle":     edited(func(m map[string]any) { m["s"] = "a\x00b" }),
		"LongTitle":      edited(func(m map[string]any) { m["s"] = strings.Repeat("x", 256) }),
		"Fingerprint":    edited(func(m map[string]any) { m["q"] = "AAAAAAAAAAAA" }),
		"NoFingerprint":  edited(func(m map[string]any) { delete(m, "q") }),
		"TooLong":        strings.Repeat("A", catalog.MaxCursorBytes+1),
		"InvalidUTF8Raw": enc("{\"v\":1,\"s\":\"\xff\"}"),
	}
	for name, c := range malformed {
		t.Run("Malformed/"+name, func(t *testing.T) {
			r := e.do("GET", "/videos?"+params+"&cursor="+url.QueryEscape(c), "", nil)
			var b struct {
				Error struct{ Code, Message string }
			}
			r.decode(t, &b)
			if r.status != 400 || b.Error.Code != videoforge.EINVALID || !strings.HasPrefix(b.Error.Message, "cursor") {
				t.Errorf("%s: %d %s", c, r.status, r.body)
			}
		})
	}
	// A cursor made for another listing: another sort, owner, status or search.
	for _, other := range []string{"limit=2&sort=views&userId=alice", "limit=2&sort=-createdAt&userId=alice", "limit=2&sort=title",
		"limit=2&sort=title&userId=bob", "limit=2&sort=title&userId=alice&status=ready", "limit=2&sort=title&userId=alice&search=common"} {
		t.Run("Foreign/"+other, func(t *testing.T) {
			r := e.do("GET", "/videos?"+other+"&cursor="+good, "", nil)
			var b struct {
				Error struct{ Code, Message string }
			}
			r.decode(t, &b)
			if r.status != 400 || b.Error.Code != videoforge.EINVALID || !strings.Contains(b.Error.Message, "another listing") {
				t.Errorf("%d %s", r.status, r.body)
			}
		})
	}
	t.Run("Relevance", func(t *testing.T) {
		r := e.do("GET", "/videos?search=common&cursor="+good, "", nil)
		var b struct {
			Error struct{ Code, Message string }
		}
		r.decode(t, &b)
		if r.status != 400 || b.Error.Code != videoforge.EINVALID || !strings.Contains(b.Error.Message, "relevance") {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
	// The same listing with another limit, another page or the default sort spelled
	// out follows the cursor.
	for _, same := range []string{params, "limit=3&sort=title&userId=alice", params + "&page=7"} {
		if l := e.cursorList("/videos?"+same+"&cursor="+good, ""); len(l.Videos) == 0 || l.Videos[0].Title != "video 2" {
			t.Errorf("%s: %+v", same, l.Videos)
		}
	}
	l = e.cursorList("/videos?limit=2", "")
	if l2 := e.cursorList("/videos?limit=2&sort=-createdAt&cursor="+*l.Pagination.NextCursor, ""); len(l2.Videos) != 2 {
		t.Errorf("sort=-createdAt does not follow the default sort's cursor: %+v", l2)
	}
	// Any one character changed is either still a position of this listing (the
	// cursor is not signed: a changed id or title is just another place to start)
	// or a 400; never a 500 (do fails the test on one).
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range good {
		for _, c := range []byte{alphabet[(strings.IndexByte(alphabet, good[i])+1)%64], alphabet[(strings.IndexByte(alphabet, good[i])+37)%64]} {
			bad := good[:i] + string(c) + good[i+1:]
			if r := e.do("GET", "/videos?"+params+"&cursor="+bad, "", nil); r.status != 200 && r.status != 400 {
				t.Errorf("%s: %d %s", bad, r.status, r.body)
			}
		}
	}
}

// FuzzCursor: any cursor either pages the query it is given to (a position with an
// id and the sort's key) or is refused as invalid; it never panics.
func FuzzCursor(f *testing.F) {
	lq, err := catalog.ParseListQuery(url.Values{"sort": {"title"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(lq.NextCursor(&videoforge.Video{ID: 7, Title: "épée"}), "title")
	lq, _ = catalog.ParseListQuery(url.Values{})
	f.Add(lq.NextCursor(&videoforge.Video{ID: 7, CreatedAt: time.Now()}), "")
	lq, _ = catalog.ParseListQuery(url.Values{"sort": {"views"}})
	f.Add(lq.NextCursor(&videoforge.Video{ID: 7, Views: 42}), "views")
	f.Add("eyJ2IjoxfQ", "createdAt")
	f.Fuzz(func(t *testing.T, cursor, sort string) {
		lq, err := catalog.ParseListQuery(url.Values{"cursor": {cursor}, "sort": {sort}})
		if err != nil {
			if videoforge.ErrorCode(err) != videoforge.EINVALID {
				t.Fatalf("%q: error %v is not EINVALID", cursor, err)
			}
			return
		}
		if cursor == "" {
			return
		}
		c := lq.Filter.Cursor
		if c == nil || c.ID < 1 || lq.Page < 2 || lq.Filter.Offset != 0 || strings.ContainsRune(c.Title, 0) {
			t.Fatalf("%q: %+v %+v", cursor, lq, c)
		}
		if again := lq.NextCursor(c); again == "" {
			t.Fatalf("%q: no cursor made from %+v", cursor, c)
		}
	})
}
