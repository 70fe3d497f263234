package postgres

import (
	"github.com/videoforge/videoforge"
)

// keysetAfter returns the condition, with a leading " AND ", that starts a listing
// right after f.Cursor in the order orderBy gives f.Sort, or "" without a cursor; it
// adds the cursor's values with arg.
//
// The condition is a row comparison of exactly the ORDER BY's columns, in its
// direction: (created_at, id) < (…) for newest first, > for oldest first, (title, id)
// > (…), (views, id) < (…). PostgreSQL takes a row comparison on an index's leading
// columns as the start of its scan, so a page deep in the listing costs one descent
// of the sort's index (videos_listed_created_idx, videos_listed_title_idx,
// videos_listed_views_idx, or videos_user_created_idx for one owner's newest) instead
// of reading and dropping every row before it as OFFSET does. Since id breaks ties
// the order is total: a walk from cursor to cursor meets every video that stays in
// the listing, with the same sort key, exactly once, whatever is inserted or deleted
// meanwhile.
func keysetAfter(f videoforge.VideoFilter, arg func(any) string) string {
	c := f.Cursor
	if c == nil {
		return ""
	}
	switch f.Sort {
	case videoforge.SortOldest:
		return " AND (created_at, id) > (" + arg(c.CreatedAt) + "::timestamptz, " + arg(c.ID) + "::bigint)"
	case videoforge.SortTitle:
		return " AND (title, id) > (" + arg(c.Title) + "::text, " + arg(c.ID) + "::bigint)"
	case videoforge.SortViews:
		return " AND (views, id) < (" + arg(c.Views) + "::bigint, " + arg(c.ID) + "::bigint)"
	}
	return " AND (created_at, id) < (" + arg(c.CreatedAt) + "::timestamptz, " + arg(c.ID) + "::bigint)"
}

// checkCursor refuses a cursor that keysetAfter cannot follow: a search ordered by
// relevance, whose rank is not a field of the video a cursor names.
func checkCursor(f videoforge.VideoFilter) error {
	if f.Cursor != nil && f.Search != "" && f.Sort == "" {
		return videoforge.Errorf(videoforge.EINVALID,
			"a search ordered by relevance cannot be paged with a cursor: give it a sort (-createdAt, createdAt, title, views)")
	}
	return nil
}
