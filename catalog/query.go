package catalog

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/videoforge/videoforge"
)

// Listing limits of the gallery contract.
const (
	DefaultLimit   = 10
	MaxLimit       = 100
	MaxPage        = 100000
	MaxSearchBytes = 500

	// MaxOffset is the deepest offset a page may start at, (page-1)*limit: 10 000
	// videos in (page 101 of 100, page 1 001 of 10). Past it a page is 400 invalid and
	// the listing goes on by cursor (pagination.nextCursor), because PostgreSQL reads
	// and drops every row before an OFFSET: page 100 000 of 100 would read ten million.
	MaxOffset = 10000
)

// ListQuery is a parsed GET /videos query.
type ListQuery struct {
	// Page is the page asked for; with a cursor, the number of the page the cursor
	// starts (the pages walked so far plus one), as the response shows it.
	Page   int
	Limit  int
	Filter videoforge.VideoFilter
}

// ParseListQuery reads page, limit, search, sort, userId, status and cursor. Absent
// values take their defaults; present but bad ones are EINVALID with a message naming
// the parameter. With a cursor, page is not read. Other parameters are ignored, so that
// cache-busting clients keep working.
func ParseListQuery(q url.Values) (ListQuery, error) {
	lq := ListQuery{Page: 1, Limit: DefaultLimit}
	var err error
	cursor, hasCursor := single(q, "cursor")
	hasCursor = hasCursor && cursor != ""
	if !hasCursor {
		if lq.Page, err = intParam(q, "page", 1, 1, MaxPage); err != nil {
			return ListQuery{}, err
		}
	}
	if lq.Limit, err = intParam(q, "limit", DefaultLimit, 1, MaxLimit); err != nil {
		return ListQuery{}, err
	}
	f := &lq.Filter
	f.Limit = lq.Limit
	if !hasCursor {
		if f.Offset = (lq.Page - 1) * lq.Limit; f.Offset > MaxOffset {
			return ListQuery{}, videoforge.Errorf(videoforge.EINVALID,
				"page %d of %d starts at offset %d, past the deepest offset served (%d): follow pagination.nextCursor to go deeper",
				lq.Page, lq.Limit, f.Offset, MaxOffset)
		}
	}

	if s, ok := single(q, "search"); ok {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return ListQuery{}, videoforge.Errorf(videoforge.EINVALID, "search must be UTF-8 text")
		}
		if len(s) > MaxSearchBytes {
			return ListQuery{}, videoforge.Errorf(videoforge.EINVALID, "search must be at most %d bytes", MaxSearchBytes)
		}
		f.Search = strings.TrimSpace(s)
	}
	if s, ok := single(q, "sort"); ok && s != "" {
		switch s {
		case videoforge.SortNewest, videoforge.SortOldest, videoforge.SortTitle, videoforge.SortViews:
			f.Sort = s
		default:
			return ListQuery{}, videoforge.Errorf(videoforge.EINVALID,
				"sort must be one of createdAt, -createdAt, title, views")
		}
	}
	if s, ok := single(q, "userId"); ok && s != "" {
		if len(s) > 255 || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return ListQuery{}, videoforge.Errorf(videoforge.EINVALID, "userId is not a valid user id")
		}
		f.UserID = s
	}
	if s, ok := single(q, "status"); ok && s != "" {
		st := videoforge.Status(s)
		if !st.Valid() {
			return ListQuery{}, videoforge.Errorf(videoforge.EINVALID,
				"status must be one of uploaded, processing, ready, failed")
		}
		f.Status = &st
	}
	if hasCursor {
		if err := lq.readCursor(cursor); err != nil {
			return ListQuery{}, err
		}
	}
	return lq, nil
}

