package terraform_test

import (
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/videoforge/videoforge/web"
)

// The browser app (package web) in AWS: API Gateway routes its pages to the gallery on
// the API's own origin, the load balancer sends them to the catalog, the pages sign in
// through the Cognito hosted UI with the one public app client (code flow, PKCE) and the
// gallery gets COGNITO_DOMAIN and STREAM_API_URL.

// testEndpoint stands for aws_apigatewayv2_api.this.api_endpoint.
const testEndpoint = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"

// tfReplace is Terraform's replace(): a substring written /like this/ is a regular
// expression.
var tfReplace = function.New(&function.Spec{
	Params: []function.Parameter{
		{Name: "str", Type: cty.String}, {Name: "substr", Type: cty.String}, {Name: "replace", Type: cty.String},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if sub := args[1].AsString(); len(sub) > 1 && strings.HasPrefix(sub, "/") && strings.HasSuffix(sub, "/") {
			return stdlib.RegexReplace(args[0], cty.StringVal(sub[1:len(sub)-1]), args[2])
		}
		return stdlib.Replace(args[0], args[1], args[2])
	},
})

// evalContext evaluates expressions with the Terraform functions the checked ones use
// and the given values, named by their dotted references ("module.api.api_endpoint").
func evalContext(vals map[string]cty.Value) *hcl.EvalContext {
	type tree map[string]any
	root := tree{}
	for name, v := range vals {
		parts := strings.Split(name, ".")
		node := root
		for _, p := range parts[:len(parts)-1] {
			next, ok := node[p].(tree)
			if !ok {
				next = tree{}
				node[p] = next
			}
			node = next
		}
		node[parts[len(parts)-1]] = v
	}
	var build func(tree) cty.Value
	build = func(t tree) cty.Value {
		m := map[string]cty.Value{}
		for k, v := range t {
			if sub, ok := v.(tree); ok {
				m[k] = build(sub)
			} else {
				m[k] = v.(cty.Value)
			}
		}
		return cty.ObjectVal(m)
	}
	vars := map[string]cty.Value{}
	for k, v := range root {
		if sub, ok := v.(tree); ok {
			vars[k] = build(sub)
		} else {
			vars[k] = v.(cty.Value)
		}
	}
	return &hcl.EvalContext{
		Variables: vars,
		Functions: map[string]function.Function{
			"replace": tfReplace, "trimprefix": stdlib.TrimPrefixFunc, "chunklist": stdlib.ChunklistFunc,
			"join": stdlib.JoinFunc, "distinct": stdlib.DistinctFunc, "concat": stdlib.ConcatFunc,
			"merge": stdlib.MergeFunc, "lookup": stdlib.LookupFunc, "length": stdlib.LengthFunc,
		},
	}
}

func eval(t *testing.T, what string, expr hclsyntax.Expression, vals map[string]cty.Value) cty.Value {
	t.Helper()
	v, diags := expr.Value(evalContext(vals))
	if diags.HasErrors() {
		t.Fatalf("%s: %s", what, diags.Error())
	}
	return v
}

func stringList(vs ...string) cty.Value {
	if len(vs) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	l := make([]cty.Value, len(vs))
	for i, s := range vs {
		l[i] = cty.StringVal(s)
	}
	return cty.ListVal(l)
}

