package videoforge

import "strconv"

// CatalogSubjectPrefix starts every catalog event subject; subscribe to
// "videoforge.catalog.>" for all of them.
const CatalogSubjectPrefix = "videoforge.catalog.video."

// CatalogSubject returns the subject of a catalog event of the given type for a video.
func CatalogSubject(videoID int64, eventType string) string {
	return CatalogSubjectPrefix + strconv.FormatInt(videoID, 10) + "." + eventType
}

// JobSubjectPrefix starts every job event subject; subscribe to "videoforge.jobs.>" for
// all of them, or "videoforge.jobs.<jobId>.>" for one job.
const JobSubjectPrefix = "videoforge.jobs."

// Kinds of job events, the last token of their subjects.
const (
	JobEventQueued    = "queued"    // the job's message is in the queue
	JobEventStarted   = "started"   // a worker took it
	JobEventProgress  = "progress"  // the worker reports how far it is
	JobEventCompleted = "completed" // results are committed to the catalog
	JobEventFailed    = "failed"    // the job gave up; the job row has the reason
)

// JobSubject returns the subject of a job event of the given kind.
func JobSubject(jobID int64, kind string) string {
	return JobSubjectPrefix + strconv.FormatInt(jobID, 10) + "." + kind
}
