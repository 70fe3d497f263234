package terraform_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

type iamStatement struct {
	sid                string
	actions, resources []string // resources: constant strings and references (var.x, type.name)
}

// statements returns the Allow statements of data.aws_iam_policy_document.<doc> in
// dir, with those of the documents it names in source_policy_documents.
func statements(t *testing.T, c *config, dir, doc string) []iamStatement {
	t.Helper()
	var out []iamStatement
	found := false
	for _, b := range c.blocks("data", "aws_iam_policy_document") {
		if b.file.dir != dir || b.Labels[1] != doc {
			continue
		}
		found = true
		if a, ok := b.Body.Attributes["source_policy_documents"]; ok {
			for _, r := range references(a.Expr) {
				if name, ok := strings.CutPrefix(r, "data.aws_iam_policy_document."); ok && name != doc {
					out = append(out, statements(t, c, dir, name)...)
				}
			}
		}
		for _, st := range b.Body.Blocks {
			if st.Type != "statement" {
				continue
			}
			if effect, ok := stringAttr(st.Body, "effect"); ok && effect != "Allow" {
				continue
			}
			var s iamStatement
			s.sid, _ = stringAttr(st.Body, "sid")
			if a, ok := st.Body.Attributes["actions"]; ok {
				s.actions = constantStrings(a.Expr)
			}
			if a, ok := st.Body.Attributes["resources"]; ok {
				s.resources = append(constantStrings(a.Expr), references(a.Expr)...)
			}
			out = append(out, s)
		}
	}
	if !found {
		t.Fatalf("%s has no data.aws_iam_policy_document.%s", dir, doc)
	}
	return out
}

// localObject returns the items of local.name in dir, an object or merge({...}, ...).
func localObject(t *testing.T, c *config, dir, name string) map[string]hclsyntax.Expression {
	t.Helper()
	e, ok := c.local(dir, name)
	if !ok {
		t.Fatalf("%s has no local.%s", dir, name)
	}
	return objectOf(t, e, dir+": local."+name)
}

func objectOf(t *testing.T, e hclsyntax.Expression, what string) map[string]hclsyntax.Expression {
	t.Helper()
	if call, ok := e.(*hclsyntax.FunctionCallExpr); ok && call.Name == "merge" && len(call.Args) > 0 {
		e = call.Args[0]
	}
	obj, ok := e.(*hclsyntax.ObjectConsExpr)
	if !ok {
		t.Fatalf("%s is not an object (or merge of one with overrides)", what)
	}
	return objectItems(obj)
}

var relayActions = []string{
	"cloudfront-keyvaluestore:DescribeKeyValueStore",
	"cloudfront-keyvaluestore:GetKey",
	"cloudfront-keyvaluestore:PutKey",
	"cloudfront-keyvaluestore:DeleteKey",
	"cloudfront-keyvaluestore:UpdateKeys",
	"cloudfront-keyvaluestore:ListKeys",
}

// TestRelayMayRevoke: the role whose instances run the relay (in the catalog, or
// `videoforge relay` beside it) may keep the playback KeyValueStore's revocation
// entries and invalidate the distribution, with REVOCATION_KVS_ARN and
// REVOCATION_DISTRIBUTION_ID in its environment naming the same store and
// distribution the CloudFront Function uses; no other role may.
func TestRelayMayRevoke(t *testing.T) {
	c := loadConfig(t)

	// Which roles run the catalog or the relay, with the relay as an extra unit.
	unitsExpr, ok := c.local("modules/compute", "units")
	if !ok {
		t.Fatal("modules/compute has no local.units")
	}
	units, diags := unitsExpr.Value(&hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{
			"catalog_extra_roles": cty.ListVal([]cty.Value{cty.StringVal("relay")})})},
		Functions: map[string]function.Function{"concat": stdlib.ConcatFunc},
	})
	if diags.HasErrors() {
		t.Fatalf("local.units: %s", diags.Error())
	}
	relayRoles := map[string]bool{}
	for it := units.ElementIterator(); it.Next(); {
		k, v := it.Element()
		us := valueStrings(v)
		relayRoles[k.AsString()] = slices.Contains(us, "catalog") || slices.Contains(us, "relay")
	}
	if !relayRoles["catalog"] || len(relayRoles) != 3 {
		t.Fatalf("roles running the relay: %v, want the catalog's", relayRoles)
	}

	for role, runsRelay := range relayRoles {
		var kvs, inv bool
		for _, st := range statements(t, c, "modules/compute", role) {
			for _, a := range st.actions {
				if strings.HasPrefix(a, "cloudfront-keyvaluestore:") || strings.HasPrefix(a, "cloudfront:") {
					if !runsRelay {
						t.Errorf("role %s (no relay) may %s", role, a)
					}
				}
			}
			if runsRelay && slices.Equal(st.resources, []string{"var.revocation_kvs_arn"}) {
				for _, a := range relayActions {
					if !slices.Contains(st.actions, a) {
						t.Errorf("role %s may not %s on the revocation store", role, a)
					}
				}
				kvs = true
			}
			if runsRelay && slices.Contains(st.actions, "cloudfront:CreateInvalidation") {
				if !slices.Equal(st.resources, []string{"var.cdn_distribution_arn"}) {
					t.Errorf("role %s invalidates %v, want only var.cdn_distribution_arn", role, st.resources)
				}
				inv = true
			}
		}
		if runsRelay && !kvs {
			t.Errorf("role %s has no statement on var.revocation_kvs_arn alone", role)
		}
		if runsRelay && !inv {
			t.Errorf("role %s may not cloudfront:CreateInvalidation", role)
		}
	}

	// Wired to the store the function reads and the distribution it runs in.
	args := moduleArgs(t, c, "modules/videoforge", "compute")
	for arg, want := range map[string]string{
		"revocation_kvs_arn":   "module.storage.key_value_store_arn",
		"cdn_distribution_arn": "module.storage.cdn_distribution_arn",
	} {
		if args[arg] != want {
			t.Errorf("compute gets %s = %q, want %s", arg, args[arg], want)
		}
	}
	for out, want := range map[string]string{
		"key_value_store_arn":  "aws_cloudfront_key_value_store.playback.arn",
		"cdn_distribution_arn": "aws_cloudfront_distribution.media.arn",
		"cdn_distribution_id":  "aws_cloudfront_distribution.media.id",
	} {
		if got := strings.TrimSpace(outputText(t, c, "modules/storage", out)); got != want {
			t.Errorf("storage output %s = %s, want %s", out, got, want)
		}
	}
	if assoc := exprText(t, c, "modules/storage", "resource", "aws_cloudfront_function", "playback_token", "key_value_store_associations"); !strings.Contains(assoc, "aws_cloudfront_key_value_store.playback.arn") {
		t.Errorf("the token function reads another store: %s", assoc)
	}
	// The storage module takes nothing from compute or bus: no cycle through the roles.
	for arg, v := range moduleArgs(t, c, "modules/videoforge", "storage") {
		if strings.Contains(v, "module.") {
			t.Errorf("storage's %s = %s depends on another module", arg, v)
		}
	}

	// The environment of the relay's role.
	roleConfig := localObject(t, c, "modules/videoforge", "role_config")
	for role, runsRelay := range relayRoles {
		e, ok := roleConfig[role]
		if !ok {
			t.Fatalf("local.role_config has no %s", role)
		}
		env := objectOf(t, e, "local.role_config."+role)
		for name, want := range map[string]string{
			"REVOCATION_KVS_ARN":         "module.storage.key_value_store_arn",
			"REVOCATION_DISTRIBUTION_ID": "module.storage.cdn_distribution_id",
		} {
			v, ok := env[name]
			if !runsRelay {
				if ok {
					t.Errorf("role %s (no relay) gets %s", role, name)
				}
				continue
			}
			if !ok || srcText(t, v) != want {
				t.Errorf("role %s's %s is not %s", role, name, want)
			}
		}
	}
}

