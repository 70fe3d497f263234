package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/catalog/postgres"
)

// benchDeepPages times deep pages of the anonymous listing against the gallery at
// base: pages by number down to the deepest offset served (catalog.MaxOffset), pages
// by cursor as deep as the listing goes, and, for the record, what a deep OFFSET
// costs the store when nothing bounds it. A cursor page N is built from the video
// at the end of page N-1, as a walk from page 1 would have reached it.
func benchDeepPages(ctx context.Context, client *http.Client, base string, videos *postgres.VideoService, reqs int) ([]row, []string, error) {
	const limit = 100
	var rows []row
	var notes []string
	get := func(q string) (time.Duration, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/videos?"+q, nil)
		t0 := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		d := time.Since(t0)
		if res.StatusCode != 200 {
			return 0, fmt.Errorf("%s: %d %s", q, res.StatusCode, body)
		}
		return d, nil
	}
	// measure times q over reqs requests after 20 warm-up ones and adds its row
	// with the plan's indexes.
	measure := func(what, q string) error {
		var lat []time.Duration
		for i := 0; i < reqs+20; i++ {
			d, err := get(q)
			if err != nil {
				return err
			}
			if i >= 20 {
				lat = append(lat, d)
			}
		}
		vals, _ := url.ParseQuery(q)
		lq, err := catalog.ParseListQuery(vals)
		if err != nil {
			return err
		}
		page, _, err := videos.ExplainFindVideos(ctx, lq.Filter)
		if err != nil {
			return err
		}
		p50, p99 := percentile(lat, 50), percentile(lat, 99)
		mark := "✅"
		if p99 > 20*time.Millisecond {
			mark = "❌"
		}
		rows = append(rows, row{
			what: "gallery " + what,
			measured: fmt.Sprintf("p50 %s, p99 %s %s (n=%d); indexes: %s", ms(p50), ms(p99), mark, len(lat),
				strings.Join(indexesUsed(page), ", ")),
			target:  "p99 ≤ 20 ms",
			command: "make bench",
		})
		if len(q) > 120 {
			q = q[:120] + "…"
		}
		notes = append(notes, fmt.Sprintf("\nPlan for %s (GET /videos?%s):\n%s", what, q, indent(page)))
		return nil
	}

	// The listing's size says how deep its cursor pages go.
	all, total, err := videos.FindVideos(ctx, videoforge.VideoFilter{Limit: 1})
	if err != nil || len(all) == 0 {
		return nil, nil, fmt.Errorf("deep pages: an empty listing (%v)", err)
	}
	for _, p := range []struct {
		what string
		page int
	}{
		{"list by page, page 1 of 100", 1},
		{"list by page, page 100 of 100 (offset 9 900)", 100},
		{fmt.Sprintf("list by page, the deepest page served: %d of 100 (offset %d)", catalog.MaxOffset/limit+1, catalog.MaxOffset), catalog.MaxOffset/limit + 1},
	} {
		if err := measure(p.what, fmt.Sprintf("page=%d&limit=%d", p.page, limit)); err != nil {
			return nil, nil, err
		}
	}

	// cursorAt returns the query of page n by cursor: the cursor is made from the last
	// video of page n-1, found once by OFFSET in the store.
	cursorAt := func(sort string, n, limit int) (string, error) {
		vals := url.Values{"sort": {sort}, "limit": {fmt.Sprint(limit)}}
		lq, err := catalog.ParseListQuery(vals)
		if err != nil {
			return "", err
		}
		f := lq.Filter
		f.Offset, f.Limit = (n-1)*limit-1, 1
		last, _, err := videos.FindVideos(ctx, f)
		if err != nil {
			return "", err
		}
		if len(last) == 0 {
			return "", fmt.Errorf("no video at position %d of sort %q", f.Offset, sort)
		}
		lq.Page = n - 1
		vals.Set("cursor", lq.NextCursor(last[0]))
		return vals.Encode(), nil
	}
	// Page 10 000 by cursor: of 100 when the listing is that long (1 000 000 listed
	// videos), else of the largest limit that reaches it; and the last full page of
	// 100, for every sort.
	deepLimit := min(limit, (total-1)/10000)
	if deepLimit >= 1 {
		q, err := cursorAt(videoforge.SortNewest, 10000, deepLimit)
		if err != nil {
			return nil, nil, err
		}
		if err := measure(fmt.Sprintf("list by cursor, page 10 000 of %d (%d videos in)", deepLimit, 9999*deepLimit), q); err != nil {
			return nil, nil, err
		}
	}
	last := (total - 1) / limit // the last full page of limit
	for _, sort := range []string{videoforge.SortNewest, videoforge.SortOldest, videoforge.SortTitle, videoforge.SortViews} {
		for _, n := range []int{2, last} {
			q, err := cursorAt(sort, n, limit)
			if err != nil {
				return nil, nil, err
			}
			if err := measure(fmt.Sprintf("list by cursor, sort %s, page %d of 100 (%d videos in, of %d listed)", sort, n, (n-1)*limit, total), q); err != nil {
				return nil, nil, err
			}
		}
	}

	// What the bound saves: the store asked for the deepest full page by OFFSET, as a
	// page number asked for it before the bound (a few requests: each one reads every
	// row before the page).
	var lat []time.Duration
	f := videoforge.VideoFilter{Limit: limit + 1, Offset: (last - 1) * limit}
	for i := 0; i < 12; i++ {
		t0 := time.Now()
		if _, _, err := videos.FindVideos(ctx, f); err != nil {
			return nil, nil, err
		}
		if i >= 2 {
			lat = append(lat, time.Since(t0))
		}
	}
	page, _, err := videos.ExplainFindVideos(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	rows = append(rows, row{
		what: fmt.Sprintf("store by OFFSET without the bound, page %d of 100 (offset %d; now a 400)", last, f.Offset),
		measured: fmt.Sprintf("p50 %s, p99 %s (n=%d); indexes: %s", ms(percentile(lat, 50)), ms(percentile(lat, 99)), len(lat),
			strings.Join(indexesUsed(page), ", ")),
		target:  "—",
		command: "make bench",
	})
	notes = append(notes, fmt.Sprintf("\nPlan for the store by OFFSET %d:\n%s", f.Offset, indent(page)))
	return rows, notes, nil
}
