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
	secrets := map[string]map[string]string{
		"edge":       {"DB_PASSWORD": "arn:aws:secretsmanager:eu-west-1:1:secret:db", "PLAYBACK_TOKEN_KEY": "arn:aws:secretsmanager:eu-west-1:1:secret:tk"},
		"catalog":    {"DB_PASSWORD": "arn:aws:secretsmanager:eu-west-1:1:secret:db", "PLAYBACK_TOKEN_KEY": "arn:aws:secretsmanager:eu-west-1:1:secret:tk"},
		"transcoder": {"DB_PASSWORD": "arn:aws:secretsmanager:eu-west-1:1:secret:db", "NATS_URL": "arn:aws:secretsmanager:eu-west-1:1:secret:nats-transcoder"},
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
			script := renderTemplate(t, "modules/compute/templates/user_data.sh.tftpl", map[string]cty.Value{
				"role":            cty.StringVal(role),
				"units":           cty.ListVal(units),
				"packages":        cty.StringVal("ffmpeg"),
				"region":          cty.StringVal("eu-west-1"),
				"config_path":     cty.StringVal("/videoforge-dev/config"),
				"secrets":         cty.MapVal(secretVals),
				"release_version": cty.StringVal("v1.2.3"),
				"release_url":     cty.StringVal("s3://b/releases/v1.2.3/videoforge-linux-arm64"),
			})
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
			if role == "edge" && strings.Contains(script, "videoforge@catalog") {
				t.Error("edge user data starts the catalog")
			}
		})
	}
	t.Run("nats", func(t *testing.T) {
		script := renderTemplate(t, "modules/bus/templates/nats.sh.tftpl", map[string]cty.Value{
			"server_name":   cty.StringVal("videoforge-dev-nats-0"),
			"cluster_name":  cty.StringVal("videoforge-dev"),
			"routes":        cty.StringVal(`"nats-route://10.40.128.10:6222", "nats-route://10.40.144.10:6222"`),
			"nats_version":  cty.StringVal("2.15.2"),
			"region":        cty.StringVal("eu-west-1"),
			"authorization": cty.StringVal("authorization { users = [] }"),
			"users":         cty.MapVal(map[string]cty.Value{"reader": cty.StringVal("arn:aws:secretsmanager:eu-west-1:1:secret:nats-reader")}),
		})
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
