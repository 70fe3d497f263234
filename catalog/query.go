package catalog

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/videoforge/videoforge"
)

// Listing limits of the gallery contract.
const (
	DefaultLimit   = 10
	MaxLimit       = 100
	MaxPage        = 100000
	MaxSearchBytes = 500
)

// ListQuery is a parsed GET /videos query.
type ListQuery struct {
	Page   int
	Limit  int
	Filter videoforge.VideoFilter
}

// ParseListQuery reads page, limit, search, sort, userId and status. Absent values take
// their defaults; present but bad ones are EINVALID with a message naming the parameter.
// Other parameters are ignored, so that cache-busting clients keep working.
func ParseListQuery(q url.Values) (ListQuery, error) {
	lq := ListQuery{Page: 1, Limit: DefaultLimit}
	var err error
	if lq.Page, err = intParam(q, "page", 1, 1, MaxPage); err != nil {
		return ListQuery{}, err
	}
	if lq.Limit, err = intParam(q, "limit", DefaultLimit, 1, MaxLimit); err != nil {
		return ListQuery{}, err
	}
	f := &lq.Filter
	f.Limit = lq.Limit
	f.Offset = (lq.Page - 1) * lq.Limit

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
