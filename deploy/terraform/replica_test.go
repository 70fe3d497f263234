package terraform_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/zclconf/go-cty/cty"

	"github.com/videoforge/videoforge/stack"
)

// The read replicas: the database module makes read_replicas copies of the primary with
// its parameter group and security group, its read_url output names them all in one
// URL the catalog can parse (no password: it takes DB_PASSWORD's), and the videoforge
// module hands that URL to the catalog alone as DATABASE_READ_URL, an SSM parameter
// under <config_path>/catalog, only when there are replicas.

func TestReadReplicas(t *testing.T) {
	c := loadConfig(t)
	db := filepath.Join("modules", "database")
	vf := filepath.Join("modules", "videoforge")
	compute := filepath.Join("modules", "compute")

	primary := c.onlyBlock(t, db, "resource", "aws_db_instance", "this")
	replica := c.onlyBlock(t, db, "resource", "aws_db_instance", "replica")
	if refs := references(attr(t, replica, "count")); !slices.Equal(refs, []string{"var.read_replicas"}) {
		t.Errorf("%s: count must be var.read_replicas, got %v", replica.name(), refs)
	}
	if refs := paths(attr(t, replica, "replicate_source_db")); !slices.Equal(refs, []string{"aws_db_instance.this.identifier"}) {
		t.Errorf("%s: replicate_source_db must be the primary's identifier, got %v", replica.name(), refs)
	}
	for _, same := range []string{"parameter_group_name", "vpc_security_group_ids"} {
		got, want := paths(attr(t, replica, same)), paths(attr(t, primary, same))
		if !slices.Equal(got, want) {
			t.Errorf("%s: %s is %v, the primary's is %v: want the same", replica.name(), same, got, want)
		}
	}
	for _, own := range []string{"username", "password", "manage_master_user_password", "db_name", "db_subnet_group_name"} {
		if _, ok := replica.Body.Attributes[own]; ok {
			t.Errorf("%s: sets %s, which a same-region replica takes from its primary", replica.name(), own)
		}
	}
	if v, ok := boolAttr(replica.Body, "multi_az"); !ok || v {
		t.Errorf("%s: multi_az must be the literal false (the primary's standby is the failover)", replica.name())
	}
	// The primary must keep backups for RDS to make replicas: a precondition says so.
	pre := nested(t, replica, "lifecycle", "precondition")
	if refs := references(attr(t, pre, "condition")); !slices.Contains(refs, "var.backup_retention_days") {
		t.Errorf("%s: its precondition does not check the primary's backups", replica.name())
	}
	// hot_standby_feedback in the shared group: replay does not cancel listings.
	pg := c.onlyBlock(t, db, "resource", "aws_db_parameter_group", "this")
	feedback := false
	for _, p := range pg.Body.Blocks {
		if n, _ := stringAttr(p.Body, "name"); n == "hot_standby_feedback" {
			v, _ := stringAttr(p.Body, "value")
			feedback = v == "1"
		}
	}
	if !feedback {
		t.Errorf("%s: hot_standby_feedback is not 1", pg.name())
	}

	// read_url: "" without replicas, else every replica in one URL the catalog parses.
	hostsExpr := c.localExpr(t, db, "replica_hosts")
	out := c.onlyBlock(t, db, "output", "", "read_url")
	this := cty.ObjectVal(map[string]cty.Value{"username": cty.StringVal("videoforge"), "db_name": cty.StringVal("videoforge")})
	readURL := func(hosts ...string) string {
		rs := []cty.Value{}
		for _, h := range hosts {
			rs = append(rs, cty.ObjectVal(map[string]cty.Value{"address": cty.StringVal(h), "port": cty.NumberIntVal(5432)}))
		}
		list := cty.ListValEmpty(cty.Object(map[string]cty.Type{"address": cty.String, "port": cty.Number}))
		if len(rs) > 0 {
			list = cty.ListVal(rs)
		}
		hv := eval(t, "local.replica_hosts", hostsExpr, map[string]cty.Value{"aws_db_instance.replica": list})
		return eval(t, "output read_url", attr(t, out, "value"), map[string]cty.Value{
			"local.replica_hosts": hv, "aws_db_instance.this": this,
		}).AsString()
	}
	if got := readURL(); got != "" {
		t.Errorf("read_url without replicas = %q, want empty", got)
	}
	u := readURL("vf-replica-1.abc.eu-west-1.rds.amazonaws.com", "vf-replica-2.abc.eu-west-1.rds.amazonaws.com")
	cfg, err := pgconn.ParseConfig(u)
	if err != nil {
		t.Fatalf("read_url %q: %v", u, err)
	}
	if cfg.Host != "vf-replica-1.abc.eu-west-1.rds.amazonaws.com" || len(cfg.Fallbacks) != 1 || cfg.Fallbacks[0].Host != "vf-replica-2.abc.eu-west-1.rds.amazonaws.com" || cfg.User != "videoforge" || cfg.Database != "videoforge" || cfg.TLSConfig == nil {
		t.Errorf("read_url %q: host %s, %d fallbacks, user %s, database %s, TLS %v", u, cfg.Host, len(cfg.Fallbacks), cfg.User, cfg.Database, cfg.TLSConfig != nil)
	}
	if strings.Contains(u, ":@") || strings.Count(u, "@") != 1 || cfg.Password != os.Getenv("PGPASSWORD") {
		t.Errorf("read_url %q holds a password", u)
	}

	// The videoforge module: the count comes from its variable, the URL reaches the
	// catalog only, and only when there are replicas (an SSM parameter cannot be empty).
	call := c.onlyBlock(t, vf, "module", "", "database")
	if refs := references(attr(t, call, "read_replicas")); !slices.Equal(refs, []string{"var.db_read_replicas"}) {
		t.Errorf("%s: read_replicas must be var.db_read_replicas, got %v", call.name(), refs)
	}
	roles := objectItems(c.localExpr(t, vf, "role_config").(*hclsyntax.ObjectConsExpr))
	for role, e := range roles {
		if role != "catalog" && slices.ContainsFunc(paths(e), func(p string) bool { return strings.HasPrefix(p, "module.database.read_url") }) {
			t.Errorf("%s: role %s gets the read URL", vf, role)
		}
	}
	merge, ok := roles["catalog"].(*hclsyntax.FunctionCallExpr)
	if !ok || merge.Name != "merge" {
		t.Fatalf("%s: local.role_config.catalog is not a merge(...)", vf)
	}
	var readArg hclsyntax.Expression
	for _, a := range merge.Args {
		if slices.Contains(paths(a), "module.database.read_url") {
			readArg = a
		}
	}
	if readArg == nil {
		t.Fatalf("%s: the catalog's configuration does not take module.database.read_url", vf)
	}
	for _, n := range []int64{0, 1, 2} {
		got := eval(t, "the catalog's DATABASE_READ_URL", readArg, map[string]cty.Value{
			"var.db_read_replicas":     cty.NumberIntVal(n),
			"module.database.read_url": cty.UnknownVal(cty.String), // known after apply
		})
		// hasKey needs the key known while the replicas' address is not.
		if has := hasKey(got, "DATABASE_READ_URL"); has != (n > 0) || got.LengthInt() != min(int(n), 1) {
			t.Errorf("with %d replicas the catalog's read settings are %#v", n, got)
		}
	}
	// The key set is known before the replicas exist (for_each of the parameters).
	params := eval(t, "local.parameters", c.localExpr(t, compute, "parameters"), map[string]cty.Value{
		"var.common_config": cty.MapVal(map[string]cty.Value{"DB_HOST": cty.StringVal("primary")}),
		"var.role_config": cty.MapVal(map[string]cty.Value{
			"catalog": cty.MapVal(map[string]cty.Value{"DATABASE_READ_URL": cty.StringVal("postgres://videoforge@r:5432/videoforge?sslmode=require")}),
		}),
	})
	if !hasKey(params, "catalog/DATABASE_READ_URL") {
		t.Errorf("%s: local.parameters has no catalog/DATABASE_READ_URL", compute)
	}
	// The catalog has the primary's password file, which a read URL without one takes,
	// and the catalog command reads DATABASE_READ_URL.
	secrets := objectItems(c.localExpr(t, compute, "secrets").(*hclsyntax.ObjectConsExpr))
	if _, ok := objectItemsOf(t, "local.secrets.catalog", secrets["catalog"])["DB_PASSWORD"]; !ok {
		t.Errorf("%s: the catalog gets no DB_PASSWORD secret", compute)
	}
	if !slices.Contains(stack.Variables("catalog"), "DATABASE_READ_URL") {
		t.Errorf("the catalog command does not read DATABASE_READ_URL")
	}

	// The environments: dev none (the variable's default), prod one (its tfvars), and
	// main.tf passes the variable on.
	v := c.onlyBlock(t, filepath.Join("environments", "dev"), "variable", "", "db_read_replicas")
	if d, ok := constant(attr(t, v, "default")); !ok || !d.RawEquals(cty.NumberIntVal(0)) {
		t.Errorf("environments: db_read_replicas must default to 0")
	}
	for _, env := range []string{"dev", "prod"} {
		call := c.onlyBlock(t, filepath.Join("environments", env), "module", "", "videoforge")
		if refs := references(attr(t, call, "db_read_replicas")); !slices.Equal(refs, []string{"var.db_read_replicas"}) {
			t.Errorf("environments/%s: module videoforge's db_read_replicas must be var.db_read_replicas, got %v", env, refs)
		}
		f, diags := hclparse.NewParser().ParseHCLFile(filepath.Join("environments", env, "terraform.tfvars"))
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		want := map[string]int64{"dev": 0, "prod": 1}[env]
		got := int64(0)
		if a, ok := f.Body.(*hclsyntax.Body).Attributes["db_read_replicas"]; ok {
			val, ok := constant(a.Expr)
			if !ok {
				t.Fatalf("environments/%s: db_read_replicas is not a constant", env)
			}
			got, _ = val.AsBigFloat().Int64()
		}
		if got != want {
			t.Errorf("environments/%s: %d read replicas, want %d", env, got, want)
		}
	}
}
