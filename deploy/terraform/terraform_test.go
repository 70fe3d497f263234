// Package terraform_test checks the Terraform configuration of deploy/terraform without
// AWS: terraform fmt, and the safety properties read straight from the HCL (database
// not public and encrypted, buckets closed to the public, a dead-letter queue behind
// every queue, MFA required, no IAM statement allowing every action on every resource),
// the API Gateway routes against the routes the Go services register, the
// CloudFront Function's token check against the Go one, and what operators see and
// what guards the entry points: a log group with a retention per role, the CloudWatch
// agent's configuration against the units' log files and metrics, every alarm
// notifying the topic, the dashboard, AWS WAF on both entry points and the custom
// domains. `make tf-check` adds
// `terraform validate` per environment when the AWS provider is at hand.
package terraform_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// terraformBinary finds terraform or fails the test saying how to install it.
func terraformBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("terraform"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/local/bin/terraform"); err == nil {
		return "/usr/local/bin/terraform"
	}
	t.Fatal("terraform not found in PATH or /usr/local/bin: install Terraform >= 1.11 " +
		"(https://developer.hashicorp.com/terraform/install, e.g. unzip terraform_1.11.*_linux_amd64.zip " +
		"into /usr/local/bin) so that `terraform fmt -check` can run")
	return ""
}

func TestFmt(t *testing.T) {
	tf := terraformBinary(t)
	cmd := exec.Command(tf, "fmt", "-check", "-recursive", "-diff", ".")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("terraform fmt -check -recursive: %v (run `terraform fmt -recursive deploy/terraform`)\n%s", err, out.String())
	}
}

// config is every .tf file under modules/ and environments/, parsed.
type config struct {
	files []*tfFile
}

type tfFile struct {
	path string // relative to deploy/terraform
	dir  string // module directory, relative
	body *hclsyntax.Body
}

// block is a top-level resource or data block with the file it came from.
type block struct {
	file *tfFile
	*hclsyntax.Block
}

func (b block) name() string {
	return b.file.dir + ": " + b.Type + " " + strings.Join(b.Labels, ".")
}

