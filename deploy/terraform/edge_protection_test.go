package terraform_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// webACLRules returns, for a web ACL block, its rules' managed rule group names and
// whether it has a rate-based rule whose limit is a variable, with the rate rule's
// aggregate key type.
func webACLRules(t *testing.T, acl block) (groups []string, rateVars []string, keyTypes []string) {
	t.Helper()
	hclsyntax.VisitAll(acl.Body, func(n hclsyntax.Node) hcl.Diagnostics {
		b, ok := n.(*hclsyntax.Block)
		if !ok {
			return nil
		}
		switch b.Type {
		case "managed_rule_group_statement":
			if name, ok := stringAttr(b.Body, "name"); ok {
				if v, _ := stringAttr(b.Body, "vendor_name"); v == "AWS" {
					groups = append(groups, name)
				}
			}
		case "rate_based_statement":
			if a, ok := b.Body.Attributes["limit"]; ok {
				rateVars = append(rateVars, references(a.Expr)...)
			}
			k, _ := stringAttr(b.Body, "aggregate_key_type")
			keyTypes = append(keyTypes, k)
		}
		return nil
	})
	return groups, rateVars, keyTypes
}

// TestWAFOnBothEntryPoints: a CloudFront web ACL (in us-east-1) on the media
// distribution and a regional one on the API's way in, each with AWS's managed rule
// groups and rate-based rules per client whose numbers are variables. The API is an
// HTTP API, with which WAF cannot be associated: the regional ACL sits on the internal
// load balancer every API request passes, and counts clients by the header API
// Gateway overwrites with the client's address.
func TestWAFOnBothEntryPoints(t *testing.T) {
	c := loadConfig(t)

	// The media CDN.
	cdn := c.onlyBlock(t, "modules/storage", "resource", "aws_wafv2_web_acl", "cdn")
	if s, _ := stringAttr(cdn.Body, "scope"); s != "CLOUDFRONT" {
		t.Errorf("%s: scope %q, want CLOUDFRONT", cdn.name(), s)
	}
	if r := references(attr(t, cdn, "provider")); !slices.Equal(r, []string{"aws.us_east_1"}) {
		t.Errorf("%s: provider %v, want aws.us_east_1 (CloudFront's web ACLs live there)", cdn.name(), r)
	}
	dist := c.onlyBlock(t, "modules/storage", "resource", "aws_cloudfront_distribution", "media")
	if r := references(attr(t, dist, "web_acl_id")); !slices.Equal(r, []string{"aws_wafv2_web_acl.cdn"}) {
		t.Errorf("%s: web_acl_id %v, want aws_wafv2_web_acl.cdn", dist.name(), r)
	}
	groups, rates, keys := webACLRules(t, cdn)
	for _, g := range []string{"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesAmazonIpReputationList"} {
		if !slices.Contains(groups, g) {
			t.Errorf("%s: no %s", cdn.name(), g)
		}
	}
	if !slices.Equal(rates, []string{"var.waf_rate_limit_per_ip"}) || !slices.Equal(keys, []string{"IP"}) {
		t.Errorf("%s: rate-based rules limited by %v keyed by %v, want one by var.waf_rate_limit_per_ip per IP", cdn.name(), rates, keys)
	}

	// The API.
	api := c.onlyBlock(t, "modules/api", "resource", "aws_apigatewayv2_api", "this")
	if p, _ := stringAttr(api.Body, "protocol_type"); p != "HTTP" {
		t.Fatalf("%s: protocol_type %q: this test and waf.tf assume an HTTP API (no WAF association); a REST API's stage takes the ACL directly", api.name(), p)
	}
	acl := c.onlyBlock(t, "modules/api", "resource", "aws_wafv2_web_acl", "api")
	if s, _ := stringAttr(acl.Body, "scope"); s != "REGIONAL" {
		t.Errorf("%s: scope %q, want REGIONAL", acl.name(), s)
	}
	assoc := c.onlyBlock(t, "modules/api", "resource", "aws_wafv2_web_acl_association", "api")
	if r := paths(attr(t, assoc, "resource_arn")); !slices.Equal(r, []string{"aws_lb.internal.arn"}) {
		t.Errorf("%s: resource_arn %v, want aws_lb.internal.arn", assoc.name(), r)
	}
	if r := paths(attr(t, assoc, "web_acl_arn")); !slices.Equal(r, []string{"aws_wafv2_web_acl.api.arn"}) {
		t.Errorf("%s: web_acl_arn %v, want aws_wafv2_web_acl.api.arn", assoc.name(), r)
	}
	// The load balancer is the API's only way in: the integration goes there, and it is
	// internal.
	lb := c.onlyBlock(t, "modules/api", "resource", "aws_lb", "internal")
	if internal, ok := boolAttr(lb.Body, "internal"); !ok || !internal {
		t.Errorf("%s: not internal: requests could reach the services without API Gateway's header", lb.name())
	}
	integ := c.onlyBlock(t, "modules/api", "resource", "aws_apigatewayv2_integration", "alb")
	if r := paths(attr(t, integ, "integration_uri")); !slices.Equal(r, []string{"aws_lb_listener.http.arn"}) {
		t.Errorf("%s: integration_uri %v, want the internal load balancer's listener", integ.name(), r)
	}
	groups, rates, keys = webACLRules(t, acl)
	for _, g := range []string{"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} {
		if !slices.Contains(groups, g) {
			t.Errorf("%s: no %s", acl.name(), g)
		}
	}
	if !slices.Equal(rates, []string{"var.waf_rate_limit_per_ip", "var.waf_write_rate_limit_per_ip"}) || !slices.Equal(keys, []string{"FORWARDED_IP", "FORWARDED_IP"}) {
		t.Errorf("%s: rate-based rules limited by %v keyed by %v, want the two variables by FORWARDED_IP", acl.name(), rates, keys)
	}
	// The header the rate rules count by is the one API Gateway overwrites with the
	// client's address (a client cannot choose it).
	header := eval(t, "local.client_ip_header", c.localExpr(t, "modules/api", "client_ip_header"), nil).AsString()
	var forwarded []string
	hclsyntax.VisitAll(acl.Body, func(n hclsyntax.Node) hcl.Diagnostics {
		if b, ok := n.(*hclsyntax.Block); ok && b.Type == "forwarded_ip_config" {
			if a, ok := b.Body.Attributes["header_name"]; ok {
				forwarded = append(forwarded, eval(t, "header_name", a.Expr, map[string]cty.Value{"local.client_ip_header": cty.StringVal(header)}).AsString())
			}
		}
		return nil
	})
	if len(forwarded) != 2 || forwarded[0] != header || forwarded[1] != header {
		t.Errorf("%s: rate rules count by headers %v, want %s twice", acl.name(), forwarded, header)
	}
	params := objectItemsOf(t, integ.name()+" request_parameters", attr(t, integ, "request_parameters"))
	found := false
	for _, it := range attr(t, integ, "request_parameters").(*hclsyntax.ObjectConsExpr).Items {
		k := eval(t, "request_parameters key", it.KeyExpr.(*hclsyntax.ObjectConsKeyExpr).Wrapped, map[string]cty.Value{"local.client_ip_header": cty.StringVal(header)}).AsString()
		v := eval(t, "request_parameters value", it.ValueExpr, nil).AsString()
		if k == "overwrite:header."+header && v == "$context.identity.sourceIp" {
			found = true
		}
	}
	if !found {
		t.Errorf("%s: request_parameters %v do not overwrite %s with $context.identity.sourceIp", integ.name(), params, header)
	}

	// The numbers reach the modules from the environment's variables.
	vf := "modules/videoforge"
	for mod, args := range map[string][]string{
		"api":     {"waf_rate_limit_per_ip=var.api_waf_rate_limit_per_ip", "waf_write_rate_limit_per_ip=var.api_waf_write_rate_limit_per_ip"},
		"storage": {"waf_rate_limit_per_ip=var.cdn_waf_rate_limit_per_ip"},
	} {
		m := c.onlyBlock(t, vf, "module", "", mod)
		for _, a := range args {
			name, want, _ := strings.Cut(a, "=")
			if r := references(attr(t, m, name)); !slices.Equal(r, []string{want}) {
				t.Errorf("%s: module %s's %s = %v, want %s", vf, mod, name, r, want)
			}
		}
	}
	env := c.onlyBlock(t, "environments/dev", "module", "", "videoforge")
	for _, v := range []string{"api_waf_rate_limit_per_ip", "api_waf_write_rate_limit_per_ip", "cdn_waf_rate_limit_per_ip"} {
		if r := references(attr(t, env, v)); !slices.Equal(r, []string{"var." + v}) {
			t.Errorf("environments/dev: module videoforge's %s = %v, want var.%s", v, r, v)
		}
	}
}

