package terraform_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// renderTemplate renders a Terraform template file as templatefile() does, with the
// few functions the templates use.
func renderTemplate(t *testing.T, path string, vars map[string]cty.Value) string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	expr, diags := hclsyntax.ParseTemplate(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse %s: %s", path, diags.Error())
	}
	ctx := &hcl.EvalContext{
		Variables: vars,
		Functions: map[string]function.Function{"lower": stdlib.LowerFunc, "upper": stdlib.UpperFunc},
	}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		t.Fatalf("render %s: %s", path, diags.Error())
	}
	return v.AsString()
}

// natsTemplateVars are the variables of the NATS node template as the bus module passes
// them, with overrides.
func natsTemplateVars(overrides map[string]cty.Value) map[string]cty.Value {
	vars := map[string]cty.Value{
		"server_name":   cty.StringVal("videoforge-dev-nats-0"),
		"node_ip":       cty.StringVal("10.40.128.10"),
		"cluster_name":  cty.StringVal("videoforge-dev"),
		"routes":        cty.StringVal(`"nats-route://10.40.128.10:6222", "nats-route://10.40.144.10:6222"`),
		"nats_version":  cty.StringVal("2.15.2"),
		"region":        cty.StringVal("eu-west-1"),
		"ca_secret_arn": cty.StringVal("arn:aws:secretsmanager:eu-west-1:1:secret:videoforge-dev/nats/ca"),
		"ca_cert_arn":   cty.StringVal("arn:aws:secretsmanager:eu-west-1:1:secret:videoforge-dev/nats/ca-cert"),
		"ca_version":    cty.StringVal("5b0f8a56-7d0c-5a3e-9d53-0f3f1c2a9e11"),
		"authorization": cty.StringVal("authorization { users = [] }"),
		"users":         cty.MapVal(map[string]cty.Value{"reader": cty.StringVal("arn:aws:secretsmanager:eu-west-1:1:secret:nats-reader")}),
		// Logs and health (the bus module's observability.tf); TestNATSUserDataShipsLogsAndHealth
		// renders them as the module does.
		"log_dir":              cty.StringVal("/var/log/nats"),
		"agent_config":         cty.StringVal(`{"logs":{"logs_collected":{"files":{"collect_list":[]}}}}`),
		"agent_install_script": cty.StringVal(mustReadFile("modules/cloudwatch_agent/install-cloudwatch-agent.sh")),
		"environment":          cty.StringVal("dev"),
		"metrics_namespace":    cty.StringVal("VideoForge/NATS"),
	}
	for k, v := range overrides {
		vars[k] = v
	}
	return vars
}

// mustReadFile returns the contents of path, or panics.
func mustReadFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// bashSyntax fails the test when bash -n rejects script, or a quoted here-document in
// it that is itself a script (ending in SCRIPT).
func bashSyntax(t *testing.T, name, script string) {
	t.Helper()
	check := func(label, s string) {
		t.Helper()
		p := filepath.Join(t.TempDir(), "script.sh")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("bash", "-n", p).CombinedOutput(); err != nil {
			t.Errorf("%s: bash -n: %v\n%s\n--- script ---\n%s", label, err, out, s)
		}
	}
	check(name, script)
	for _, m := range regexp.MustCompile(`(?s)<<'SCRIPT'\n(.*?)\nSCRIPT\n`).FindAllStringSubmatch(script, -1) {
		check(name+" (embedded script)", m[1])
	}
}

