package videoforge_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/videoforge/videoforge"
)

// TestEventLadderComplete: a public video's event says whether its ladder is complete;
// a trimmed one does not carry it.
func TestEventLadderComplete(t *testing.T) {
	for _, tc := range []struct {
		vis      videoforge.Visibility
		typ      string
		complete bool
		want     string // what the body holds of the field, "" for nothing
	}{
		{videoforge.Public, videoforge.EventUpdated, false, `"ladderComplete":false`},
		{videoforge.Public, videoforge.EventUpdated, true, `"ladderComplete":true`},
		{videoforge.Unlisted, videoforge.EventUpdated, false, ""},
		{videoforge.Private, videoforge.EventUpdated, true, ""},
		{videoforge.Public, videoforge.EventDeleted, false, ""},
	} {
		v := &videoforge.Video{ID: 7, UserID: "alice", Title: "t", Visibility: tc.vis, Status: videoforge.StatusReady,
			LadderComplete: tc.complete}
		b, err := json.Marshal(videoforge.EventVideoOf(tc.typ, v))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b); tc.want == "" && strings.Contains(got, "ladderComplete") || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s %s event of a video whose ladder is complete: %v: %s, want %q", tc.vis, tc.typ, tc.complete, got, tc.want)
		}
	}
	// The event body is a copy: a later change of the video does not change it.
	v := &videoforge.Video{ID: 7, Visibility: videoforge.Public}
	body := v.EventBody()
	v.LadderComplete = true
	if *body.LadderComplete {
		t.Error("the event body follows the video")
	}
}