// TestCustomDomains: without a domain, the CDN keeps CloudFront's certificate and
// name and the API its execute-api endpoint; with one, the certificates (CloudFront's
// from us-east-1) validated through Route 53 when a zone is given, and PLAYBACK_BASE_URL
// follows the playback domain.
func TestCustomDomains(t *testing.T) {
	c := loadConfig(t)
	dist := c.onlyBlock(t, "modules/storage", "resource", "aws_cloudfront_distribution", "media")
	vc := nested(t, dist, "viewer_certificate")
	for _, tc := range []struct {
		custom bool
		want   map[string]cty.Value
	}{
		{false, map[string]cty.Value{"cloudfront_default_certificate": cty.True, "acm_certificate_arn": cty.NullVal(cty.String), "ssl_support_method": cty.NullVal(cty.String)}},
		{true, map[string]cty.Value{"cloudfront_default_certificate": cty.NullVal(cty.Bool), "acm_certificate_arn": cty.StringVal("arn:aws:acm:us-east-1:1:certificate/x"), "ssl_support_method": cty.StringVal("sni-only")}},
	} {
		certs := cty.ListValEmpty(cty.Object(map[string]cty.Type{"certificate_arn": cty.String}))
		if tc.custom {
			certs = cty.ListVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{"certificate_arn": cty.StringVal("arn:aws:acm:us-east-1:1:certificate/x")})})
		}
		vals := map[string]cty.Value{"local.custom_domain": cty.BoolVal(tc.custom), "aws_acm_certificate_validation.cdn": certs}
		for name, want := range tc.want {
			got, diags := attr(t, vc, name).Value(tfContextOne(vals))
			if diags.HasErrors() {
				t.Fatalf("viewer_certificate.%s: %s", name, diags.Error())
			}
			if !got.RawEquals(want) {
				t.Errorf("viewer_certificate.%s with a custom domain %v = %#v, want %#v", name, tc.custom, got, want)
			}
		}
	}
	aliases := eval(t, "aliases", attr(t, dist, "aliases"), map[string]cty.Value{"local.custom_domain": cty.False, "var.domain_name": cty.StringVal("")})
	if aliases.LengthInt() != 0 {
		t.Errorf("%s: aliases without a domain: %#v", dist.name(), aliases)
	}
	for _, mod := range []struct{ dir, cert string }{{"modules/storage", "cdn"}, {"modules/api", "api"}} {
		cert := c.onlyBlock(t, mod.dir, "resource", "aws_acm_certificate", mod.cert)
		val := c.onlyBlock(t, mod.dir, "resource", "aws_acm_certificate_validation", mod.cert)
		if mod.cert == "cdn" {
			for _, b := range []block{cert, val} {
				if r := references(attr(t, b, "provider")); !slices.Equal(r, []string{"aws.us_east_1"}) {
					t.Errorf("%s: provider %v, want aws.us_east_1 (CloudFront takes its certificates there)", b.name(), r)
				}
			}
		}
		if m, _ := stringAttr(cert.Body, "validation_method"); m != "DNS" {
			t.Errorf("%s: validation_method %q, want DNS", cert.name(), m)
		}
		rec := c.onlyBlock(t, mod.dir, "resource", "aws_route53_record", mod.cert+"_validation")
		if r := references(attr(t, rec, "zone_id")); !slices.Equal(r, []string{"var.route53_zone_id"}) {
			t.Errorf("%s: zone_id %v", rec.name(), r)
		}
		for _, zone := range []string{"", "Z1"} {
			for _, domain := range []string{"", "x.example.com"} {
				vals := map[string]cty.Value{"var.domain_name": cty.StringVal(domain), "var.route53_zone_id": cty.StringVal(zone)}
				vals["local.custom_domain"] = eval(t, "custom_domain", c.localExpr(t, mod.dir, "custom_domain"), vals)
				vals["local.in_zone"] = eval(t, "in_zone", c.localExpr(t, mod.dir, "in_zone"), vals)
				n := evalTF(t, rec.name()+" for_each", attr(t, rec, "for_each"), vals).LengthInt()
				want := 0
				if zone != "" && domain != "" {
					want = 1
				}
				if n != want {
					t.Errorf("%s: %d records with zone %q and domain %q, want %d", rec.name(), n, zone, domain, want)
				}
				cnt := eval(t, val.name()+" count", attr(t, val, "count"), vals)
				if got, _ := cnt.AsBigFloat().Int64(); (got == 1) != (domain != "") {
					t.Errorf("%s: count %d with domain %q", val.name(), got, domain)
				}
			}
		}
	}

	// PLAYBACK_BASE_URL is the storage module's, which follows its domain.
	out := c.onlyBlock(t, "modules/storage", "output", "", "playback_base_url")
	for domain, want := range map[string]string{"": "https://d111.cloudfront.net", "media.example.com": "https://media.example.com"} {
		got := eval(t, "playback_base_url", attr(t, out, "value"), map[string]cty.Value{
			"local.custom_domain": cty.BoolVal(domain != ""), "var.domain_name": cty.StringVal(domain),
			"aws_cloudfront_distribution.media.domain_name": cty.StringVal("d111.cloudfront.net"),
		}).AsString()
		if got != want {
			t.Errorf("playback_base_url with domain %q = %q, want %q", domain, got, want)
		}
	}
	common := objectItemsOf(t, "local.common_config", c.localExpr(t, "modules/videoforge", "common_config"))
	if r := paths(common["PLAYBACK_BASE_URL"]); !slices.Equal(r, []string{"module.storage.playback_base_url"}) {
		t.Errorf("PLAYBACK_BASE_URL = %v, want module.storage.playback_base_url", r)
	}
	st := c.onlyBlock(t, "modules/videoforge", "module", "", "storage")
	if r := references(attr(t, st, "domain_name")); !slices.Equal(r, []string{"var.playback_domain_name"}) {
		t.Errorf("module storage's domain_name = %v, want var.playback_domain_name", r)
	}
	ap := c.onlyBlock(t, "modules/videoforge", "module", "", "api")
	if r := references(attr(t, ap, "domain_name")); !slices.Equal(r, []string{"var.gallery_domain_name"}) {
		t.Errorf("module api's domain_name = %v, want var.gallery_domain_name", r)
	}
	// CORS: the given origins, and the site's custom one.
	for domain, want := range map[string][]string{"": {"http://localhost:3000"}, "videos.example.com": {"http://localhost:3000", "https://videos.example.com"}} {
		got := valueStrings(eval(t, "local.cors_origins", c.localExpr(t, "modules/videoforge", "cors_origins"), map[string]cty.Value{
			"var.cors_origins": stringList("http://localhost:3000"), "var.gallery_domain_name": cty.StringVal(domain),
		}))
		if !slices.Equal(got, want) {
			t.Errorf("local.cors_origins with gallery_domain_name %q = %v, want %v", domain, got, want)
		}
	}
	if r := references(common["CORS_ORIGINS"]); !slices.Contains(r, "local.cors_origins") {
		t.Errorf("CORS_ORIGINS = %v, want local.cors_origins", r)
	}
	// The CDN and the bucket also allow the site's own origins: its player fetches the
	// playlists and segments cross-origin.
	if r := references(attr(t, st, "cors_origins")); !slices.Contains(r, "local.cors_origins") || !slices.Contains(r, "local.site_origins") {
		t.Errorf("module storage's cors_origins = %v, want local.cors_origins and local.site_origins", r)
	}
}