func loadConfig(t *testing.T) *config {
	t.Helper()
	p := hclparse.NewParser()
	c := &config{}
	for _, root := range []string{"modules", "environments"} {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == ".terraform" {
				return filepath.SkipDir
			}
			if d.IsDir() || filepath.Ext(path) != ".tf" {
				return nil
			}
			f, diags := p.ParseHCLFile(path)
			if diags.HasErrors() {
				t.Fatalf("parse %s: %s", path, diags.Error())
			}
			c.files = append(c.files, &tfFile{path: path, dir: filepath.Dir(path), body: f.Body.(*hclsyntax.Body)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(c.files) == 0 {
		t.Fatal("no .tf files found under modules/ and environments/")
	}
	return c
}

// blocks returns the top-level blocks of kind ("resource" or "data") and type label.
func (c *config) blocks(kind, typ string) []block {
	var bs []block
	for _, f := range c.files {
		for _, b := range f.body.Blocks {
			if b.Type == kind && len(b.Labels) > 0 && b.Labels[0] == typ {
				bs = append(bs, block{f, b})
			}
		}
	}
	return bs
}

// local returns the expression of local.name in module dir.
func (c *config) local(dir, name string) (hclsyntax.Expression, bool) {
	for _, f := range c.files {
		if f.dir != dir {
			continue
		}
		for _, b := range f.body.Blocks {
			if b.Type != "locals" {
				continue
			}
			if a, ok := b.Body.Attributes[name]; ok {
				return a.Expr, true
			}
		}
	}
	return nil, false
}

// constant evaluates an expression that needs no variables.
func constant(expr hclsyntax.Expression) (cty.Value, bool) {
	v, diags := expr.Value(nil)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	return v, true
}

// boolAttr reports the constant value of a bool attribute, and whether it is one.
func boolAttr(body *hclsyntax.Body, name string) (value, ok bool) {
	a, found := body.Attributes[name]
	if !found {
		return false, false
	}
	v, ok := constant(a.Expr)
	if !ok || v.Type() != cty.Bool || v.IsNull() {
		return false, false
	}
	return v.True(), true
}

// stringAttr returns the constant value of a string attribute.
func stringAttr(body *hclsyntax.Body, name string) (string, bool) {
	a, found := body.Attributes[name]
	if !found {
		return "", false
	}
	v, ok := constant(a.Expr)
	if !ok || v.Type() != cty.String || v.IsNull() {
		return "", false
	}
	return v.AsString(), true
}

// references lists "type.name" (or "local.x", "var.y") for every reference in expr.
func references(expr hclsyntax.Expression) []string {
	var refs []string
	for _, tr := range expr.Variables() {
		parts := []string{tr.RootName()}
		for _, step := range tr[1:] {
			if a, ok := step.(hcl.TraverseAttr); ok {
				parts = append(parts, a.Name)
				if len(parts) == 2 {
					break
				}
			}
		}
		refs = append(refs, strings.Join(parts, "."))
	}
	return refs
}

// strings lists the constant strings of a list expression; elements that are not
// constant (references) are left out.
func constantStrings(expr hclsyntax.Expression) []string {
	if v, ok := constant(expr); ok {
		return valueStrings(v)
	}
	var out []string
	if tup, ok := expr.(*hclsyntax.TupleConsExpr); ok {
		for _, e := range tup.Exprs {
			if v, ok := constant(e); ok {
				out = append(out, valueStrings(v)...)
			}
		}
	}
	return out
}

func valueStrings(v cty.Value) []string {
	if v.IsNull() {
		return nil
	}
	if v.Type() == cty.String {
		return []string{v.AsString()}
	}
	if v.CanIterateElements() {
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, valueStrings(e)...)
		}
		return out
	}
	return nil
}

func TestDatabaseNotPublicAndEncrypted(t *testing.T) {
	c := loadConfig(t)
	dbs := c.blocks("resource", "aws_db_instance")
	if len(dbs) == 0 {
		t.Fatal("no aws_db_instance in the configuration")
	}
	for _, db := range dbs {
		if public, ok := boolAttr(db.Body, "publicly_accessible"); !ok || public {
			t.Errorf("%s: publicly_accessible must be the literal false", db.name())
		}
		if enc, ok := boolAttr(db.Body, "storage_encrypted"); !ok || !enc {
			t.Errorf("%s: storage_encrypted must be the literal true", db.name())
		}
	}
	for _, cl := range c.blocks("resource", "aws_rds_cluster") {
		if enc, ok := boolAttr(cl.Body, "storage_encrypted"); !ok || !enc {
			t.Errorf("%s: storage_encrypted must be the literal true", cl.name())
		}
	}
}

func TestBucketsBlockPublicAccess(t *testing.T) {
	c := loadConfig(t)
	buckets := c.blocks("resource", "aws_s3_bucket")
	if len(buckets) == 0 {
		t.Fatal("no aws_s3_bucket in the configuration")
	}
	// covered["dir: aws_s3_bucket.x"] is set by a public access block with all four
	// settings on, whose bucket (directly, or through its for_each and a local) is x.
	covered := map[string]bool{}
	for _, pab := range c.blocks("resource", "aws_s3_bucket_public_access_block") {
		for _, setting := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"} {
			if on, ok := boolAttr(pab.Body, setting); !ok || !on {
				t.Errorf("%s: %s must be the literal true", pab.name(), setting)
			}
		}
		var refs []string
		for _, attr := range []string{"bucket", "for_each"} {
			if a, ok := pab.Body.Attributes[attr]; ok {
				refs = append(refs, references(a.Expr)...)
			}
		}
		for i := 0; i < len(refs); i++ {
			if name, ok := strings.CutPrefix(refs[i], "local."); ok {
				if e, ok := c.local(pab.file.dir, name); ok {
					refs = append(refs, references(e)...)
				}
			}
		}
		for _, r := range refs {
			covered[pab.file.dir+": "+r] = true
		}
	}
	for _, b := range buckets {
		if !covered[b.file.dir+": aws_s3_bucket."+b.Labels[1]] {
			t.Errorf("%s: no aws_s3_bucket_public_access_block blocks all public access to it", b.name())
		}
	}
}

