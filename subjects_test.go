package videoforge_test

import (
	"testing"

	"github.com/videoforge/videoforge"
)

func TestSubjects(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{videoforge.CatalogSubject(42, videoforge.EventCreated), "videoforge.catalog.video.42.created"},
		{videoforge.CatalogSubject(42, videoforge.EventDeleted), "videoforge.catalog.video.42.deleted"},
		{videoforge.JobSubject(7, videoforge.JobEventQueued), "videoforge.jobs.7.queued"},
		{videoforge.JobSubject(7, videoforge.JobEventStarted), "videoforge.jobs.7.started"},
		{videoforge.JobSubject(7, videoforge.JobEventProgress), "videoforge.jobs.7.progress"},
		{videoforge.JobSubject(7, videoforge.JobEventCompleted), "videoforge.jobs.7.completed"},
		{videoforge.JobSubject(7, videoforge.JobEventFailed), "videoforge.jobs.7.failed"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
