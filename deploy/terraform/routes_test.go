package terraform_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/videoforge/videoforge"
	"github.com/videoforge/videoforge/catalog"
	"github.com/videoforge/videoforge/edge"
	"github.com/videoforge/videoforge/uploads/tus"
	"github.com/videoforge/videoforge/web"
)

// apiRouteKey turns a Go route (method and net/http-style pattern path) into the API
// Gateway HTTP API route key that serves it: "{name...}" becomes the greedy "{name+}",
// a trailing "{$}" is dropped, and a pattern without a method becomes ANY.
func apiRouteKey(method, path string) string {
	if method == "" {
		method = "ANY"
	}
	path = strings.TrimSuffix(path, "{$}")
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if name, ok := strings.CutSuffix(s, "...}"); ok && strings.HasPrefix(s, "{") {
			segs[i] = name + "+}"
		}
	}
	return method + " " + strings.Join(segs, "/")
}

// goRoutes lists the routes the Go services register, as API Gateway route keys: the
// gallery's, its tus endpoint's, the edge's and the browser app's pages and assets
// (web.Routes, at the site's root, served by the gallery).
func goRoutes(catalogRoutes, edgeRoutes, webRoutes []videoforge.Route) []string {
	var keys []string
	for _, r := range catalogRoutes {
		keys = append(keys, apiRouteKey(r.Method, catalog.Prefix+r.Path))
	}
	for _, r := range tus.Routes {
		keys = append(keys, apiRouteKey(r.Method, catalog.Prefix+tus.Path+r.Path))
	}
	for _, r := range edgeRoutes {
		keys = append(keys, apiRouteKey(r.Method, edge.Prefix+r.Path))
	}
	for _, r := range webRoutes {
		keys = append(keys, apiRouteKey(r.Method, r.Path))
	}
	return keys
}

// apiRoutes reads the route keys of the HTTP API from modules/api: the lists in its
// locals, which its aws_apigatewayv2_route resource iterates over.
func apiRoutes(t *testing.T, c *config) []string {
	t.Helper()
	dir := filepath.Join("modules", "api")
	routes := c.blocks("resource", "aws_apigatewayv2_route")
	if len(routes) != 1 {
		t.Fatalf("want one aws_apigatewayv2_route resource (for_each over local.routes), found %d", len(routes))
	}
	r := routes[0]
	if r.file.dir != dir {
		t.Fatalf("aws_apigatewayv2_route is in %s, want %s", r.file.dir, dir)
	}
	fe, ok := r.Body.Attributes["for_each"]
	if !ok || !slices.Equal(references(fe.Expr), []string{"local.routes"}) {
		t.Fatalf("%s: for_each must be local.routes", r.name())
	}
	if key, ok := r.Body.Attributes["route_key"]; !ok || !slices.Equal(references(key.Expr), []string{"each.value"}) {
		t.Fatalf("%s: route_key must be each.value", r.name())
	}
	all, ok := c.local(dir, "routes")
	if !ok {
		t.Fatalf("%s: no local.routes", dir)
	}
	var keys []string
	for _, ref := range references(all) {
		name, ok := strings.CutPrefix(ref, "local.")
		if !ok {
			t.Fatalf("%s: local.routes may only combine other locals, found %s", dir, ref)
		}
		e, ok := c.local(dir, name)
		if !ok {
			t.Fatalf("%s: local.%s not found", dir, name)
		}
		v, ok := constant(e)
		if !ok {
			t.Fatalf("%s: local.%s must be a literal list of route keys", dir, name)
		}
		keys = append(keys, valueStrings(v)...)
	}
	if _, isCall := all.(*hclsyntax.FunctionCallExpr); !isCall || len(keys) == 0 {
		t.Fatalf("%s: local.routes must be toset(concat(...)) of the route lists", dir)
	}
	return keys
}

// diffRoutes returns the routes registered in Go that API Gateway lacks, and the routes
// API Gateway has that no Go service registers (duplicates count as a difference too).
func diffRoutes(goKeys, apiKeys []string) (notInAPI, notInGo []string) {
	count := map[string]int{}
	for _, k := range goKeys {
		count[k]++
	}
	for _, k := range apiKeys {
		count[k]--
	}
	for k, n := range count {
		switch {
		case n > 0:
			notInAPI = append(notInAPI, k)
		case n < 0:
			notInGo = append(notInGo, k)
		}
	}
	sort.Strings(notInAPI)
	sort.Strings(notInGo)
	return notInAPI, notInGo
}

