package edge_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/edge"
)

func TestCORS(t *testing.T) {
	dsn, _, vs := catalogDB(t)
	v := create(t, vs, newVideo("alice", videoforge.Public, videoforge.StatusReady))
	cat := edgeCatalog(t, dsn)
	e := startEdge(t, cat, "", nil, func(c *edge.Config) { c.CORSOrigins = []string{"https://player.example", "http://localhost:3000"} })
	do := func(method, url, origin string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, url, nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if method == "OPTIONS" {
			req.Header.Set("Access-Control-Request-Method", "GET")
			req.Header.Set("Access-Control-Request-Headers", "authorization")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	t.Run("Preflight", func(t *testing.T) {
		for _, path := range []string{"/api/stream/" + id(v), "/api/stream/" + id(v) + "/qualities", "/" + id(v) + "/thumbnail", "/api/stream/health"} {
			res := do("OPTIONS", e.url+path, "https://player.example")
			h := res.Header
			if res.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "https://player.example" ||
				!strings.Contains(h.Get("Access-Control-Allow-Methods"), "GET") ||
				!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "authorization") || h.Get("Access-Control-Max-Age") == "" {
				t.Fatalf("%s: %d %v", path, res.StatusCode, h)
			}
		}
	})
	t.Run("AllowedOrigin", func(t *testing.T) {
		for _, path := range []string{"/api/stream/" + id(v), "/api/stream/987654321", "/api/stream/health"} {
			res := do("GET", e.url+path, "http://localhost:3000")
			if res.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" || res.Header.Get("Vary") != "Origin" ||
				!strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), "Retry-After") {
				t.Fatalf("%s: %d %v", path, res.StatusCode, res.Header)
			}
		}
	})
	t.Run("OtherOrigin", func(t *testing.T) {
		for _, m := range []string{"GET", "OPTIONS"} {
			res := do(m, e.url+"/api/stream/"+id(v), "https://evil.example")
			if got := res.Header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Fatalf("%s: Access-Control-Allow-Origin %q for another origin", m, got)
			}
		}
	})
	t.Run("OtherMethods", func(t *testing.T) {
		res := do("POST", e.url+"/api/stream/"+id(v), "https://player.example")
		if res.StatusCode != 405 || !strings.Contains(res.Header.Get("Allow"), "OPTIONS") {
			t.Fatalf("POST: %d %v", res.StatusCode, res.Header)
		}
	})
	t.Run("AnyOriginByDefault", func(t *testing.T) {
		d := startEdge(t, cat, "", nil, nil)
		res := do("GET", d.url+"/api/stream/"+id(v), "https://anywhere.example")
		if res.StatusCode != 200 || res.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("%d %v", res.StatusCode, res.Header)
		}
		if res := do("OPTIONS", d.url+"/"+id(v), "https://anywhere.example"); res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("preflight: %d %v", res.StatusCode, res.Header)
		}
	})
}

func TestConfigCORSOrigins(t *testing.T) {
	base := edge.Config{BaseURL: "https://cdn.example", TokenKey: tokenKey}
	for _, c := range []struct {
		origins []string
		ok      bool
	}{
		{nil, true},
		{[]string{"*"}, true},
		{[]string{"https://player.example", "http://localhost:3000"}, true},
		{[]string{"player.example"}, false},
		{[]string{"https://player.example/"}, false},
		{[]string{"https://player.example/app"}, false},
		{[]string{"ftp://player.example"}, false},
	} {
		cfg := base
		cfg.CORSOrigins = c.origins
		if err := cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%q: %v", c.origins, err)
		}
	}
}
