package catalog_test

import (
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog"
)

func TestParseListQuery(t *testing.T) {
	ok := []struct {
		q                    string
		page, limit, offset  int
		sort, search, userID string
		status               videoforge.Status
	}{
		{"", 1, 10, 0, "", "", "", ""},
		{"page=3&limit=20", 3, 20, 40, "", "", "", ""},
		{"limit=100&page=1", 1, 100, 0, "", "", "", ""},
		{"page=&limit=", 1, 10, 0, "", "", "", ""},
		{"limit=+5", 1, 5, 0, "", "", "", ""},
		{"sort=views&sort=title", 1, 10, 0, "title", "", "", ""},
		{"sort=-createdAt&search=%20cats%20&userId=alice&status=ready", 1, 10, 0, "-createdAt", "cats", "alice", "ready"},
		{"_=123456&unknown=1", 1, 10, 0, "", "", "", ""},
	}
	for _, c := range ok {
		t.Run("OK/"+c.q, func(t *testing.T) {
			v, err := url.ParseQuery(c.q)
			if err != nil {
				t.Fatal(err)
			}
			lq, err := catalog.ParseListQuery(v)
			if err != nil {
				t.Fatal(err)
			}
			f := lq.Filter
			if lq.Page != c.page || lq.Limit != c.limit || f.Offset != c.offset || f.Limit != c.limit ||
				f.Sort != c.sort || f.Search != c.search || f.UserID != c.userID {
				t.Errorf("got %+v", lq)
			}
			if (c.status == "") != (f.Status == nil) || (f.Status != nil && *f.Status != c.status) {
				t.Errorf("status %v", f.Status)
			}
		})
	}
	bad := []string{"page=0", "page=-1", "page=1e3", "page=100001", "limit=0", "limit=101", "limit=abc", "limit=0x10",
		"sort=name", "sort=-views", "status=READY", "status=deleted", "search=%00", "search=%ff%fe", "userId=%00"}
	for _, q := range bad {
		t.Run("ErrInvalid/"+q, func(t *testing.T) {
			v, _ := url.ParseQuery(q)
			if _, err := catalog.ParseListQuery(v); videoforge.ErrorCode(err) != videoforge.EINVALID {
				t.Errorf("got %v", err)
			}
		})
	}
}

func TestParseID(t *testing.T) {
	for s, want := range map[string]string{"1": "", "007": "", "9223372036854775807": "",
		"0": videoforge.ENOTFOUND, "9223372036854775808": videoforge.ENOTFOUND, "99999999999999999999999": videoforge.ENOTFOUND,
		"": videoforge.EINVALID, "-1": videoforge.EINVALID, "1.0": videoforge.EINVALID, "abc": videoforge.EINVALID,
		"1 OR 1=1": videoforge.EINVALID, "１": videoforge.EINVALID} {
		if _, err := catalog.ParseID(s); videoforge.ErrorCode(err) != want {
			t.Errorf("ParseID(%q): %v, want code %q", s, err, want)
		}
	}
}

// FuzzParseListQuery: any query string either parses into a filter within the
// contract's bounds or is refused as invalid; it never panics.
func FuzzParseListQuery(f *testing.F) {
	for _, s := range []string{"", "page=2&limit=50", "limit=0", "search=%22a+b%22", "sort=title&status=ready&userId=x",
		"page=99999999999999999999", "search=%ff", "limit=%00", "a=1&a=2&page=3&page=4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		lq, err := catalog.ParseListQuery(q)
		if err != nil {
			if videoforge.ErrorCode(err) != videoforge.EINVALID {
				t.Fatalf("%q: error %v is not EINVALID", raw, err)
			}
			return
		}
		fl := lq.Filter
		if lq.Page < 1 || lq.Page > catalog.MaxPage || lq.Limit < 1 || lq.Limit > catalog.MaxLimit ||
			fl.Limit != lq.Limit || fl.Offset != (lq.Page-1)*lq.Limit || fl.Offset < 0 {
			t.Fatalf("%q: out of bounds %+v", raw, lq)
		}
		switch fl.Sort {
		case "", videoforge.SortNewest, videoforge.SortOldest, videoforge.SortTitle, videoforge.SortViews:
		default:
			t.Fatalf("%q: sort %q", raw, fl.Sort)
		}
		if fl.Status != nil && !fl.Status.Valid() {
			t.Fatalf("%q: status %q", raw, *fl.Status)
		}
		if !utf8.ValidString(fl.Search) || len(fl.Search) > catalog.MaxSearchBytes || !utf8.ValidString(fl.UserID) {
			t.Fatalf("%q: text %q %q", raw, fl.Search, fl.UserID)
		}
	})
}