// tfContextOne is tfContext with Terraform's one().
func tfContextOne(vals map[string]cty.Value) *hcl.EvalContext {
	ctx := tfContext(vals)
	ctx.Functions["one"] = tfOne
	return ctx
}

// tfOne is Terraform's one(): null for an empty list, its element for a list of one.
var tfOne = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.DynamicPseudoType}},
	Type: func(args []cty.Value) (cty.Type, error) {
		ty := args[0].Type()
		if ty.IsListType() || ty.IsSetType() {
			return ty.ElementType(), nil
		}
		if ty.IsTupleType() && len(ty.TupleElementTypes()) == 1 {
			return ty.TupleElementTypes()[0], nil
		}
		return cty.DynamicPseudoType, nil
	},
	Impl: func(args []cty.Value, ret cty.Type) (cty.Value, error) {
		if args[0].LengthInt() == 0 {
			return cty.NullVal(ret), nil
		}
		it := args[0].ElementIterator()
		it.Next()
		_, v := it.Element()
		return v, nil
	},
})

// evalTF is eval with tfContext's functions.
func evalTF(t *testing.T, what string, expr hclsyntax.Expression, vals map[string]cty.Value) cty.Value {
	t.Helper()
	v, diags := expr.Value(tfContextOne(vals))
	if diags.HasErrors() {
		t.Fatalf("%s: %s", what, diags.Error())
	}
	return v
}