// jsonencodeObject returns the items of a jsonencode({...}) call by key.
func jsonencodeObject(expr hclsyntax.Expression) (map[string]hclsyntax.Expression, bool) {
	call, ok := expr.(*hclsyntax.FunctionCallExpr)
	if !ok || call.Name != "jsonencode" || len(call.Args) != 1 {
		return nil, false
	}
	obj, ok := call.Args[0].(*hclsyntax.ObjectConsExpr)
	if !ok {
		return nil, false
	}
	return objectItems(obj), true
}

func objectItems(obj *hclsyntax.ObjectConsExpr) map[string]hclsyntax.Expression {
	items := map[string]hclsyntax.Expression{}
	for _, it := range obj.Items {
		k, diags := it.KeyExpr.Value(nil)
		if diags.HasErrors() || k.Type() != cty.String {
			continue
		}
		items[k.AsString()] = it.ValueExpr
	}
	return items
}

func TestQueuesHaveDeadLetterQueues(t *testing.T) {
	c := loadConfig(t)
	queues := c.blocks("resource", "aws_sqs_queue")
	if len(queues) == 0 {
		t.Fatal("no aws_sqs_queue in the configuration")
	}
	// First find the dead-letter queues: the targets of some redrive policy.
	dlqs := map[string]bool{}
	for _, q := range queues {
		a, ok := q.Body.Attributes["redrive_policy"]
		if !ok {
			continue
		}
		items, ok := jsonencodeObject(a.Expr)
		if !ok {
			t.Errorf("%s: redrive_policy must be jsonencode({deadLetterTargetArn, maxReceiveCount})", q.name())
			continue
		}
		target, ok := items["deadLetterTargetArn"]
		if !ok {
			t.Errorf("%s: redrive_policy has no deadLetterTargetArn", q.name())
			continue
		}
		if _, ok := items["maxReceiveCount"]; !ok {
			t.Errorf("%s: redrive_policy has no maxReceiveCount", q.name())
		}
		found := false
		for _, r := range references(target) {
			if strings.HasPrefix(r, "aws_sqs_queue.") && r != "aws_sqs_queue."+q.Labels[1] {
				dlqs[q.file.dir+": "+r] = true
				found = true
			}
		}
		if !found {
			t.Errorf("%s: deadLetterTargetArn must reference another aws_sqs_queue of the module", q.name())
		}
	}
	for _, q := range queues {
		if _, ok := q.Body.Attributes["redrive_policy"]; ok {
			continue
		}
		if !dlqs[q.file.dir+": aws_sqs_queue."+q.Labels[1]] {
			t.Errorf("%s: neither has a redrive_policy to a dead-letter queue nor is one", q.name())
		}
	}
	for _, q := range queues {
		sse, ok := boolAttr(q.Body, "sqs_managed_sse_enabled")
		_, kms := q.Body.Attributes["kms_master_key_id"]
		if !(ok && sse) && !kms {
			t.Errorf("%s: not encrypted (sqs_managed_sse_enabled = true or kms_master_key_id)", q.name())
		}
	}
}

func TestCognitoRequiresMFA(t *testing.T) {
	c := loadConfig(t)
	pools := c.blocks("resource", "aws_cognito_user_pool")
	if len(pools) == 0 {
		t.Fatal("no aws_cognito_user_pool in the configuration")
	}
	for _, p := range pools {
		if mfa, _ := stringAttr(p.Body, "mfa_configuration"); mfa != "ON" {
			t.Errorf("%s: mfa_configuration = %q, want the literal \"ON\"", p.name(), mfa)
		}
		totp := false
		for _, b := range p.Body.Blocks {
			if b.Type == "software_token_mfa_configuration" {
				totp, _ = boolAttr(b.Body, "enabled")
			}
		}
		if !totp {
			t.Errorf("%s: software_token_mfa_configuration { enabled = true } missing: MFA ON needs TOTP", p.name())
		}
	}
}

