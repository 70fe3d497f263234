package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/auth"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
	"github.com/videoforge/videoforge/catalog/postgres/pgadmin"
	"github.com/videoforge/videoforge/layout"
	"github.com/videoforge/videoforge/pgcluster"
	"github.com/videoforge/videoforge/schema"
)

const benchUsers = 10_000

// keepDatabase leaves the gallery's database in place after the run, to study it.
var keepDatabase bool

// reuseDatabase names a database kept by an earlier run, measured again without
// loading it; galleryKinds keeps only the query kinds whose name holds it.
var reuseDatabase, galleryKinds string

// benchGallery loads n synthetic videos in bulk, serves the gallery over loopback and
// times each query kind over reqs sequential requests.
func benchGallery(ctx context.Context, n, reqs int) ([]row, []string, error) {
	adminDSN, cleanup, err := benchPostgres(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer cleanup()
	name := "vfbench_" + randHex(4)
	admin, err := pgadmin.Connect(ctx, adminDSN)
	if err != nil {
		return nil, nil, err
	}
	defer admin.Close()
	vocab := vocabulary(5000)
	var loadTime time.Duration
	if reuseDatabase != "" {
		if os.Getenv("DATABASE_URL") == "" {
			return nil, nil, fmt.Errorf("-gallery-database needs DATABASE_URL, the server holding it")
		}
		name = reuseDatabase
	} else if err := admin.CreateDatabase(ctx, name, ""); err != nil {
		return nil, nil, err
	}
	if keepDatabase || reuseDatabase != "" {
		fmt.Fprintf(os.Stderr, "keeping database %s\n", name)
	} else {
		defer admin.DropDatabase(context.Background(), name)
	}
	dsn := withDatabase(adminDSN, name)
	if err := schema.Migrate(ctx, dsn, schema.DefaultSchema); err != nil {
		return nil, nil, err
	}
	if reuseDatabase == "" {
		start := time.Now()
		if err := bulkLoad(ctx, dsn, n, vocab); err != nil {
			return nil, nil, fmt.Errorf("bulk load: %w", err)
		}
		if err := vacuumSearch(ctx, dsn); err != nil {
			return nil, nil, fmt.Errorf("bulk load: %w", err)
		}
		loadTime = time.Since(start)
		slog.Info("loaded", "videos", n, "took", loadTime)
	}

	db, err := postgres.Open(ctx, postgres.Config{URL: dsn, Schema: schema.DefaultSchema})
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	videos := postgres.NewVideoService(db)

	// A dev issuer, so that signed-in listings are measured through real tokens.
	keyDir, err := os.MkdirTemp("", "vfbench-keys-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(keyDir)
	issuer, err := auth.LoadOrCreateIssuer(keyDir)
	if err != nil {
		return nil, nil, err
	}
	jwks := httptest.NewServer(issuer.JWKSHandler())
	defer jwks.Close()
	verifier, err := auth.NewVerifier(ctx, auth.DevConfig(jwks.URL), nil)
	if err != nil {
		return nil, nil, err
	}
	srv := catalog.NewServer(catalog.Config{}, videos, verifier, db.Ping, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	sctx, stopServer := context.WithCancel(ctx)
	defer stopServer()
	go srv.Serve(sctx, ln, time.Second)
	base := "http://" + ln.Addr().String() + catalog.Prefix
	tokens := map[string]string{}
	token := func(user string) string {
		if t, ok := tokens[user]; ok {
			return t
		}
		t, err := issuer.Mint(user, time.Hour)
		if err != nil {
			panic(err)
		}
		tokens[user] = t
		return t
	}

	rng := mrand.New(mrand.NewPCG(7, 7))
	user := func() string { return fmt.Sprintf("user%05d", rng.IntN(benchUsers)) }
	zipf := mrand.NewZipf(rng, 1.1, 1, uint64(len(vocab)-1))
	type kind struct {
		name   string
		next   func() (query, user string)
		filter func(query, user string) videoforge.VideoFilter
	}
	kinds := []kind{
		{"list, default sort (anonymous, pages 1–20)", func() (string, string) {
			return fmt.Sprintf("page=%d&limit=10", 1+rng.IntN(20)), ""
		}, nil},
		{"list filtered by userId (anonymous)", func() (string, string) {
			return "userId=" + user(), ""
		}, nil},
		{"list, signed in (public + own)", func() (string, string) {
			return "", user()
		}, nil},
		{"search, one word (uniform over the vocabulary)", func() (string, string) {
			return "search=" + url.QueryEscape(vocab[rng.IntN(len(vocab))]), ""
		}, nil},
		{"search, two words (Zipf, as in titles)", func() (string, string) {
			return "search=" + url.QueryEscape(vocab[zipf.Uint64()]+" "+vocab[zipf.Uint64()]), ""
		}, nil},
		{"search, one common word (Zipf, as in titles)", func() (string, string) {
			return "search=" + url.QueryEscape(vocab[zipf.Uint64()]), ""
		}, nil},
		{"search, a prefix (a word's first 3-4 letters, uniform)", func() (string, string) {
			w := vocab[rng.IntN(len(vocab))]
			return "search=" + url.QueryEscape(w[:min(len(w), 3+rng.IntN(2))]), ""
		}, nil},
		{"search, a typo (one letter of a 5+ letter word changed, uniform)", func() (string, string) {
			return "search=" + url.QueryEscape(typo(rng, vocab)), ""
		}, nil},
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	var rows []row
	var notes []string
	loaded := fmt.Sprintf("%d videos of %d users bulk-loaded with COPY and indexed in %s", n, benchUsers, loadTime.Round(time.Second))
	if reuseDatabase != "" {
		loaded = fmt.Sprintf("database %s, loaded by an earlier run", reuseDatabase)
	}
	notes = append(notes, fmt.Sprintf("Gallery: %s; each kind is %d sequential requests over loopback after 100 "+
		"warm-up ones (fewer, at least 200, when a kind takes over a minute; n says how many).", loaded, reqs))
	for _, k := range kinds {
		if !strings.Contains(k.name, galleryKinds) {
			continue
		}
		var lat []time.Duration
		var slowest []timed      // the slowest requests, slowest first
		var found, estimated int // answers with a match, with an estimated total
		var lastQ, lastU string
		// A slow kind stops after a minute, with at least 200 measured requests.
		kindStart := time.Now()
		for i := 0; i < reqs+100 && (i < 300 || time.Since(kindStart) < time.Minute); i++ {
			q, u := k.next()
			lastQ, lastU = q, u
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/videos?"+q, nil)
			if u != "" {
				req.Header.Set("Authorization", "Bearer "+token(u))
			}
			t0 := time.Now()
			res, err := client.Do(req)
			if err != nil {
				return nil, nil, err
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			d := time.Since(t0)
			if res.StatusCode != 200 {
				return nil, nil, fmt.Errorf("%s: %d %s", q, res.StatusCode, body)
			}
			if i >= 100 {
				lat = append(lat, d)
				slowest = keepSlowest(slowest, timed{d, q}, 5)
				var list struct {
					Pagination struct {
						Total     int  `json:"total"`
						Estimated bool `json:"totalEstimated"`
					} `json:"pagination"`
				}
				if json.Unmarshal(body, &list) == nil {
					if list.Pagination.Total > 0 {
						found++
					}
					if list.Pagination.Estimated {
						estimated++
					}
				}
			}
		}
		p50, p99 := percentile(lat, 50), percentile(lat, 99)
		mark := "✅"
		if p99 > 20*time.Millisecond {
			mark = "❌"
		}
		// The plans of the last query of this kind.
		vals, _ := url.ParseQuery(lastQ)
		lq, _ := catalog.ParseListQuery(vals)
		lq.Filter.Viewer = lastU
		page, count, err := videos.ExplainFindVideos(ctx, lq.Filter)
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, row{
			what: "gallery " + k.name,
			measured: fmt.Sprintf("p50 %s, p99 %s %s (n=%d; %d%% found something, %d%% of totals estimated); indexes: %s",
				ms(p50), ms(p99), mark, len(lat), 100*found/max(len(lat), 1), 100*estimated/max(len(lat), 1),
				strings.Join(indexesUsed(page+"\n"+count), ", ")),
			target:  "p99 ≤ 20 ms",
			command: "make bench",
		})
		notes = append(notes, fmt.Sprintf("\nPlan for %s (GET /videos?%s%s):\n-- page query\n%s\n-- count query\n%s\n-- slowest requests\n%s",
			k.name, lastQ, signedIn(lastU), indent(page), indent(count), indent(formatTimed(slowest))))
	}
	deep, deepNotes, err := benchDeepPages(ctx, client, base, videos, reqs)
	if err != nil {
		return nil, nil, fmt.Errorf("deep pages: %w", err)
	}
	return append(rows, deep...), append(notes, deepNotes...), nil
}

// timed is one request's latency and query.
type timed struct {
	d time.Duration
	q string
}

// keepSlowest adds t to s, the n slowest requests so far, slowest first.
func keepSlowest(s []timed, t timed, n int) []timed {
	i, _ := slices.BinarySearchFunc(s, t, func(a, b timed) int { return cmp.Compare(b.d, a.d) })
	if i >= n {
		return s
	}
	s = slices.Insert(s, i, t)
	return s[:min(len(s), n)]
}

func formatTimed(s []timed) string {
	var lines []string
	for _, t := range s {
		lines = append(lines, ms(t.d)+"  GET /videos?"+t.q)
	}
	return strings.Join(lines, "\n")
}

func signedIn(u string) string {
	if u == "" {
		return ""
	}
	return ", signed in as " + u
}

var indexRE = regexp.MustCompile(`(?:Index Only Scan|Index Scan|Bitmap Index Scan)(?: Backward)?(?: using| on) (\S+)`)

func indexesUsed(plan string) []string {
	var out []string
	for _, m := range indexRE.FindAllStringSubmatch(plan, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	if strings.Contains(plan, "Seq Scan") {
		out = append(out, "SEQ SCAN")
	}
	return out
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(i, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// benchPostgres returns the admin URL of the server to load: DATABASE_URL when set,
// else a private cluster started for the run.
func benchPostgres(ctx context.Context) (string, func(), error) {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "vfbench-pg-")
	if err != nil {
		return "", nil, err
	}
	cl, err := pgcluster.Start(ctx, dir, pgcluster.Options{})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return cl.DSN("postgres"), func() { cl.Kill(); os.RemoveAll(dir) }, nil
}

func withDatabase(dsn, name string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	return u.String()
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// vacuumSearch vacuums and analyses the tables the search triggers filled during the
// load (SeedVideos does videos), as autovacuum would some minutes later: without
// statistics the planner takes search_postings' ten million rows for a few.
func vacuumSearch(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, t := range []string{"search_postings", "search_lexemes"} {
		if _, err := conn.Exec(ctx, "VACUUM ANALYZE "+pgx.Identifier{schema.DefaultSchema, t}.Sanitize()); err != nil {
			return fmt.Errorf("vacuum %s: %w", t, err)
		}
	}
	return nil
}

// typo returns a word of vocab with 5 letters or more, one of its letters (not the
// first) changed to another.
func typo(rng *mrand.Rand, vocab []string) string {
	for {
		w := []byte(vocab[rng.IntN(len(vocab))])
		if len(w) < 5 {
			continue
		}
		i := 1 + rng.IntN(len(w)-1)
		const letters = "abcdefghiklmnoprstuvz"
		c := letters[rng.IntN(len(letters))]
		if c == w[i] {
			continue
		}
		w[i] = c
		return string(w)
	}
}

// vocabulary makes n distinct pronounceable words, always the same ones.
func vocabulary(n int) []string {
	rng := mrand.New(mrand.NewPCG(1, 2))
	cons := "bcdfghklmnprstvz"
	vow := "aeiou"
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		var b strings.Builder
		for s := 0; s < 2+rng.IntN(2); s++ {
			b.WriteByte(cons[rng.IntN(len(cons))])
			b.WriteByte(vow[rng.IntN(len(vow))])
		}
		w := b.String()
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// bulkLoad fills the videos table with n synthetic videos of benchUsers users, their
// titles and descriptions drawn from vocab, uploaded over two years.
func bulkLoad(ctx context.Context, dsn string, n int, vocab []string) error {
	rng := mrand.New(mrand.NewPCG(3, 4))
	zipf := mrand.NewZipf(rng, 1.1, 1, uint64(len(vocab)-1))
	words := func(lo, hi int) string {
		k := lo + rng.IntN(hi-lo+1)
		ws := make([]string, k)
		for i := range ws {
			ws[i] = vocab[zipf.Uint64()]
		}
		return strings.Join(ws, " ")
	}
	now := time.Now()
	resolution, videoCodec, audioCodec := "1920x1080", "h264", "aac"
	return postgres.SeedVideos(ctx, postgres.Config{URL: dsn, Schema: schema.DefaultSchema}, n, func(i int) videoforge.Video {
		i++ // 1 to n
		vis := videoforge.Visibility("public")
		switch r := rng.IntN(100); {
		case r < 8:
			vis = "unlisted"
		case r < 15:
			vis = "private"
		}
		st := videoforge.Status("ready")
		switch r := rng.IntN(100); {
		case r < 3:
			st = "processing"
		case r < 6:
			st = "uploaded"
		case r < 8:
			st = "failed"
		}
		// Two years of uploads in the order they arrived, as rows are stored in
		// a live catalog: a row's place on disk follows its creation time.
		span := int64(730 * 24 * time.Hour)
		created := now.Add(-time.Duration(span - span/int64(n)*int64(i) + rng.Int64N(int64(time.Minute))))
		user := fmt.Sprintf("user%05d", rng.IntN(benchUsers))
		title, description := words(3, 6), words(8, 20)
		duration := 5 + rng.Float64()*1200
		size := int64(1e6 + rng.IntN(5e8))
		views := int64(rng.ExpFloat64() * 1000)
		return videoforge.Video{UserID: user, Title: title, Description: &description,
			S3Key: layout.VideosFolder + strconv.Itoa(i), Visibility: vis, Status: st, Duration: &duration,
			Resolution: &resolution, VideoCodec: &videoCodec, AudioCodec: &audioCodec, FileSize: &size,
			Views: views, CreatedAt: created, UpdatedAt: created}
	})
}
