package terraform_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/videoforge/videoforge/bus"
)

// natsRoles maps the cluster's users to the Go roles whose permissions they have.
var natsRoles = map[string]bus.Role{"catalog": bus.RoleCatalog, "transcoder": bus.RoleTranscoder, "reader": bus.RoleReader}

// natsLocals evaluates the bus module's user list and permissions.
func natsLocals(t *testing.T, c *config) (users []string, perms cty.Value) {
	t.Helper()
	ue, ok := c.local("modules/bus", "nats_users")
	if !ok {
		t.Fatal("modules/bus declares no local.nats_users")
	}
	pe, ok := c.local("modules/bus", "nats_permissions")
	if !ok {
		t.Fatal("modules/bus declares no local.nats_permissions")
	}
	uv, ok := constant(ue)
	if !ok {
		t.Fatal("local.nats_users is not a constant")
	}
	pv, ok := constant(pe)
	if !ok {
		t.Fatal("local.nats_permissions is not a constant")
	}
	return valueStrings(uv), pv
}

// TestNATSPermissionsMatchGo: the cluster's users may do exactly what bus.Permissions
// allows their roles, which the bus package's tests try against a real server.
func TestNATSPermissionsMatchGo(t *testing.T) {
	users, perms := natsLocals(t, loadConfig(t))
	if !slices.Equal(slices.Sorted(slices.Values(users)), []string{"catalog", "reader", "transcoder"}) {
		t.Fatalf("NATS users %v, want catalog, reader and transcoder", users)
	}
	for _, u := range users {
		want := bus.Permissions(natsRoles[u])
		p := perms.GetAttr(u)
		if got := valueStrings(p.GetAttr("publish")); !slices.Equal(got, want.Publish.Allow) {
			t.Errorf("%s may publish %q, Go says %q", u, got, want.Publish.Allow)
		}
		if got := valueStrings(p.GetAttr("subscribe")); !slices.Equal(got, want.Subscribe.Allow) {
			t.Errorf("%s may subscribe %q, Go says %q", u, got, want.Subscribe.Allow)
		}
	}
}

// TestNATSConfigRequiresUsers renders a node's user data, and reads the nats-server
// configuration it writes with nats-server's own parser: every user is there with
// its password from the environment systemd fills, and the permissions of its role.
func TestNATSConfigRequiresUsers(t *testing.T) {
	c := loadConfig(t)
	users, perms := natsLocals(t, c)
	authExpr, ok := c.local("modules/bus", "nats_authorization")
	if !ok {
		t.Fatal("modules/bus declares no local.nats_authorization")
	}
	userVals := make([]cty.Value, len(users))
	arns := map[string]cty.Value{}
	for i, u := range users {
		userVals[i] = cty.StringVal(u)
		arns[u] = cty.StringVal("arn:aws:secretsmanager:eu-west-1:1:secret:nats-" + u)
	}
	auth, diags := authExpr.Value(&hcl.EvalContext{
		Variables: map[string]cty.Value{"local": cty.ObjectVal(map[string]cty.Value{
			"nats_users": cty.ListVal(userVals), "nats_permissions": perms})},
		Functions: map[string]function.Function{"join": stdlib.JoinFunc, "concat": stdlib.ConcatFunc,
			"format": stdlib.FormatFunc, "upper": stdlib.UpperFunc},
	})
	if diags.HasErrors() {
		t.Fatalf("local.nats_authorization: %s", diags.Error())
	}
	script := renderTemplate(t, "modules/bus/templates/nats.sh.tftpl", natsTemplateVars(map[string]cty.Value{
		"authorization": auth,
		"users":         cty.MapVal(arns),
	}))
	bashSyntax(t, "nats", script)
	m := regexp.MustCompile(`(?s)cat > /etc/nats-server.conf <<'CONF'\n(.*?)\nCONF\n`).FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("the user data writes no /etc/nats-server.conf from a quoted here-document:\n%s", script)
	}
	for _, u := range users {
		env := "NATS_PASSWORD_" + strings.ToUpper(u)
		if !strings.Contains(script, "printf '"+env+"=%s\\n'") || !strings.Contains(script, `--secret-id "arn:aws:secretsmanager:eu-west-1:1:secret:nats-`+u+`"`) {
			t.Errorf("the user data does not set %s from %s's secret", env, u)
		}
		t.Setenv(env, "pw-"+u)
	}
	if !strings.Contains(script, "EnvironmentFile=/etc/nats-server.env") {
		t.Error("the nats-server unit does not read the passwords' environment file")
	}
	conf := m[1]
	// The store folder of the node does not exist here.
	conf = strings.Replace(conf, "store_dir: /var/lib/nats/jetstream", "store_dir: "+t.TempDir(), 1)
	// Nor do its certificates: ones made here, in the same places.
	conf = strings.ReplaceAll(conf, "/etc/nats-tls/", goTLSDir(t)+"/")
	path := filepath.Join(t.TempDir(), "nats-server.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server rejects the configuration: %v\n%s", err, conf)
	}
	if len(opts.Users) != len(users) || opts.NoAuthUser != "" {
		t.Fatalf("configuration has %d users (no_auth_user %q), want %d", len(opts.Users), opts.NoAuthUser, len(users))
	}
	for _, su := range opts.Users {
		role, ok := natsRoles[su.Username]
		if !ok {
			t.Errorf("unknown user %s", su.Username)
			continue
		}
		if su.Password != "pw-"+su.Username {
			t.Errorf("%s's password is %q, not the one from its environment variable", su.Username, su.Password)
		}
		want := bus.Permissions(role)
		if su.Permissions == nil || su.Permissions.Publish == nil || su.Permissions.Subscribe == nil {
			t.Errorf("%s has no permissions", su.Username)
			continue
		}
		if !slices.Equal(su.Permissions.Publish.Allow, want.Publish.Allow) || len(su.Permissions.Publish.Deny) > 0 {
			t.Errorf("%s may publish %q, want %q", su.Username, su.Permissions.Publish.Allow, want.Publish.Allow)
		}
		if !slices.Equal(su.Permissions.Subscribe.Allow, want.Subscribe.Allow) || len(su.Permissions.Subscribe.Deny) > 0 {
			t.Errorf("%s may subscribe %q, want %q", su.Username, su.Permissions.Subscribe.Allow, want.Subscribe.Allow)
		}
	}
}