// wildcardStatements returns a description of every IAM statement in body that allows
// the action "*" on the resource "*": statement blocks of aws_iam_policy_document data
// sources and jsonencode'd policy objects with Action and Resource.
func wildcardStatements(name string, body *hclsyntax.Body) []string {
	var bad []string
	isStar := func(ss []string) bool {
		return slices.Contains(ss, "*") || slices.Contains(ss, "*:*")
	}
	hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		switch n := n.(type) {
		case *hclsyntax.Block:
			if n.Type != "statement" {
				return nil
			}
			if effect, ok := stringAttr(n.Body, "effect"); ok && effect != "Allow" {
				return nil
			}
			var actions, resources []string
			if a, ok := n.Body.Attributes["actions"]; ok {
				actions = constantStrings(a.Expr)
			}
			if a, ok := n.Body.Attributes["resources"]; ok {
				resources = constantStrings(a.Expr)
			}
			if isStar(actions) && isStar(resources) {
				bad = append(bad, name+": statement at "+n.Range().String())
			}
		case *hclsyntax.ObjectConsExpr:
			items := objectItems(n)
			if e, ok := items["Effect"]; ok {
				if v, ok := constant(e); ok && v.Type() == cty.String && v.AsString() != "Allow" {
					return nil
				}
			}
			action, okA := items["Action"]
			resource, okR := items["Resource"]
			if okA && okR && isStar(constantStrings(action)) && isStar(constantStrings(resource)) {
				bad = append(bad, name+": policy object at "+n.Range().String())
			}
		}
		return nil
	})
	return bad
}

func TestNoIAMStatementAllowsEverything(t *testing.T) {
	c := loadConfig(t)
	statements := 0
	for _, f := range c.files {
		for _, bad := range wildcardStatements(f.path, f.body) {
			t.Errorf("%s allows \"*\" actions on \"*\" resources", bad)
		}
		hclsyntax.VisitAll(f.body, func(n hclsyntax.Node) hcl.Diagnostics {
			if b, ok := n.(*hclsyntax.Block); ok && b.Type == "statement" {
				statements++
			}
			return nil
		})
	}
	if statements == 0 {
		t.Fatal("no IAM statements found: the check would pass vacuously")
	}

	// The check itself catches both forms.
	for name, src := range map[string]string{
		"PolicyDocument": `data "aws_iam_policy_document" "x" {
  statement {
    actions   = ["*"]
    resources = ["*"]
  }
}`,
		"Jsonencode": `resource "aws_iam_role_policy" "x" {
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "*", Resource = ["*"] }]
  })
}`,
	} {
		t.Run("Catches"+name, func(t *testing.T) {
			f, diags := hclsyntax.ParseConfig([]byte(src), name+".tf", hcl.InitialPos)
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			if bad := wildcardStatements(name, f.Body.(*hclsyntax.Body)); len(bad) != 1 {
				t.Errorf("found %d wildcard statements in\n%s\nwant 1", len(bad), src)
			}
		})
	}
}

func TestVariablesAndOutputsAreDescribed(t *testing.T) {
	c := loadConfig(t)
	for _, f := range c.files {
		for _, b := range f.body.Blocks {
			if b.Type != "variable" && b.Type != "output" {
				continue
			}
			if d, _ := stringAttr(b.Body, "description"); d == "" {
				t.Errorf("%s: %s %q has no description", f.path, b.Type, b.Labels[0])
			}
		}
	}
}

func TestEnvironmentsDeclareBackend(t *testing.T) {
	c := loadConfig(t)
	envs := map[string]bool{}
	for _, f := range c.files {
		if !strings.HasPrefix(f.dir, "environments"+string(filepath.Separator)) {
			continue
		}
		for _, b := range f.body.Blocks {
			if b.Type != "terraform" {
				continue
			}
			for _, inner := range b.Body.Blocks {
				if inner.Type == "backend" {
					envs[filepath.Base(f.dir)] = true
				}
			}
		}
	}
	got := make([]string, 0, len(envs))
	for e := range envs {
		got = append(got, e)
	}
	sort.Strings(got)
	if !slices.Equal(got, []string{"dev", "prod"}) {
		t.Errorf("environments declaring a backend: %v, want [dev prod]", got)
	}
	for _, env := range []string{"dev", "prod"} {
		for _, file := range []string{"terraform.tfvars", "backend.hcl.example"} {
			if _, err := os.Stat(filepath.Join("environments", env, file)); err != nil {
				t.Errorf("environments/%s: %v", env, err)
			}
		}
	}
}