// TestEdgeTrustedProxies: the edge counts a client under the address API Gateway saw,
// 2 entries from the right of X-Forwarded-For: API Gateway (which sets the client's
// address) and the internal ALB (which appends API Gateway's VPC link address) are the
// two hops, and nothing else reaches the edge.
func TestEdgeTrustedProxies(t *testing.T) {
	c := loadConfig(t)
	env := objectOf(t, localObject(t, c, "modules/videoforge", "role_config")["edge"], "local.role_config.edge")
	v, ok := env["EDGE_TRUSTED_PROXIES"]
	if !ok {
		t.Fatal("the edge's environment has no EDGE_TRUSTED_PROXIES")
	}
	if cv, ok := constant(v); !ok || cv.Type() != cty.String || cv.AsString() != "2" {
		t.Errorf("EDGE_TRUSTED_PROXIES is not the literal \"2\"")
	}
	// Hop 1: API Gateway, through the VPC link to the internal ALB's listener.
	if ct := exprText(t, c, "modules/api", "resource", "aws_apigatewayv2_integration", "alb", "connection_type"); ct != `"VPC_LINK"` {
		t.Errorf("the API integration's connection_type is %s, want VPC_LINK", ct)
	}
	// Hop 2: the ALB, internal, appending to X-Forwarded-For.
	for _, lb := range c.blocks("resource", "aws_lb") {
		if internal, ok := boolAttr(lb.Body, "internal"); !ok || !internal {
			t.Errorf("%s is not internal: clients could reach it without API Gateway", lb.name())
		}
		if mode, _ := stringAttr(lb.Body, "xff_header_processing_mode"); mode != "append" {
			t.Errorf("%s: xff_header_processing_mode = %q, want \"append\" (one entry per hop)", lb.name(), mode)
		}
	}
	// Only the ALB reaches the role instances' ports.
	for _, r := range c.blocks("resource", "aws_vpc_security_group_ingress_rule") {
		if r.file.dir != "modules/compute" {
			continue
		}
		a, ok := r.Body.Attributes["referenced_security_group_id"]
		if !ok || !slices.Equal(references(a.Expr), []string{"var.alb_security_group_id"}) {
			t.Errorf("%s admits more than the load balancer", r.name())
		}
		if _, ok := r.Body.Attributes["cidr_ipv4"]; ok {
			t.Errorf("%s admits an address range", r.name())
		}
	}
	// CloudFront serves the bucket, not the edge: its origins are S3 only.
	for _, d := range c.blocks("resource", "aws_cloudfront_distribution") {
		for _, o := range d.Body.Blocks {
			if o.Type != "origin" {
				continue
			}
			if refs := references(o.Body.Attributes["domain_name"].Expr); len(refs) != 1 || !strings.HasPrefix(refs[0], "aws_s3_bucket.") {
				t.Errorf("%s has an origin other than the bucket (%v): revisit EDGE_TRUSTED_PROXIES", d.name(), refs)
			}
		}
	}
}