// onlyBlock returns the one top-level block of module dir that is the resource (or
// data source) typ.name (any name when name is ""), or the module or output name (typ
// unused).
func (c *config) onlyBlock(t *testing.T, dir, kind, typ, name string) block {
	t.Helper()
	var found []block
	for _, f := range c.files {
		if f.dir != dir {
			continue
		}
		for _, b := range f.body.Blocks {
			if b.Type != kind || len(b.Labels) == 0 {
				continue
			}
			switch kind {
			case "resource", "data":
				if b.Labels[0] == typ && len(b.Labels) > 1 && (name == "" || b.Labels[1] == name) {
					found = append(found, block{f, b})
				}
			default:
				if b.Labels[0] == name {
					found = append(found, block{f, b})
				}
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: want one %s %s %s, found %d", dir, kind, typ, name, len(found))
	}
	return found[0]
}

func attr(t *testing.T, b block, name string) hclsyntax.Expression {
	t.Helper()
	a, ok := b.Body.Attributes[name]
	if !ok {
		t.Fatalf("%s: no %s", b.name(), name)
	}
	return a.Expr
}

func nested(t *testing.T, b block, types ...string) block {
	t.Helper()
	body := b.Body
	for _, typ := range types {
		var next *hclsyntax.Body
		for _, inner := range body.Blocks {
			if inner.Type == typ {
				next = inner.Body
			}
		}
		if next == nil {
			t.Fatalf("%s: no %s block", b.name(), strings.Join(types, " > "))
		}
		body = next
	}
	return block{b.file, &hclsyntax.Block{Type: b.Type, Labels: b.Labels, Body: body}}
}

// localExpr is local.name of module dir, or the test fails.
func (c *config) localExpr(t *testing.T, dir, name string) hclsyntax.Expression {
	t.Helper()
	e, ok := c.local(dir, name)
	if !ok {
		t.Fatalf("%s: no local.%s", dir, name)
	}
	return e
}

// objectItemsOf returns the items of an object expression, or of the first argument of a
// merge({...}, ...) call.
func objectItemsOf(t *testing.T, what string, expr hclsyntax.Expression) map[string]hclsyntax.Expression {
	t.Helper()
	if call, ok := expr.(*hclsyntax.FunctionCallExpr); ok && call.Name == "merge" && len(call.Args) > 0 {
		expr = call.Args[0]
	}
	obj, ok := expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		t.Fatalf("%s: want an object (or merge of one), got %T", what, expr)
	}
	return objectItems(obj)
}

// paths lists every reference in expr with all its attribute steps
// ("module.api.api_endpoint"), up to the first index.
func paths(expr hclsyntax.Expression) []string {
	var out []string
	for _, tr := range expr.Variables() {
		parts := []string{tr.RootName()}
		for _, step := range tr[1:] {
			a, ok := step.(hcl.TraverseAttr)
			if !ok {
				break
			}
			parts = append(parts, a.Name)
		}
		out = append(out, strings.Join(parts, "."))
	}
	return out
}

// hasKey reports whether an object or map value has key.
func hasKey(v cty.Value, key string) bool {
	switch {
	case v.Type().IsObjectType():
		return v.Type().HasAttribute(key)
	case v.Type().IsMapType():
		return v.HasIndex(cty.StringVal(key)).True()
	}
	return false
}

// samplePath is a request path that the Go pattern p matches.
func samplePath(p string) string {
	p = strings.TrimSuffix(p, "{$}")
	p = regexp.MustCompile(`\{[^}]+\.\.\.\}`).ReplaceAllString(p, "js/app.js")
	return regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(p, "abc123")
}

// albMatch reports whether an ALB path pattern ("*" any characters, "?" one) matches
// the whole path.
func albMatch(pattern, path string) bool {
	re := regexp.QuoteMeta(pattern)
	re = strings.ReplaceAll(re, `\*`, ".*")
	re = strings.ReplaceAll(re, `\?`, ".")
	return regexp.MustCompile("^" + re + "$").MatchString(path)
}

// TestPagesReachTheGallery: every page and asset of web.Routes goes from API Gateway
// (the routes themselves: TestAPIGatewayRoutesMatchGo) through the load balancer to the
// catalog, without an authorizer in front.
func TestPagesReachTheGallery(t *testing.T) {
	c := loadConfig(t)
	dir := filepath.Join("modules", "api")

	// Public pages: no authorizer on the routes (the pages send the user's token to the
	// APIs themselves).
	route := c.onlyBlock(t, dir, "resource", "aws_apigatewayv2_route", "this")
	if a, ok := route.Body.Attributes["authorization_type"]; ok {
		if v, _ := stringAttr(route.Body, "authorization_type"); v != "NONE" {
			t.Errorf("%s: authorization_type %s: the pages (local.page_routes) must stay public", route.name(), a.Expr.Range())
		}
	}
	if _, ok := route.Body.Attributes["authorizer_id"]; ok {
		t.Errorf("%s: an authorizer on every route would lock the public pages out", route.name())
	}

	// The load balancer's page patterns, as Terraform computes them from the route keys.
	pageRoutes, ok := constant(c.localExpr(t, dir, "page_routes"))
	if !ok {
		t.Fatalf("%s: local.page_routes must be a literal list", dir)
	}
	patterns := eval(t, "local.page_path_patterns", c.localExpr(t, dir, "page_path_patterns"),
		map[string]cty.Value{"local.page_routes": pageRoutes})
	chunks := eval(t, "local.page_path_chunks", c.localExpr(t, dir, "page_path_chunks"),
		map[string]cty.Value{"local.page_path_patterns": patterns})
	var all []string
	for it := chunks.ElementIterator(); it.Next(); {
		_, chunk := it.Element()
		if n := chunk.LengthInt(); n == 0 || n > 5 {
			t.Errorf("a page rule has %d path patterns: a listener rule takes 1 to 5", n)
		}
		all = append(all, valueStrings(chunk)...)
	}
	if !slices.Equal(all, valueStrings(patterns)) {
		t.Errorf("the page rules' chunks %v lose or add patterns of %v", all, valueStrings(patterns))
	}
	for _, r := range web.Routes {
		p := samplePath(r.Path)
		if !slices.ContainsFunc(all, func(pat string) bool { return albMatch(pat, p) }) {
			t.Errorf("web route %s %s: no load balancer page pattern matches %s (patterns %q)", r.Method, r.Path, p, all)
		}
	}
	for _, p := range []string{"/api/gallery/videos", "/api/stream/abc/qualities", "/videos/abc", "/health"} {
		for _, pat := range all {
			if albMatch(pat, p) {
				t.Errorf("page pattern %q also matches %s", pat, p)
			}
		}
	}
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{{"/", "/", true}, {"/", "/mine", false}, {"/watch/*", "/watch/abc", true}, {"/assets/*", "/assets/a/b.js", true}, {"/mine", "/mine/x", false}} {
		if got := albMatch(tc.pattern, tc.path); got != tc.want {
			t.Errorf("albMatch(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}

	// One listener rule per chunk, forwarding to the catalog's target group.
	rule := c.onlyBlock(t, dir, "resource", "aws_lb_listener_rule", "pages")
	if n := eval(t, rule.name()+" count", attr(t, rule, "count"), map[string]cty.Value{"local.page_path_chunks": chunks}); !n.Equals(cty.NumberIntVal(int64(chunks.LengthInt()))).True() {
		t.Errorf("%s: count = %s, want one rule per chunk (%d)", rule.name(), n.GoString(), chunks.LengthInt())
	}
	values := attr(t, nested(t, rule, "condition", "path_pattern"), "values")
	if got := eval(t, rule.name()+" values", values, map[string]cty.Value{"local.page_path_chunks": chunks, "count.index": cty.NumberIntVal(0)}); !got.Equals(chunks.Index(cty.NumberIntVal(0))).True() {
		t.Errorf("%s: path_pattern values must be local.page_path_chunks[count.index]", rule.name())
	}
	action := nested(t, rule, "action")
	if typ, _ := stringAttr(action.Body, "type"); typ != "forward" {
		t.Errorf("%s: action type %q, want forward", rule.name(), typ)
	}
	tg, ok := attr(t, action, "target_group_arn").(*hclsyntax.ScopeTraversalExpr)
	if !ok || len(tg.Traversal) != 4 || tg.Traversal.RootName() != "aws_lb_target_group" {
		t.Fatalf("%s: target_group_arn must be aws_lb_target_group.service[\"catalog\"].arn", rule.name())
	}
	if idx, ok := tg.Traversal[2].(hcl.TraverseIndex); !ok || !idx.Key.Equals(cty.StringVal("catalog")).True() {
		t.Errorf("%s: the pages must go to the catalog's target group", rule.name())
	}
	services := map[int64]bool{}
	if v, ok := constant(c.localExpr(t, dir, "services")); ok {
		for it := v.ElementIterator(); it.Next(); {
			_, s := it.Element()
			n, _ := s.GetAttr("priority").AsBigFloat().Int64()
			services[n] = true
		}
	}
	for i := range chunks.LengthInt() {
		p := eval(t, rule.name()+" priority", attr(t, rule, "priority"), map[string]cty.Value{"count.index": cty.NumberIntVal(int64(i))})
		if n, _ := p.AsBigFloat().Int64(); services[n] {
			t.Errorf("%s[%d]: priority %d is taken by a service rule", rule.name(), i, n)
		}
	}

	// The site's URL is the API's root, on its custom domain when it has one.
	out := c.onlyBlock(t, dir, "output", "", "site_url")
	for domain, want := range map[string]string{"": testEndpoint + "/", "videos.example.com": "https://videos.example.com/"} {
		got := eval(t, "output site_url", attr(t, out, "value"), map[string]cty.Value{
			"aws_apigatewayv2_api.this.api_endpoint": cty.StringVal(testEndpoint),
			"local.custom_domain":                    cty.BoolVal(domain != ""),
			"var.domain_name":                        cty.StringVal(domain),
		})
		if got.AsString() != want {
			t.Errorf("output site_url with domain_name %q = %q, want %q", domain, got.AsString(), want)
		}
	}
}

// TestCognitoHostedUIClient: the one app client (COGNITO_CLIENT_ID, whose tokens the
// gallery accepts) is what the pages sign in with: public, code flow only, its callback
// the site's /signin/callback, built from the API's endpoint alone (no cycle through the
// stage or anything that needs the client).
func TestCognitoHostedUIClient(t *testing.T) {
	c := loadConfig(t)
	auth := filepath.Join("modules", "auth")
	vf := filepath.Join("modules", "videoforge")

	clients := c.blocks("resource", "aws_cognito_user_pool_client")
	if len(clients) != 1 {
		t.Fatalf("want one aws_cognito_user_pool_client (the pages and the gallery's COGNITO_CLIENT_ID share it), found %d", len(clients))
	}
	cl := clients[0]
	if cl.file.dir != auth {
		t.Fatalf("%s: want it in %s", cl.name(), auth)
	}
	if secret, ok := boolAttr(cl.Body, "generate_secret"); !ok || secret {
		t.Errorf("%s: generate_secret must be the literal false (a browser keeps no secret; PKCE instead)", cl.name())
	}
	if on, ok := boolAttr(cl.Body, "allowed_oauth_flows_user_pool_client"); !ok || !on {
		t.Errorf("%s: allowed_oauth_flows_user_pool_client must be the literal true", cl.name())
	}
	for name, want := range map[string][]string{
		"allowed_oauth_flows":          {"code"},
		"allowed_oauth_scopes":         {"email", "openid", "profile"},
		"supported_identity_providers": {"COGNITO"},
	} {
		v, ok := constant(attr(t, cl, name))
		got := valueStrings(v)
		sort.Strings(got)
		if !ok || !slices.Equal(got, want) {
			t.Errorf("%s: %s = %q, want the literal %q", cl.name(), name, got, want)
		}
	}
	if refs := references(attr(t, cl, "callback_urls")); !slices.Equal(refs, []string{"var.callback_urls"}) {
		t.Errorf("%s: callback_urls must be var.callback_urls, got %v", cl.name(), refs)
	}
	// An hour or less of access and ID token: a token kept in sessionStorage should not
	// outlive the tab by much.
	units := nested(t, cl, "token_validity_units")
	for _, tok := range []string{"access_token", "id_token"} {
		v, ok := constant(attr(t, cl, tok+"_validity"))
		unit, _ := stringAttr(units.Body, tok)
		n, _ := v.AsBigFloat().Int64()
		if !ok || unit != "minutes" || n < 5 || n > 60 {
			t.Errorf("%s: %s_validity %d %s, want 5 to 60 minutes", cl.name(), tok, n, unit)
		}
	}

	// The gallery checks the client_id of this client's tokens.
	if refs := references(attr(t, c.onlyBlock(t, auth, "output", "", "client_id"), "value")); !slices.Equal(refs, []string{"aws_cognito_user_pool_client." + cl.Labels[1]}) {
		t.Errorf("%s: output client_id is %v, want the app client", auth, refs)
	}
	common := objectItemsOf(t, "local.common_config", c.localExpr(t, vf, "common_config"))
	if e, ok := common["COGNITO_CLIENT_ID"]; !ok || !slices.Equal(paths(e), []string{"module.auth.client_id"}) {
		t.Errorf("%s: COGNITO_CLIENT_ID must be module.auth.client_id", vf)
	}

	// The callback and sign-out URLs: the site's, from the API's endpoint (or the
	// custom domain, a variable).
	siteOrigin := c.localExpr(t, vf, "site_origin")
	for _, r := range paths(siteOrigin) {
		if r != "module.api.api_endpoint" && r != "var.gallery_domain_name" {
			t.Fatalf("%s: local.site_origin must come from module.api.api_endpoint or var.gallery_domain_name, got %v", vf, r)
		}
	}
	endpoint := c.onlyBlock(t, filepath.Join("modules", "api"), "output", "", "api_endpoint")
	if refs := references(attr(t, endpoint, "value")); !slices.Equal(refs, []string{"aws_apigatewayv2_api.this"}) {
		t.Errorf("modules/api: output api_endpoint must come from the aws_apigatewayv2_api alone (not its stage or an authorizer), got %v", refs)
	}
	for domain, want := range map[string]string{"": testEndpoint, "videos.example.com": "https://videos.example.com"} {
		v := eval(t, "local.site_origin", siteOrigin, map[string]cty.Value{"module.api.api_endpoint": cty.StringVal(testEndpoint), "var.gallery_domain_name": cty.StringVal(domain)})
		if v.AsString() != want {
			t.Errorf("local.site_origin with gallery_domain_name %q = %q, want %q", domain, v.AsString(), want)
		}
	}
	api := c.onlyBlock(t, vf, "module", "", "api")
	for name, a := range api.Body.Attributes {
		for _, r := range references(a.Expr) {
			if strings.HasPrefix(r, "module.auth") || strings.HasPrefix(r, "module.compute") {
				t.Errorf("%s: module api's %s uses %s: a cycle with the client's callback URL", vf, name, r)
			}
		}
	}
	authCall := c.onlyBlock(t, vf, "module", "", "auth")
	const custom = "https://videos.example.com"
	for _, tc := range []struct {
		attr, extraVar string
		domain         string
		extra          []string
		want           []string
	}{
		{"callback_urls", "var.auth_callback_urls", "", nil, []string{testEndpoint + "/signin/callback"}},
		{"callback_urls", "var.auth_callback_urls", "", []string{"http://localhost:8080/signin/callback"}, []string{testEndpoint + "/signin/callback", "http://localhost:8080/signin/callback"}},
		{"logout_urls", "var.auth_logout_urls", "", nil, []string{testEndpoint + "/"}},
		// On a custom domain, its callback first (the default redirect), and the
		// execute-api endpoint's still.
		{"callback_urls", "var.auth_callback_urls", "videos.example.com", nil, []string{custom + "/signin/callback", testEndpoint + "/signin/callback"}},
		{"logout_urls", "var.auth_logout_urls", "videos.example.com", nil, []string{custom + "/", testEndpoint + "/"}},
	} {
		domainVals := map[string]cty.Value{"module.api.api_endpoint": cty.StringVal(testEndpoint), "var.gallery_domain_name": cty.StringVal(tc.domain)}
		origin := eval(t, "local.site_origin", siteOrigin, domainVals)
		domainVals["local.site_origin"] = origin
		origins := eval(t, "local.site_origins", c.localExpr(t, vf, "site_origins"), domainVals)
		got := valueStrings(eval(t, "module auth "+tc.attr, attr(t, authCall, tc.attr), map[string]cty.Value{
			"local.site_origins": origins, tc.extraVar: stringList(tc.extra...),
		}))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: module auth's %s with %s = %q: %q, want %q", vf, tc.attr, tc.extraVar, tc.extra, got, tc.want)
		}
	}

	// The hosted UI's domain: a prefix from the environment's name unless one is given.
	domain := c.onlyBlock(t, auth, "resource", "aws_cognito_user_pool_domain", "")
	if refs := references(attr(t, domain, "user_pool_id")); !slices.Equal(refs, []string{"aws_cognito_user_pool.this"}) {
		t.Errorf("%s: user_pool_id must be the pool's, got %v", domain.name(), refs)
	}
	if refs := references(attr(t, domain, "domain")); !slices.Equal(refs, []string{"local.domain_prefix"}) {
		t.Errorf("%s: domain must be local.domain_prefix, got %v", domain.name(), refs)
	}
	for given, want := range map[string]string{"": "videoforge-dev", "vf-staging": "vf-staging"} {
		got := eval(t, "local.domain_prefix", c.localExpr(t, auth, "domain_prefix"), map[string]cty.Value{
			"var.domain_prefix": cty.StringVal(given), "var.name": cty.StringVal("videoforge-dev"),
		})
		if got.AsString() != want {
			t.Errorf("local.domain_prefix with domain_prefix %q = %q, want %q", given, got.AsString(), want)
		}
	}
	got := eval(t, "local.hosted_ui_url", c.localExpr(t, auth, "hosted_ui_url"), map[string]cty.Value{
		"aws_cognito_user_pool_domain." + domain.Labels[1] + ".domain": cty.StringVal("videoforge-dev"),
		"data.aws_region.current.region":                               cty.StringVal("eu-west-1"),
	})
	if want := "https://videoforge-dev.auth.eu-west-1.amazoncognito.com"; got.AsString() != want {
		t.Errorf("local.hosted_ui_url = %q, want %q", got.AsString(), want)
	}
}

// TestGalleryGetsPageSettings: the catalog instances' environment (SSM parameters under
// <config_path>/catalog, which their user data reads) has COGNITO_DOMAIN, the hosted UI,
// and STREAM_API_URL, /api/stream on the same origin; the edge allows the site's origin.
func TestGalleryGetsPageSettings(t *testing.T) {
	c := loadConfig(t)
	vf := filepath.Join("modules", "videoforge")
	compute := filepath.Join("modules", "compute")

	roles := objectItems(c.localExpr(t, vf, "role_config").(*hclsyntax.ObjectConsExpr))
	catalog := objectItemsOf(t, "local.role_config.catalog", roles["catalog"])
	if e, ok := catalog["COGNITO_DOMAIN"]; !ok || !slices.Equal(paths(e), []string{"module.auth.hosted_ui_url"}) {
		t.Errorf("%s: the catalog's COGNITO_DOMAIN must be module.auth.hosted_ui_url", vf)
	}
	if e, ok := catalog["STREAM_API_URL"]; !ok {
		t.Errorf("%s: the catalog gets no STREAM_API_URL", vf)
	} else if v, ok := constant(e); !ok || v.AsString() != "/api/stream" {
		t.Errorf("%s: the catalog's STREAM_API_URL must be the literal /api/stream (same origin)", vf)
	}
	edgeCfg := objectItemsOf(t, "local.role_config.edge", roles["edge"])
	for _, tc := range []struct {
		cors []string
		want string
	}{
		{nil, testEndpoint},
		{[]string{"https://videoforge.example.com", testEndpoint}, testEndpoint + ",https://videoforge.example.com"},
	} {
		e, ok := edgeCfg["EDGE_CORS_ORIGINS"]
		if !ok {
			t.Fatalf("%s: the edge gets no EDGE_CORS_ORIGINS", vf)
		}
		cors := eval(t, "local.cors_origins", c.localExpr(t, vf, "cors_origins"), map[string]cty.Value{
			"local.site_origin": cty.StringVal(testEndpoint), "var.cors_origins": stringList(tc.cors...), "var.gallery_domain_name": cty.StringVal("")})
		got := eval(t, "EDGE_CORS_ORIGINS", e, map[string]cty.Value{"local.site_origin": cty.StringVal(testEndpoint), "local.cors_origins": cors})
		if got.AsString() != tc.want {
			t.Errorf("EDGE_CORS_ORIGINS with cors_origins %q = %q, want %q", tc.cors, got.AsString(), tc.want)
		}
	}

	// compute makes them parameters under <config_path>/catalog/...
	call := c.onlyBlock(t, vf, "module", "", "compute")
	if refs := references(attr(t, call, "role_config")); !slices.Equal(refs, []string{"local.role_config"}) {
		t.Fatalf("%s: module compute's role_config must be local.role_config, got %v", vf, refs)
	}
	params := eval(t, "local.parameters", c.localExpr(t, compute, "parameters"), map[string]cty.Value{
		"var.common_config": cty.MapVal(map[string]cty.Value{"COGNITO_CLIENT_ID": cty.StringVal("client")}),
		"var.role_config": cty.MapVal(map[string]cty.Value{
			"catalog": cty.MapVal(map[string]cty.Value{"COGNITO_DOMAIN": cty.StringVal("https://videoforge-dev.auth.eu-west-1.amazoncognito.com"), "STREAM_API_URL": cty.StringVal("/api/stream")}),
			"edge":    cty.MapVal(map[string]cty.Value{"EDGE_CORS_ORIGINS": cty.StringVal(testEndpoint)}),
		}),
	})
	ssm := c.onlyBlock(t, compute, "resource", "aws_ssm_parameter", "config")
	lt := c.onlyBlock(t, compute, "resource", "aws_launch_template", "role")
	ud, ok := attr(t, lt, "user_data").(*hclsyntax.FunctionCallExpr)
	if !ok || (ud.Name != "base64encode" && ud.Name != "base64gzip") || len(ud.Args) != 1 {
		t.Fatalf("%s: user_data must be base64encode(templatefile(...)) or base64gzip(...)", lt.name())
	}
	tf, ok := ud.Args[0].(*hclsyntax.FunctionCallExpr)
	if !ok || tf.Name != "templatefile" || len(tf.Args) != 2 {
		t.Fatalf("%s: user_data must be base64encode(templatefile(...))", lt.name())
	}
	tvars := objectItemsOf(t, "templatefile variables", tf.Args[1])
	configPath := eval(t, "config_path", tvars["config_path"], map[string]cty.Value{"var.name": cty.StringVal("videoforge-dev")}).AsString()
	for _, key := range []string{"catalog/COGNITO_DOMAIN", "catalog/STREAM_API_URL"} {
		if !hasKey(params, key) {
			t.Errorf("%s: local.parameters has no %s", compute, key)
			continue
		}
		name := eval(t, ssm.name()+" name", attr(t, ssm, "name"), map[string]cty.Value{"var.name": cty.StringVal("videoforge-dev"), "each.key": cty.StringVal(key)}).AsString()
		if want := configPath + "/" + key; name != want {
			t.Errorf("%s: parameter %s is named %s, want %s (where the catalog's user data reads)", ssm.name(), key, name, want)
		}
	}

	// ...which the catalog's user data reads into its environment.
	script := renderTemplate(t, "modules/compute/templates/user_data.sh.tftpl", withAgentVars(t, "catalog", map[string]cty.Value{
		"role":            cty.StringVal("catalog"),
		"units":           cty.ListVal([]cty.Value{cty.StringVal("catalog")}),
		"packages":        cty.StringVal(""),
		"region":          cty.StringVal("eu-west-1"),
		"config_path":     cty.StringVal(configPath),
		"secrets":         cty.MapValEmpty(cty.String),
		"release_version": cty.StringVal("v1.2.3"),
		"release_url":     cty.StringVal("s3://b/releases/v1.2.3/videoforge-linux-arm64"),
	}))
	if want := "for path in " + configPath + "/common " + configPath + "/catalog; do"; !strings.Contains(script, want) {
		t.Errorf("the catalog's user data does not read %s/catalog (want %q)", configPath, want)
	}
}
