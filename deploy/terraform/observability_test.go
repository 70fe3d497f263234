package terraform_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
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
)

// tfToSet is Terraform's toset() for the lists of strings the modules pass it.
var tfToSet = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType}},
	Type:   function.StaticReturnType(cty.Set(cty.String)),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		var vs []cty.Value
		for it := args[0].ElementIterator(); it.Next(); {
			_, v := it.Element()
			vs = append(vs, v)
		}
		if len(vs) == 0 {
			return cty.SetValEmpty(cty.String), nil
		}
		return cty.SetVal(vs), nil
	},
})

// tfContext is evalContext (dotted names such as "var.name" or
// "aws_cloudwatch_log_group.unit") with more of Terraform's functions: those the
// observability locals and the template variables call.
func tfContext(vals map[string]cty.Value) *hcl.EvalContext {
	ctx := evalContext(vals)
	for name, f := range map[string]function.Function{
		"jsonencode": stdlib.JSONEncodeFunc, "contains": stdlib.ContainsFunc, "keys": stdlib.KeysFunc,
		"values": stdlib.ValuesFunc, "flatten": stdlib.FlattenFunc, "toset": tfToSet,
		"lower": stdlib.LowerFunc, "upper": stdlib.UpperFunc, "tostring": stdlib.MakeToFunc(cty.String),
		"format": stdlib.FormatFunc,
	} {
		ctx.Functions[name] = f
	}
	return ctx
}

// varDefaults returns "var.<name>" → default for every variable of module dir that has
// one.
func varDefaults(t *testing.T, c *config, dir string) map[string]cty.Value {
	t.Helper()
	out := map[string]cty.Value{}
	for _, f := range c.files {
		if f.dir != dir {
			continue
		}
		for _, b := range f.body.Blocks {
			if b.Type != "variable" {
				continue
			}
			if a, ok := b.Body.Attributes["default"]; ok {
				v, diags := a.Expr.Value(tfContext(nil))
				if diags.HasErrors() {
					t.Fatalf("%s: default of var.%s: %s", dir, b.Labels[0], diags.Error())
				}
				out["var."+b.Labels[0]] = v
			}
		}
	}
	return out
}

// moduleLocals evaluates every local of module dir that vals (and the other locals)
// suffice for, as Terraform would; locals that need more are left out.
func moduleLocals(c *config, dir string, vals map[string]cty.Value) map[string]cty.Value {
	pending := map[string]hclsyntax.Expression{}
	for _, f := range c.files {
		if f.dir != dir {
			continue
		}
		for _, b := range f.body.Blocks {
			if b.Type == "locals" {
				for name, a := range b.Body.Attributes {
					pending[name] = a.Expr
				}
			}
		}
	}
	known := map[string]cty.Value{}
	for progress := true; progress; {
		progress = false
		for name, expr := range pending {
			all := maps.Clone(vals)
			for k, v := range known {
				all["local."+k] = v
			}
			v, diags := expr.Value(tfContext(all))
			if diags.HasErrors() || !v.IsWhollyKnown() {
				continue
			}
			known[name] = v
			delete(pending, name)
			progress = true
		}
	}
	return known
}

// templateArgs returns the path expression and the variables object of the
// templatefile(...) call in expr (wrapped in base64encode or not).
func templateArgs(t *testing.T, what string, expr hclsyntax.Expression) (hclsyntax.Expression, map[string]hclsyntax.Expression) {
	t.Helper()
	call, ok := expr.(*hclsyntax.FunctionCallExpr)
	if ok && (call.Name == "base64encode" || call.Name == "base64gzip") && len(call.Args) == 1 {
		call, ok = call.Args[0].(*hclsyntax.FunctionCallExpr)
	}
	if !ok || call.Name != "templatefile" || len(call.Args) != 2 {
		t.Fatalf("%s: user_data is not templatefile(...) (or base64encode of it)", what)
	}
	return call.Args[0], objectItemsOf(t, what+" template variables", call.Args[1])
}

const (
	testName        = "videoforge-dev"
	testEnvironment = "dev"
	testRegion      = "eu-west-1"
)