// single returns the last value of a parameter, as most web frameworks do.
func single(q url.Values, name string) (string, bool) {
	vs, ok := q[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	s, ok := single(q, name)
	if !ok || s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < lo || n > hi {
		return 0, videoforge.Errorf(videoforge.EINVALID, "%s must be an integer from %d to %d", name, lo, hi)
	}
	return n, nil
}

// ParseID reads a video or job id from a path. Text that is not a number is EINVALID;
// a number too large to be any row's id is ENOTFOUND.
func ParseID(s string) (int64, error) {
	if s == "" || len(s) > 40 {
		return 0, videoforge.Errorf(videoforge.EINVALID, "id must be a positive integer")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, videoforge.Errorf(videoforge.EINVALID, "id must be a positive integer")
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, videoforge.Errorf(videoforge.ENOTFOUND, "%s not found", s)
	}
	return id, nil
}

// MaxCursorBytes bounds the cursor parameter; the longest cursor names a title of
// MaxTitleLength four-byte characters.
const MaxCursorBytes = 2048

// cursorVersion is the version of the cursor's format, its "v". A cursor of another
// version is refused, so that a change of format is never misread.
const cursorVersion = 1

// cursorBody is a cursor before base64url: the format's version, the fingerprint of
// the query it pages, the number of the page it starts, and the id and sort key of
// the last video before it. Of the sort keys only the query's sort's is present.
type cursorBody struct {
	V  int     `json:"v"`
	Q  string  `json:"q"`
	P  int     `json:"p"`
	ID int64   `json:"id"`
	T  *int64  `json:"t,omitempty"` // created_at in microseconds since 1970, as PostgreSQL keeps it
	S  *string `json:"s,omitempty"` // title
	N  *int64  `json:"n,omitempty"` // views
}

// Bounds of a cursor's created_at: the years RFC 3339 can write.
var (
	minCursorTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxCursorTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
)

// Pageable reports whether the query's pages can be followed by cursor: every
// listing but a search ordered by relevance, whose rank a video does not carry.
func (q ListQuery) Pageable() bool {
	return q.Filter.Search == "" || q.Filter.Sort != ""
}

// NextCursor returns the cursor of the page that follows last, the last video of
// this query's page, or "" when the query is not Pageable.
func (q ListQuery) NextCursor(last *videoforge.Video) string {
	if !q.Pageable() {
		return ""
	}
	c := cursorBody{V: cursorVersion, Q: fingerprint(q.Filter), P: q.Page + 1, ID: last.ID}
	switch sortOf(q.Filter) {
	case videoforge.SortTitle:
		c.S = &last.Title
	case videoforge.SortViews:
		c.N = &last.Views
	default:
		t := last.CreatedAt.UnixMicro()
		c.T = &t
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic("catalog: encode cursor: " + err.Error()) // a struct of numbers and a string
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// readCursor sets the filter's Cursor and the page number from a cursor, once the
// rest of the query is parsed: a cursor pages only the query it was made for.
func (lq *ListQuery) readCursor(s string) error {
	if !lq.Pageable() {
		return videoforge.Errorf(videoforge.EINVALID,
			"cursor: a search ordered by relevance cannot be paged with a cursor: give it a sort (-createdAt, createdAt, title, views)")
	}
	invalid := func(why string) error {
		return videoforge.Errorf(videoforge.EINVALID, "cursor is not one this gallery made (%s): start again without it", why)
	}
	if len(s) > MaxCursorBytes {
		return invalid("too long")
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return invalid("not base64url")
	}
	var c cursorBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return invalid("not its JSON")
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		return invalid("trailing data")
	}
	if c.V != cursorVersion {
		return invalid("unknown version")
	}
	if c.ID < 1 || c.P < 2 || c.P > math.MaxInt32 {
		return invalid("bad id or page")
	}
	v := &videoforge.Video{ID: c.ID}
	sort := sortOf(lq.Filter)
	switch {
	case sort == videoforge.SortTitle && c.S != nil && c.T == nil && c.N == nil:
		if strings.ContainsRune(*c.S, 0) || utf8.RuneCountInString(*c.S) > MaxTitleLength {
			return invalid("bad title")
		}
		v.Title = *c.S
	case sort == videoforge.SortViews && c.N != nil && c.T == nil && c.S == nil:
		v.Views = *c.N
	case (sort == videoforge.SortNewest || sort == videoforge.SortOldest) && c.T != nil && c.S == nil && c.N == nil:
		if *c.T < minCursorTime || *c.T > maxCursorTime {
			return invalid("bad time")
		}
		v.CreatedAt = time.UnixMicro(*c.T).UTC()
	default:
		if c.Q == fingerprint(lq.Filter) {
			return invalid("no sort key")
		}
	}
	// The fingerprint last, so that a well-formed cursor of another query says so.
	if c.Q != fingerprint(lq.Filter) {
		return videoforge.Errorf(videoforge.EINVALID,
			"cursor belongs to another listing (its sort, search, userId or status differ): start again without it")
	}
	lq.Page = c.P
	lq.Filter.Cursor = v
	return nil
}

// sortOf is the order a filter lists in; relevance (a search without sort) is "".
func sortOf(f videoforge.VideoFilter) string {
	if f.Sort == "" && f.Search == "" {
		return videoforge.SortNewest
	}
	return f.Sort
}

// fingerprint identifies what a query lists and in which order, but not its page or
// limit: 72 bits of SHA-256 over its sort, search, userId and status.
func fingerprint(f videoforge.VideoFilter) string {
	h := sha256.New()
	status := ""
	if f.Status != nil {
		status = string(*f.Status)
	}
	for _, s := range []string{sortOf(f), f.Search, f.UserID, status} {
		fmt.Fprintf(h, "%d:%s;", len(s), s)
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:9])
}
