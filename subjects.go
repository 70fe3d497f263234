package videoforge

import "strconv"

// CatalogSubjectPrefix starts every catalog event subject; subscribe to
// "videoforge.catalog.>" for all of them.
const CatalogSubjectPrefix = "videoforge.catalog.video."

// CatalogSubject returns the subject of a catalog event of the given type for a video.
func CatalogSubject(videoID int64, eventType string) string {
	return CatalogSubjectPrefix + strconv.FormatInt(videoID, 10) + "." + eventType
}
