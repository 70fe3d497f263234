package videoforge_test

import (
	"testing"

	"github.com/videoforge/videoforge"
)

func TestHTTPStatus(t *testing.T) {
	for code, want := range map[string]int{
		videoforge.EINVALID: 400, videoforge.EUNAUTHORIZED: 401, videoforge.EFORBIDDEN: 403, videoforge.ENOTFOUND: 404,
		videoforge.ECONFLICT: 409, videoforge.ETOOLARGE: 413, videoforge.ERATELIMIT: 429, videoforge.EUNAVAILABLE: 503,
		videoforge.EINTERNAL: 500, "no such code": 500,
	} {
		if got := videoforge.HTTPStatus(code); got != want {
			t.Errorf("HTTPStatus(%q) = %d, want %d", code, got, want)
		}
	}
}