// computeVals are the values the compute module's observability locals and launch
// template read: its variables (defaults, and the required ones), its region and its
// log groups as Terraform would name them.
func computeVals(t *testing.T, c *config, extraRoles []string) map[string]cty.Value {
	t.Helper()
	vals := varDefaults(t, c, "modules/compute")
	extra := cty.ListValEmpty(cty.String)
	if len(extraRoles) > 0 {
		extra = stringList(extraRoles...)
	}
	maps.Copy(vals, map[string]cty.Value{
		"var.name":                  cty.StringVal(testName),
		"var.environment":           cty.StringVal(testEnvironment),
		"var.catalog_extra_roles":   extra,
		"var.release_version":       cty.StringVal("v1.2.3"),
		"var.artifacts_bucket_name": cty.StringVal("videoforge-dev-artifacts"),
		"var.db_secret_arn":         cty.StringVal("arn:aws:secretsmanager:eu-west-1:1:secret:db"),
		"var.token_key_secret_arn":  cty.StringVal("arn:aws:secretsmanager:eu-west-1:1:secret:tk"),
		"var.nats_ca_secret_arn":    cty.StringVal("arn:aws:secretsmanager:eu-west-1:1:secret:nats-ca-cert"),
		"var.nats_secret_arns": cty.MapVal(map[string]cty.Value{
			"edge":       cty.StringVal("arn:aws:secretsmanager:eu-west-1:1:secret:nats-reader"),
			"catalog":    cty.StringVal("arn:aws:secretsmanager:eu-west-1:1:secret:nats-catalog"),
			"transcoder": cty.StringVal("arn:aws:secretsmanager:eu-west-1:1:secret:nats-transcoder"),
		}),
		"data.aws_region.current.region":         cty.StringVal(testRegion),
		"path.module":                            cty.StringVal("modules/compute"),
		"module.cloudwatch_agent.install_script": cty.StringVal(agentInstallScript(t)),
	})
	units := moduleLocals(c, "modules/compute", vals)["unit_roles"]
	if units == cty.NilVal {
		t.Fatal("modules/compute: local.unit_roles does not evaluate")
	}
	groups := map[string]cty.Value{}
	lg := c.onlyBlock(t, "modules/compute", "resource", "aws_cloudwatch_log_group", "unit")
	for it := units.ElementIterator(); it.Next(); {
		k, _ := it.Element()
		name := eval(t, lg.name(), attr(t, lg, "name"), map[string]cty.Value{"var.name": vals["var.name"], "each.key": k})
		groups[k.AsString()] = cty.ObjectVal(map[string]cty.Value{"name": name, "arn": cty.StringVal("arn:aws:logs:eu-west-1:1:log-group:" + name.AsString())})
	}
	vals["aws_cloudwatch_log_group.unit"] = cty.ObjectVal(groups)
	mg := c.onlyBlock(t, "modules/compute", "resource", "aws_cloudwatch_log_group", "metrics")
	mname := eval(t, mg.name(), attr(t, mg, "name"), map[string]cty.Value{"var.name": vals["var.name"]})
	vals["aws_cloudwatch_log_group.metrics"] = cty.ObjectVal(map[string]cty.Value{"name": mname, "arn": cty.StringVal("arn:aws:logs:eu-west-1:1:log-group:" + mname.AsString())})
	return vals
}