func TestUserDataRenders(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash not found: the user data scripts are checked with bash -n")
	}
	// The secrets of each role as the compute module's local.secrets has them.
	secretsExpr, ok := loadConfig(t).local("modules/compute", "secrets")
	if !ok {
		t.Fatal("modules/compute has no local.secrets")
	}
	sv, diags := secretsExpr.Value(&hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{
		"db_secret_arn":        cty.StringVal("arn:aws:secretsmanager:eu-west-1:1:secret:db"),
		"token_key_secret_arn": cty.StringVal("arn:aws:secretsmanager:eu-west-1:1:secret:tk"),
		"nats_ca_secret_arn":   cty.StringVal("arn:aws:secretsmanager:eu-west-1:1:secret:nats-ca-cert"),
		"nats_secret_arns": cty.MapVal(map[string]cty.Value{
			"edge":       cty.StringVal("arn:aws:secretsmanager:eu-west-1:1:secret:nats-reader"),
			"catalog":    cty.StringVal("arn:aws:secretsmanager:eu-west-1:1:secret:nats-catalog"),
			"transcoder": cty.StringVal("arn:aws:secretsmanager:eu-west-1:1:secret:nats-transcoder"),
		}),
	})}})
	if diags.HasErrors() {
		t.Fatalf("local.secrets: %s", diags.Error())
	}
	secrets := map[string]map[string]string{}
	for it := sv.ElementIterator(); it.Next(); {
		role, m := it.Element()
		secrets[role.AsString()] = map[string]string{}
		for it2 := m.ElementIterator(); it2.Next(); {
			k, v := it2.Element()
			secrets[role.AsString()][k.AsString()] = v.AsString()
		}
	}
	if len(secrets) != 3 {
		t.Fatalf("local.secrets has roles %v, want edge, catalog, transcoder", secrets)
	}
	for role, sec := range secrets {
		t.Run(role, func(t *testing.T) {
			secretVals := map[string]cty.Value{}
			for k, v := range sec {
				secretVals[k] = cty.StringVal(v)
			}
			units := []cty.Value{cty.StringVal(role)}
			if role == "catalog" {
				units = append(units, cty.StringVal("relay"))
			}
			script := renderTemplate(t, "modules/compute/templates/user_data.sh.tftpl", withAgentVars(t, role, map[string]cty.Value{
				"role":            cty.StringVal(role),
				"units":           cty.ListVal(units),
				"packages":        cty.StringVal("ffmpeg"),
				"region":          cty.StringVal("eu-west-1"),
				"config_path":     cty.StringVal("/videoforge-dev/config"),
				"secrets":         cty.MapVal(secretVals),
				"release_version": cty.StringVal("v1.2.3"),
				"release_url":     cty.StringVal("s3://b/releases/v1.2.3/videoforge-linux-arm64"),
			}))
			bashSyntax(t, role, script)
			for _, want := range []string{
				"ExecStart=/usr/local/bin/videoforge %i",
				"systemctl enable --now videoforge@" + role + ".service",
				"--path \"$path\"",
			} {
				if !strings.Contains(script, want) {
					t.Errorf("user data of %s lacks %q", role, want)
				}
			}
			for v := range sec {
				if want := v + "_FILE=$dir/" + strings.ToLower(v); !strings.Contains(script, want) {
					t.Errorf("user data of %s does not set %s", role, want)
				}
			}
			// Every role verifies the NATS nodes with the cluster CA (NATS_CA_FILE) and
			// reaches them by the tls:// URL of its user (NATS_URL_FILE).
			for _, v := range []string{"NATS_CA", "NATS_URL"} {
				if _, ok := sec[v]; !ok {
					t.Errorf("role %s gets no %s secret", role, v)
				}
			}
			if !strings.Contains(script, "NATS_CA_FILE=$dir/nats_ca") {
				t.Errorf("user data of %s does not set NATS_CA_FILE", role)
			}
			// A secret that is not there yet (the CA before the first NATS node booted)
			// is waited for, at boot and at every start.
			if !regexp.MustCompile(`(?s)for attempt in .*?if /usr/local/sbin/videoforge-config; then\s+break`).MatchString(script) {
				t.Errorf("user data of %s does not retry its first configuration", role)
			}
			if !strings.Contains(script, "StartLimitIntervalSec=0") {
				t.Errorf("user data of %s lets systemd give up restarting the service", role)
			}
			if role == "edge" && strings.Contains(script, "videoforge@catalog") {
				t.Error("edge user data starts the catalog")
			}
		})
	}
	t.Run("nats", func(t *testing.T) {
		script := renderTemplate(t, "modules/bus/templates/nats.sh.tftpl", natsTemplateVars(map[string]cty.Value{
			"authorization": cty.StringVal("authorization { users = [] }"),
			"users":         cty.MapVal(map[string]cty.Value{"reader": cty.StringVal("arn:aws:secretsmanager:eu-west-1:1:secret:nats-reader")}),
		}))
		bashSyntax(t, "nats", script)
		if !strings.Contains(script, "routes: [ \"nats-route://10.40.128.10:6222\"") {
			t.Errorf("nats config lacks its routes:\n%s", script)
		}
		// The README promises that an acknowledged write survives a crash.
		if !strings.Contains(script, "sync_interval: always") {
			t.Errorf("nats config does not sync every write:\n%s", script)
		}
	})
}