func routeMismatch(goKeys, apiKeys []string) error {
	notInAPI, notInGo := diffRoutes(goKeys, apiKeys)
	if len(notInAPI) == 0 && len(notInGo) == 0 {
		return nil
	}
	return fmt.Errorf("routes registered in Go but not in API Gateway (add them to deploy/terraform/modules/api/routes.tf): %q; "+
		"routes in API Gateway that no Go service registers: %q", notInAPI, notInGo)
}

func TestAPIGatewayRoutesMatchGo(t *testing.T) {
	c := loadConfig(t)
	goKeys, apiKeys := goRoutes(catalog.Routes, edge.Routes, web.Routes), apiRoutes(t, c)
	if len(catalog.Routes) == 0 || len(edge.Routes) == 0 || len(web.Routes) == 0 {
		t.Fatalf("catalog.Routes has %d routes, edge.Routes %d, web.Routes %d: nothing to check against",
			len(catalog.Routes), len(edge.Routes), len(web.Routes))
	}

	t.Run("OK", func(t *testing.T) {
		if err := routeMismatch(goKeys, apiKeys); err != nil {
			t.Error(err)
		}
	})

	// A route added on one side only fails the check, whichever side it is.
	t.Run("ErrRouteOnlyInGo", func(t *testing.T) {
		catalogRoutes := append(slices.Clone(catalog.Routes), videoforge.Route{Method: "POST", Path: "/uploads"})
		if err := routeMismatch(goRoutes(catalogRoutes, edge.Routes, web.Routes), apiKeys); err == nil ||
			!strings.Contains(err.Error(), "POST /api/gallery/uploads") {
			t.Errorf("route added to catalog.Routes only: got %v, want a mismatch naming it", err)
		}
		edgeRoutes := append(slices.Clone(edge.Routes), videoforge.Route{Method: "GET", Path: "/{videoId}/storyboard"})
		if err := routeMismatch(goRoutes(catalog.Routes, edgeRoutes, web.Routes), apiKeys); err == nil ||
			!strings.Contains(err.Error(), "GET /api/stream/{videoId}/storyboard") {
			t.Errorf("route added to edge.Routes only: got %v, want a mismatch naming it", err)
		}
		webRoutes := append(slices.Clone(web.Routes), videoforge.Route{Method: "GET", Path: "/channel/{user}"})
		if err := routeMismatch(goRoutes(catalog.Routes, edge.Routes, webRoutes), apiKeys); err == nil ||
			!strings.Contains(err.Error(), "GET /channel/{user}") {
			t.Errorf("route added to web.Routes only: got %v, want a mismatch naming it", err)
		}
	})
	t.Run("ErrRouteOnlyInAPIGateway", func(t *testing.T) {
		for _, extra := range []string{"DELETE /api/stream/{videoId}", "GET /about"} {
			err := routeMismatch(goKeys, append(slices.Clone(apiKeys), extra))
			if err == nil || !strings.Contains(err.Error(), extra) {
				t.Errorf("route %q added in API Gateway only: got %v, want a mismatch naming it", extra, err)
			}
		}
		// A page removed from web.Routes but left in API Gateway.
		if err := routeMismatch(goRoutes(catalog.Routes, edge.Routes, web.Routes[1:]), apiKeys); err == nil {
			t.Errorf("route %v removed from web.Routes only: no mismatch", web.Routes[0])
		}
	})
	t.Run("ErrMethodDiffers", func(t *testing.T) {
		changed := slices.Clone(apiKeys)
		changed[0] = "POST" + changed[0][strings.Index(changed[0], " "):]
		if err := routeMismatch(goKeys, changed); err == nil {
			t.Errorf("method of %q changed in API Gateway only: no mismatch", apiKeys[0])
		}
	})
}

func TestAPIRouteKey(t *testing.T) {
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/api/gallery/videos/{id}", "GET /api/gallery/videos/{id}"},
		{"", "/api/stream/health", "ANY /api/stream/health"},
		{"GET", "/api/files/{path...}", "GET /api/files/{path+}"},
		{"GET", "/api/gallery/{$}", "GET /api/gallery/"},
		{"GET", "/{$}", "GET /"},
		{"GET", "/assets/{file...}", "GET /assets/{file+}"},
	} {
		if got := apiRouteKey(tc.method, tc.path); got != tc.want {
			t.Errorf("apiRouteKey(%q, %q) = %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}