func agentInstallScript(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("modules/cloudwatch_agent/install-cloudwatch-agent.sh")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// computeTemplateVars evaluates the variables the compute module's launch template
// passes to templatefile for role, as Terraform would.
func computeTemplateVars(t *testing.T, c *config, role string, extraRoles []string) map[string]cty.Value {
	t.Helper()
	vals := computeVals(t, c, extraRoles)
	for k, v := range moduleLocals(c, "modules/compute", vals) {
		vals["local."+k] = v
	}
	vals["each.key"] = cty.StringVal(role)
	lt := c.onlyBlock(t, "modules/compute", "resource", "aws_launch_template", "role")
	_, args := templateArgs(t, lt.name(), attr(t, lt, "user_data"))
	out := map[string]cty.Value{}
	for k, e := range args {
		v, diags := e.Value(tfContext(vals))
		if diags.HasErrors() {
			t.Fatalf("%s: template variable %s: %s", lt.name(), k, diags.Error())
		}
		out[k] = v
	}
	return out
}

// withAgentVars adds to vars the compute template's variables it lacks, as the launch
// template passes them for role.
func withAgentVars(t *testing.T, role string, vars map[string]cty.Value) map[string]cty.Value {
	t.Helper()
	for k, v := range computeTemplateVars(t, loadConfig(t), role, nil) {
		if _, ok := vars[k]; !ok {
			vars[k] = v
		}
	}
	return vars
}

// heredocs returns the bodies of the quoted here-documents `cat > PATH <<'MARK'` in
// script, by PATH.
func heredocs(script, mark string) map[string]string {
	out := map[string]string{}
	re := regexp.MustCompile(`(?s)cat > (\S+) <<'` + mark + `'\n(.*?)\n` + mark + `\n`)
	for _, m := range re.FindAllStringSubmatch(script, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// agentConfig is the part of amazon-cloudwatch-agent.json the tests read.
type agentConfig struct {
	Agent struct {
		Region string `json:"region"`
	} `json:"agent"`
	Logs struct {
		LogsCollected struct {
			Files struct {
				CollectList []struct {
					FilePath      string `json:"file_path"`
					LogGroupName  string `json:"log_group_name"`
					LogStreamName string `json:"log_stream_name"`
				} `json:"collect_list"`
			} `json:"files"`
			Prometheus *struct {
				LogGroupName         string `json:"log_group_name"`
				PrometheusConfigPath string `json:"prometheus_config_path"`
				EMFProcessor         struct {
					MetricNamespace   string `json:"metric_namespace"`
					MetricDeclaration []struct {
						SourceLabels    []string   `json:"source_labels"`
						LabelMatcher    string     `json:"label_matcher"`
						Dimensions      [][]string `json:"dimensions"`
						MetricSelectors []string   `json:"metric_selectors"`
					} `json:"metric_declaration"`
				} `json:"emf_processor"`
			} `json:"prometheus"`
		} `json:"logs_collected"`
	} `json:"logs"`
	Traces *struct {
		TracesCollected struct {
			OTLP struct {
				GRPCEndpoint string `json:"grpc_endpoint"`
				HTTPEndpoint string `json:"http_endpoint"`
			} `json:"otlp"`
		} `json:"traces_collected"`
	} `json:"traces"`
}

type prometheusConfig struct {
	ScrapeConfigs []struct {
		JobName       string `json:"job_name"`
		MetricsPath   string `json:"metrics_path"`
		StaticConfigs []struct {
			Targets []string          `json:"targets"`
			Labels  map[string]string `json:"labels"`
		} `json:"static_configs"`
	} `json:"scrape_configs"`
}

const (
	agentConfigPath = "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"
	agentPromPath   = "/opt/aws/amazon-cloudwatch-agent/etc/prometheus.yaml"
)

// readAgentConfig extracts the agent's configuration from a rendered user data script,
// checks it is JSON and that the agent is started with it.
func readAgentConfig(t *testing.T, name, script string) (agentConfig, map[string]string) {
	t.Helper()
	docs := heredocs(script, "CWAGENT")
	raw, ok := docs[agentConfigPath]
	if !ok {
		t.Fatalf("%s: the user data writes no %s (found %v)", name, agentConfigPath, slices.Sorted(maps.Keys(docs)))
	}
	var cfg agentConfig
	dec := json.NewDecoder(strings.NewReader(raw))
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("%s: %s is not JSON: %v\n%s", name, agentConfigPath, err, raw)
	}
	if !strings.Contains(script, "amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s") ||
		!strings.Contains(script, "-c file:"+agentConfigPath) {
		t.Errorf("%s: the agent is not started with %s", name, agentConfigPath)
	}
	if !strings.Contains(script, "/usr/local/sbin/install-cloudwatch-agent") {
		t.Errorf("%s: the user data does not install the agent", name)
	}
	return cfg, docs
}

// appendedLogs returns the files systemd appends a unit's output to, with %i replaced
// by instance, and whether both stdout and stderr go there.
func appendedLogs(t *testing.T, name, unit, instance string) string {
	t.Helper()
	out := regexp.MustCompile(`(?m)^StandardOutput=append:(\S+)$`).FindStringSubmatch(unit)
	errs := regexp.MustCompile(`(?m)^StandardError=append:(\S+)$`).FindStringSubmatch(unit)
	if out == nil || errs == nil || out[1] != errs[1] {
		t.Fatalf("%s: the unit does not append stdout and stderr to one file:\n%s", name, unit)
	}
	return strings.ReplaceAll(out[1], "%i", instance)
}

// goMetricNames lists the Prometheus metric names the Go code registers.
func goMetricNames(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`Name:\s*"(videoforge_[a-z0-9_]+)"`)
	seen := map[string]bool{}
	for _, dir := range []string{"catalog", "edge", "transcoder", "stack"} {
		err := filepath.WalkDir(filepath.Join("..", "..", dir), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				seen[m[1]] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) < 10 {
		t.Fatalf("found only %d Prometheus metric names in the Go code: the check would mean nothing", len(seen))
	}
	return slices.Sorted(maps.Keys(seen))
}

// goSourceContains reports whether some Go file of the module (outside deploy) holds s.
func goSourceContains(t *testing.T, s string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(filepath.Join("..", ".."), func(p string, d os.DirEntry, err error) error {
		if err != nil || found {
			return err
		}
		if d.IsDir() && (d.Name() == "deploy" || d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		found = strings.Contains(string(b), s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestServiceUserDataShipsLogsMetricsTraces renders each role's user data as the
// launch template does (with a relay as its own unit on the catalog) and checks what
// the CloudWatch agent is told against what the units do: JSON, one log file per unit
// shipped to that unit's log group, the metrics the units serve scraped with the
// environment and role, and the OTLP endpoint the units export to.
func TestServiceUserDataShipsLogsMetricsTraces(t *testing.T) {
	c := loadConfig(t)
	goMetrics := goMetricNames(t)
	for _, role := range []string{"catalog", "edge", "transcoder"} {
		t.Run(role, func(t *testing.T) {
			vars := computeTemplateVars(t, c, role, []string{"relay"})
			script := renderTemplate(t, "modules/compute/templates/user_data.sh.tftpl", vars)
			bashSyntax(t, role, script)
			cfg, docs := readAgentConfig(t, role, script)

			unit := heredocs(script, "UNIT")["/etc/systemd/system/videoforge@.service"]
			if unit == "" {
				t.Fatal("no videoforge@.service in the user data")
			}
			var units []string
			for _, m := range regexp.MustCompile(`systemctl enable --now videoforge@(\S+)\.service`).FindAllStringSubmatch(script, -1) {
				units = append(units, m[1])
			}
			want := map[string]string{} // log file → log group
			for _, u := range units {
				want[appendedLogs(t, role, unit, u)] = "/" + testName + "/" + u
			}
			got := map[string]string{}
			for _, f := range cfg.Logs.LogsCollected.Files.CollectList {
				got[f.FilePath] = f.LogGroupName
				if f.LogStreamName != "{instance_id}" {
					t.Errorf("%s goes to stream %q, want one stream per instance ({instance_id})", f.FilePath, f.LogStreamName)
				}
			}
			if !maps.Equal(got, want) {
				t.Errorf("the agent ships %v, want the units' files to their groups %v", got, want)
			}
			if role == "catalog" && !slices.Contains(units, "relay") {
				t.Errorf("catalog_extra_roles = [relay] starts units %v", units)
			}
			if cfg.Agent.Region != testRegion {
				t.Errorf("agent region %q, want %q", cfg.Agent.Region, testRegion)
			}

			// The units log JSON and export traces to the agent.
			for _, line := range []string{
				"Environment=LOG_FORMAT=json",
				"Environment=OTEL_SERVICE_NAME=videoforge-%i",
				"Environment=OTEL_RESOURCE_ATTRIBUTES=deployment.environment=" + testEnvironment,
			} {
				if !strings.Contains(unit, line+"\n") {
					t.Errorf("videoforge@.service lacks %s", line)
				}
			}
			// EnvironmentFile (SSM) comes after the defaults, so that it wins.
			if strings.Index(unit, "EnvironmentFile=") < strings.Index(unit, "Environment=LOG_FORMAT") {
				t.Error("videoforge@.service reads its EnvironmentFile before the defaults: SSM could not override them")
			}
			m := regexp.MustCompile(`(?m)^Environment=OTEL_EXPORTER_OTLP_ENDPOINT=http://(\S+)$`).FindStringSubmatch(unit)
			if m == nil {
				t.Fatal("videoforge@.service sets no OTEL_EXPORTER_OTLP_ENDPOINT=http://...")
			}
			if cfg.Traces == nil || cfg.Traces.TracesCollected.OTLP.HTTPEndpoint != m[1] {
				t.Errorf("the agent's OTLP HTTP receiver is not at %s, where the units export: %+v", m[1], cfg.Traces)
			}

			// Prometheus: the agent scrapes each unit of this role where it serves
			// /metrics, labelled environment and role, and keeps metrics the Go code has.
			p := cfg.Logs.LogsCollected.Prometheus
			if p == nil {
				t.Fatal("the agent collects no Prometheus metrics")
			}
			raw, ok := docs[p.PrometheusConfigPath]
			if !ok {
				t.Fatalf("the agent reads %s, which the user data does not write", p.PrometheusConfigPath)
			}
			var prom prometheusConfig
			if err := json.Unmarshal([]byte(raw), &prom); err != nil {
				t.Fatalf("%s is not JSON (YAML): %v\n%s", p.PrometheusConfigPath, err, raw)
			}
			targets := map[string]string{}
			for _, sc := range prom.ScrapeConfigs {
				if sc.MetricsPath != "/metrics" {
					t.Errorf("job %s scrapes %s, want /metrics", sc.JobName, sc.MetricsPath)
				}
				for _, st := range sc.StaticConfigs {
					u := strings.TrimPrefix(sc.JobName, "videoforge-")
					if st.Labels["environment"] != testEnvironment || st.Labels["role"] != u {
						t.Errorf("job %s labels %v, want environment=%s role=%s", sc.JobName, st.Labels, testEnvironment, u)
					}
					for _, tg := range st.Targets {
						targets[u] = tg
						if !strings.HasPrefix(tg, "127.0.0.1:") {
							t.Errorf("job %s scrapes %s, want the loopback", sc.JobName, tg)
						}
					}
				}
			}
			wantTargets := map[string]map[string]string{
				"catalog":    {"catalog": "127.0.0.1:8080", "relay": "127.0.0.1:9101"},
				"edge":       {"edge": "127.0.0.1:8081"},
				"transcoder": {"transcoder": "127.0.0.1:9100"},
			}[role]
			if !maps.Equal(targets, wantTargets) {
				t.Errorf("scrape targets %v, want %v", targets, wantTargets)
			}
			if p.EMFProcessor.MetricNamespace != "VideoForge" {
				t.Errorf("EMF namespace %q, want VideoForge", p.EMFProcessor.MetricNamespace)
			}
			if p.LogGroupName != "/"+testName+"/metrics" {
				t.Errorf("EMF records go to %q, want /%s/metrics", p.LogGroupName, testName)
			}
			for _, d := range p.EMFProcessor.MetricDeclaration {
				for _, dims := range d.Dimensions {
					if !slices.Contains(dims, "environment") {
						t.Errorf("declaration %s has dimensions %v without environment", d.LabelMatcher, dims)
					}
				}
				for _, sel := range d.MetricSelectors {
					re := regexp.MustCompile(sel)
					if !slices.ContainsFunc(goMetrics, re.MatchString) {
						t.Errorf("metric selector %s matches no metric the Go code registers", sel)
					}
				}
			}
		})
	}
}

// TestMetricsAddressesAgree: the transcoder and a separate relay serve their metrics
// where the agent scrapes them (one local each in the videoforge module, passed to
// both their environment and the compute module).
func TestMetricsAddressesAgree(t *testing.T) {
	c := loadConfig(t)
	rc := c.localExpr(t, "modules/videoforge", "role_config")
	refs := map[string]bool{}
	hclsyntax.VisitAll(rc, func(n hclsyntax.Node) hcl.Diagnostics {
		if o, ok := n.(*hclsyntax.ObjectConsExpr); ok {
			for k, e := range objectItems(o) {
				for _, r := range references(e) {
					refs[k+"="+r] = true
				}
			}
		}
		return nil
	})
	for _, want := range []string{"TRANSCODER_METRICS_ADDR=local.transcoder_metrics_addr", "RELAY_METRICS_ADDR=local.relay_metrics_addr"} {
		if !refs[want] {
			t.Errorf("modules/videoforge: local.role_config does not set %s", want)
		}
	}
	mod := c.onlyBlock(t, "modules/videoforge", "module", "", "compute")
	for _, arg := range []string{"transcoder_metrics_addr", "relay_metrics_addr"} {
		if r := references(attr(t, mod, arg)); !slices.Equal(r, []string{"local." + arg}) {
			t.Errorf("modules/videoforge: module compute's %s = %v, want local.%s", arg, r, arg)
		}
	}
}

// TestEveryRoleHasALogGroup: every videoforge unit (with a separate relay too) and the
// NATS nodes have a log group with a retention, and every log group of the
// configuration has one.
func TestEveryRoleHasALogGroup(t *testing.T) {
	c := loadConfig(t)
	vals := computeVals(t, c, []string{"relay"})
	units := moduleLocals(c, "modules/compute", vals)["unit_roles"]
	var got []string
	for it := units.ElementIterator(); it.Next(); {
		k, _ := it.Element()
		got = append(got, k.AsString())
	}
	sort.Strings(got)
	if want := []string{"catalog", "edge", "relay", "transcoder"}; !slices.Equal(got, want) {
		t.Errorf("compute's log groups are for %v, want %v", got, want)
	}
	lg := c.onlyBlock(t, "modules/compute", "resource", "aws_cloudwatch_log_group", "unit")
	if r := references(attr(t, lg, "for_each")); !slices.Equal(r, []string{"local.unit_roles"}) {
		t.Errorf("%s: for_each = %v, want local.unit_roles", lg.name(), r)
	}
	c.onlyBlock(t, "modules/bus", "resource", "aws_cloudwatch_log_group", "nats")
	groups := c.blocks("resource", "aws_cloudwatch_log_group")
	for _, g := range groups {
		a, ok := g.Body.Attributes["retention_in_days"]
		if !ok {
			t.Errorf("%s: no retention_in_days", g.name())
			continue
		}
		if v, ok := constant(a.Expr); ok && (v.IsNull() || v.Equals(cty.Zero).True()) {
			t.Errorf("%s: retention_in_days never expires", g.name())
		}
	}
	// One retention setting reaches every module that has log groups.
	for _, m := range []string{"compute", "bus", "api"} {
		mod := c.onlyBlock(t, "modules/videoforge", "module", "", m)
		if r := references(attr(t, mod, "log_retention_days")); !slices.Equal(r, []string{"var.log_retention_days"}) {
			t.Errorf("modules/videoforge: module %s's log_retention_days = %v, want var.log_retention_days", m, r)
		}
	}
}

// TestNATSUserDataShipsLogsAndHealth renders a NATS node's user data with the bus
// module's agent configuration: JSON, the server's log file shipped to the nats log
// group, and a health timer whose script, run against a stubbed monitoring endpoint
// and AWS CLI, puts the node's health and JetStream figures.
func TestNATSUserDataShipsLogsAndHealth(t *testing.T) {
	c := loadConfig(t)
	vals := varDefaults(t, c, "modules/bus")
	maps.Copy(vals, map[string]cty.Value{
		"var.name":                       cty.StringVal(testName),
		"var.environment":                cty.StringVal(testEnvironment),
		"data.aws_region.current.region": cty.StringVal(testRegion),
	})
	lg := c.onlyBlock(t, "modules/bus", "resource", "aws_cloudwatch_log_group", "nats")
	group := eval(t, lg.name(), attr(t, lg, "name"), map[string]cty.Value{"var.name": vals["var.name"]})
	vals["aws_cloudwatch_log_group.nats"] = cty.ObjectVal(map[string]cty.Value{"name": group, "arn": cty.StringVal("arn:aws:logs:eu-west-1:1:log-group:" + group.AsString())})
	locals := moduleLocals(c, "modules/bus", vals)
	for _, k := range []string{"agent_config", "log_dir"} {
		if _, ok := locals[k]; !ok {
			t.Fatalf("modules/bus: local.%s does not evaluate", k)
		}
	}
	node := c.onlyBlock(t, "modules/bus", "resource", "aws_instance", "node")
	_, args := templateArgs(t, node.name(), attr(t, node, "user_data_base64"))
	for k, want := range map[string]string{"agent_config": "local.agent_config", "log_dir": "local.log_dir",
		"agent_install_script": "module.cloudwatch_agent", "environment": "var.environment", "metrics_namespace": "var.metrics_namespace"} {
		if e, ok := args[k]; !ok || !slices.Contains(references(e), want) {
			t.Errorf("%s: template variable %s is not %s", node.name(), k, want)
		}
	}
	script := renderTemplate(t, "modules/bus/templates/nats.sh.tftpl", natsTemplateVars(map[string]cty.Value{
		"agent_config": locals["agent_config"],
		"log_dir":      locals["log_dir"],
	}))
	bashSyntax(t, "nats", script)
	cfg, _ := readAgentConfig(t, "nats", script)
	unit := heredocs(script, "UNIT")["/etc/systemd/system/nats-server.service"]
	if unit == "" {
		t.Fatal("no nats-server.service in the user data")
	}
	file := appendedLogs(t, "nats-server.service", unit, "")
	if l := cfg.Logs.LogsCollected.Files.CollectList; len(l) != 1 || l[0].FilePath != file || l[0].LogGroupName != group.AsString() {
		t.Errorf("the agent ships %+v, want %s to %s", l, file, group.AsString())
	}
	if !strings.Contains(script, "systemctl enable --now nats-health.timer") {
		t.Error("the health timer is not enabled")
	}

	// Run the health script with curl answering for the monitoring port and aws
	// recording what it is asked to put.
	health := heredocs(script, "SCRIPT")["/usr/local/sbin/nats-health"]
	if health == "" {
		t.Fatal("no /usr/local/sbin/nats-health in the user data")
	}
	for _, tool := range []string{"jq", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: the NATS health script is run under it (apt-get install -y %s)", tool, tool)
		}
	}
	run := func(t *testing.T, healthz int, jsz string) []map[string]any {
		t.Helper()
		dir := t.TempDir()
		write := func(name, body string) {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		write("jsz.json", jsz)
		write("curl", `#!/bin/bash
for a in "$@"; do url=$a; done
case "$url" in
  http://127.0.0.1:8222/healthz) [ `+itoa(healthz)+` = 200 ] || exit 22; echo '{"status":"ok"}' ;;
  http://127.0.0.1:8222/jsz) cat "$(dirname "$0")/jsz.json" ;;
  *) echo "unexpected curl $*" >&2; exit 2 ;;
esac
`)
		write("aws", `#!/bin/bash
prev=""
for a in "$@"; do
  [ "$prev" = --metric-data ] && printf '%s' "$a" > "$(dirname "$0")/data.json"
  [ "$prev" = --namespace ] && printf '%s' "$a" > "$(dirname "$0")/namespace"
  prev=$a
done
`)
		write("nats-health", health)
		cmd := exec.Command("bash", filepath.Join(dir, "nats-health"))
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nats-health: %v\n%s", err, out)
		}
		ns, _ := os.ReadFile(filepath.Join(dir, "namespace"))
		if string(ns) != "VideoForge/NATS" {
			t.Errorf("namespace %q, want VideoForge/NATS", ns)
		}
		raw, err := os.ReadFile(filepath.Join(dir, "data.json"))
		if err != nil {
			t.Fatalf("nats-health put no metric data: %v", err)
		}
		var data []map[string]any
		if err := json.Unmarshal(raw, &data); err != nil {
			t.Fatalf("metric data is not JSON: %v\n%s", err, raw)
		}
		return data
	}
	value := func(data []map[string]any, metric string, perNode bool) (float64, bool) {
		for _, d := range data {
			dims, _ := d["Dimensions"].([]any)
			if d["MetricName"] == metric && (len(dims) == 2) == perNode {
				v, _ := d["Value"].(float64)
				return v, true
			}
		}
		return 0, false
	}
	t.Run("Healthy", func(t *testing.T) {
		data := run(t, 200, `{"streams":2,"consumers":5,"messages":1234,"bytes":99999,
			"meta_cluster":{"name":"videoforge-dev","leader":"videoforge-dev-nats-1","cluster_size":3,
			"replicas":[{"name":"videoforge-dev-nats-1","current":true},{"name":"videoforge-dev-nats-2","current":true}]}}`)
		for metric, want := range map[string]float64{"Healthy": 1, "MetaLeaderKnown": 1, "MetaPeersCurrent": 2, "Streams": 2, "Consumers": 5, "Messages": 1234, "Bytes": 99999} {
			for _, perNode := range []bool{false, true} {
				if v, ok := value(data, metric, perNode); !ok || v != want {
					t.Errorf("%s (per node %v) = %v, %v; want %v", metric, perNode, v, ok, want)
				}
			}
		}
	})
	t.Run("Down", func(t *testing.T) {
		data := run(t, 503, `not json`)
		if v, ok := value(data, "Healthy", true); !ok || v != 0 {
			t.Errorf("Healthy = %v, %v with /healthz failing, want 0", v, ok)
		}
	})
	t.Run("NoLeader", func(t *testing.T) {
		data := run(t, 200, `{"streams":0,"meta_cluster":{"cluster_size":3,"replicas":[{"name":"b","current":false}]}}`)
		if v, _ := value(data, "MetaLeaderKnown", false); v != 0 {
			t.Errorf("MetaLeaderKnown = %v without a leader, want 0", v)
		}
		if v, _ := value(data, "MetaPeersCurrent", false); v != 0 {
			t.Errorf("MetaPeersCurrent = %v with no current peer, want 0", v)
		}
	})
}

// gzipSize is the size of s compressed as base64gzip does.
func gzipSize(t *testing.T, s string) int {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Len()
}

// TestUserDataFitsEC2: EC2 refuses more than 16 KiB of user data, and the scripts with
// the agent's configuration come near that in plain text (the NATS node's passed it
// with real ARNs). Both are sent gzipped (base64gzip; cloud-init unpacks them), and must
// stay well under the limit so.
func TestUserDataFitsEC2(t *testing.T) {
	const limit = 12000
	c := loadConfig(t)
	lt := c.onlyBlock(t, "modules/compute", "resource", "aws_launch_template", "role")
	node := c.onlyBlock(t, "modules/bus", "resource", "aws_instance", "node")
	for _, b := range []struct {
		block
		attr string
	}{{lt, "user_data"}, {node, "user_data_base64"}} {
		if call, ok := attr(t, b.block, b.attr).(*hclsyntax.FunctionCallExpr); !ok || call.Name != "base64gzip" {
			t.Errorf("%s: %s is not base64gzip(templatefile(...))", b.name(), b.attr)
		}
	}
	for _, role := range []string{"catalog", "edge", "transcoder"} {
		script := renderTemplate(t, "modules/compute/templates/user_data.sh.tftpl", computeTemplateVars(t, c, role, []string{"relay"}))
		if n := gzipSize(t, script); n > limit {
			t.Errorf("%s user data is %d bytes gzipped, over %d (EC2 takes 16384)", role, n, limit)
		}
	}
	users, perms := natsLocals(t, c)
	userVals := make([]cty.Value, len(users))
	arns := map[string]cty.Value{}
	for i, u := range users {
		userVals[i] = cty.StringVal(u)
		arns[u] = cty.StringVal("arn:aws:secretsmanager:eu-west-1:123456789012:secret:videoforge-prod/nats/" + u + "-AbCdEf")
	}
	auth := evalTF(t, "local.nats_authorization", c.localExpr(t, "modules/bus", "nats_authorization"), map[string]cty.Value{
		"local.nats_users": cty.ListVal(userVals), "local.nats_permissions": perms,
	})
	vals := varDefaults(t, c, "modules/bus")
	maps.Copy(vals, map[string]cty.Value{"var.name": cty.StringVal("videoforge-prod"), "data.aws_region.current.region": cty.StringVal(testRegion),
		"aws_cloudwatch_log_group.nats": cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("/videoforge-prod/nats"), "arn": cty.StringVal("arn:aws:logs:eu-west-1:123456789012:log-group:/videoforge-prod/nats")})})
	script := renderTemplate(t, "modules/bus/templates/nats.sh.tftpl", natsTemplateVars(map[string]cty.Value{
		"authorization": auth,
		"users":         cty.MapVal(arns),
		"agent_config":  moduleLocals(c, "modules/bus", vals)["agent_config"],
	}))
	n := gzipSize(t, script)
	if n > limit {
		t.Errorf("NATS user data is %d bytes gzipped, over %d (EC2 takes 16384)", n, limit)
	}
	t.Logf("NATS user data: %d bytes, %d gzipped", len(script), n)
}
