package terraform_test

import (
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// TestAlarmsNotifyTheTopic: every alarm the issue asks for exists, and every alarm of
// the configuration notifies the SNS topic when it fires and when it clears.
func TestAlarmsNotifyTheTopic(t *testing.T) {
	c := loadConfig(t)
	want := map[string]string{
		"modules/queue: dlq_depth":            "dead letters",
		"modules/queue: oldest_job":           "transcoder backlog age",
		"modules/monitoring: api_5xx":         "5xx rate",
		"modules/monitoring: relay_lag":       "relay lag",
		"modules/monitoring: edge_event_lag":  "edge event lag past EDGE_STALENESS",
		"modules/monitoring: db_cpu":          "database CPU",
		"modules/monitoring: db_free_storage": "database free storage",
		"modules/monitoring: db_connections":  "database connections",
		"modules/monitoring: nats_health":     "NATS cluster health",
	}
	// The topic as each module names it: the queue module's own resource, the
	// monitoring module's variable (through local.topic).
	topic := map[string]string{"modules/queue": "aws_sns_topic.alarms", "modules/monitoring": "var.alarm_topic_arn"}
	found := map[string]bool{}
	for _, a := range c.blocks("resource", "aws_cloudwatch_metric_alarm") {
		key := a.file.dir + ": " + a.Labels[1]
		found[key] = true
		for _, actions := range []string{"alarm_actions", "ok_actions"} {
			attr, ok := a.Body.Attributes[actions]
			if !ok {
				t.Errorf("%s: no %s", a.name(), actions)
				continue
			}
			refs := references(attr.Expr)
			for i := 0; i < len(refs); i++ {
				if name, ok := strings.CutPrefix(refs[i], "local."); ok {
					if e, ok := c.local(a.file.dir, name); ok {
						refs = append(refs, references(e)...)
					}
				}
			}
			if !slices.Contains(refs, topic[a.file.dir]) {
				t.Errorf("%s: %s %v does not name the alarm topic (%s)", a.name(), actions, refs, topic[a.file.dir])
			}
		}
	}
	for key, what := range want {
		if !found[key] {
			t.Errorf("no %s alarm (%s)", what, key)
		}
	}
	// The monitoring module notifies the queue module's topic, the one alarm_emails
	// subscribe to.
	mon := c.onlyBlock(t, "modules/videoforge", "module", "", "monitoring")
	if got := paths(attr(t, mon, "alarm_topic_arn")); !slices.Equal(got, []string{"module.queue.alarm_topic_arn"}) {
		t.Errorf("module monitoring's alarm_topic_arn = %v, want module.queue.alarm_topic_arn", got)
	}
	sub := c.onlyBlock(t, "modules/queue", "resource", "aws_sns_topic_subscription", "email")
	if got := references(attr(t, sub, "topic_arn")); !slices.Equal(got, []string{"aws_sns_topic.alarms"}) {
		t.Errorf("%s: topic_arn = %v", sub.name(), got)
	}

	// The edge alarm's bound is the edges' EDGE_STALENESS: one variable sets both.
	lag := c.onlyBlock(t, "modules/monitoring", "resource", "aws_cloudwatch_metric_alarm", "edge_event_lag")
	if got := references(attr(t, lag, "threshold")); !slices.Equal(got, []string{"var.edge_staleness_seconds"}) {
		t.Errorf("%s: threshold = %v, want var.edge_staleness_seconds", lag.name(), got)
	}
	if got := references(attr(t, mon, "edge_staleness_seconds")); !slices.Equal(got, []string{"var.edge_staleness_seconds"}) {
		t.Errorf("module monitoring's edge_staleness_seconds = %v, want var.edge_staleness_seconds", got)
	}
	rc := c.localExpr(t, "modules/videoforge", "role_config")
	edge := evalRoleConfigKey(t, rc, "edge", "EDGE_STALENESS", map[string]cty.Value{"var.edge_staleness_seconds": cty.NumberIntVal(30)})
	if edge != "30s" {
		t.Errorf("EDGE_STALENESS = %q for edge_staleness_seconds = 30, want 30s", edge)
	}

	// An alarm on metric math returns exactly one query and says so of every other
	// (CloudWatch takes an unset return_data as true and refuses the alarm).
	for _, a := range c.blocks("resource", "aws_cloudwatch_metric_alarm") {
		returned, unset := 0, 0
		queries := 0
		hclsyntax.VisitAll(a.Body, func(n hclsyntax.Node) hcl.Diagnostics {
			b, ok := n.(*hclsyntax.Block)
			if !ok {
				return nil
			}
			body := b.Body
			switch {
			case b.Type == "metric_query":
			case b.Type == "content" && len(b.Labels) == 0:
				// dynamic "metric_query" { content { ... } }
			default:
				return nil
			}
			if b.Type == "metric_query" && len(body.Blocks) == 0 && len(body.Attributes) == 0 {
				return nil
			}
			if _, isID := body.Attributes["id"]; !isID {
				return nil
			}
			queries++
			v, ok := boolAttr(body, "return_data")
			switch {
			case !ok:
				unset++
			case v:
				returned++
			}
			return nil
		})
		if queries > 0 && (returned != 1 || unset != 0) {
			t.Errorf("%s: %d metric queries return data and %d leave return_data unset; want exactly one true, the others false", a.name(), returned, unset)
		}
	}

	// The alarms on the roles' metrics name metrics the Go code registers.
	goMetrics := goMetricNames(t)
	for _, a := range c.blocks("resource", "aws_cloudwatch_metric_alarm") {
		if m, ok := stringAttr(a.Body, "metric_name"); ok && strings.HasPrefix(m, "videoforge_") && !slices.Contains(goMetrics, m) {
			t.Errorf("%s: metric %s is not registered by the Go code", a.name(), m)
		}
	}
}

// evalRoleConfigKey evaluates role_config[role][key] of the videoforge module, from the
// first object of the role's merge(...).
func evalRoleConfigKey(t *testing.T, roleConfig hclsyntax.Expression, role, key string, vals map[string]cty.Value) string {
	t.Helper()
	roles := objectItemsOf(t, "local.role_config", roleConfig)
	items := objectItemsOf(t, "local.role_config."+role, roles[role])
	e, ok := items[key]
	if !ok {
		t.Fatalf("local.role_config.%s has no %s", role, key)
	}
	return eval(t, role+"."+key, e, vals).AsString()
}

// TestDashboard evaluates the monitoring module's dashboard as Terraform would and
// checks it shows what the issue lists, with metrics the Go code registers and log
// messages the Go code writes.
func TestDashboard(t *testing.T) {
	c := loadConfig(t)
	vals := varDefaults(t, c, "modules/monitoring")
	maps.Copy(vals, map[string]cty.Value{
		"var.name":                       cty.StringVal(testName),
		"var.environment":                cty.StringVal(testEnvironment),
		"var.alarm_topic_arn":            cty.StringVal("arn:aws:sns:eu-west-1:1:videoforge-dev-alarms"),
		"var.nats_metrics_namespace":     cty.StringVal("VideoForge/NATS"),
		"var.nats_node_names":            stringList("videoforge-dev-nats-0", "videoforge-dev-nats-1", "videoforge-dev-nats-2"),
		"var.api_id":                     cty.StringVal("abc123"),
		"var.api_access_log_group":       cty.StringVal("/aws/apigateway/videoforge-dev"),
		"var.log_groups":                 cty.MapVal(map[string]cty.Value{"catalog": cty.StringVal("/videoforge-dev/catalog"), "edge": cty.StringVal("/videoforge-dev/edge"), "transcoder": cty.StringVal("/videoforge-dev/transcoder"), "nats": cty.StringVal("/videoforge-dev/nats")}),
		"var.queue_name":                 cty.StringVal("videoforge-dev-jobs"),
		"var.dlq_name":                   cty.StringVal("videoforge-dev-jobs-dlq"),
		"var.queue_alarm_arns":           stringList("arn:aws:cloudwatch:eu-west-1:1:alarm:videoforge-dev-jobs-dlq-depth", "arn:aws:cloudwatch:eu-west-1:1:alarm:videoforge-dev-jobs-oldest-age"),
		"var.db_identifier":              cty.StringVal("videoforge-dev"),
		"var.edge_staleness_seconds":     cty.NumberIntVal(30),
		"var.api_web_acl_name":           cty.StringVal("videoforge-dev-api"),
		"var.cdn_web_acl_name":           cty.StringVal("videoforge-dev-cdn"),
		"data.aws_region.current.region": cty.StringVal(testRegion),
	})
	alarms := map[string]cty.Value{}
	for _, a := range c.blocks("resource", "aws_cloudwatch_metric_alarm") {
		if a.file.dir == "modules/monitoring" {
			alarms[a.Labels[1]] = cty.ObjectVal(map[string]cty.Value{"arn": cty.StringVal("arn:aws:cloudwatch:eu-west-1:1:alarm:" + a.Labels[1])})
		}
	}
	vals["aws_cloudwatch_metric_alarm"] = cty.ObjectVal(alarms)
	locals := moduleLocals(c, "modules/monitoring", vals)
	widgets, ok := locals["widgets"]
	if !ok {
		t.Fatal("modules/monitoring: local.widgets does not evaluate")
	}
	body, err := stdlibJSON(widgets)
	if err != nil {
		t.Fatal(err)
	}
	var parsed []struct {
		Type       string `json:"type"`
		Properties struct {
			Title   string   `json:"title"`
			Query   string   `json:"query"`
			Alarms  []string `json:"alarms"`
			Metrics []any    `json:"metrics"`
		} `json:"properties"`
	}
	if err := json.Unmarshal([]byte(body), &parsed); err != nil {
		t.Fatalf("widgets are not JSON: %v", err)
	}
	var titles []string
	for _, w := range parsed {
		titles = append(titles, w.Properties.Title)
		if w.Type == "log" {
			for _, m := range regexp.MustCompile(`msg = "([^"]+)"`).FindAllStringSubmatch(w.Properties.Query, -1) {
				if !goSourceContains(t, `"`+m[1]+`"`) {
					t.Errorf("widget %q filters on msg %q, which no Go code logs", w.Properties.Title, m[1])
				}
			}
			if !strings.HasPrefix(w.Properties.Query, "SOURCE '/videoforge-dev/transcoder'") {
				t.Errorf("widget %q queries %q, want the transcoder's log group", w.Properties.Title, w.Properties.Query)
			}
		}
		if w.Type == "alarm" && len(w.Properties.Alarms) != 9 {
			t.Errorf("the alarm widget shows %d alarms, want all 9", len(w.Properties.Alarms))
		}
	}
	all := strings.Join(titles, "\n")
	for _, want := range []string{"requests per route", "p99 latency per route", "5xx rate", "Gallery requests", "Edge requests",
		"cache hit ratio", "Edge event lag", "Relay lag", "depth and oldest message", "by outcome", "Job duration",
		"Time to playable", "Database: CPU", "connections", "free storage", "NATS", "WAF: API", "WAF: CDN", "Alarms"} {
		if !strings.Contains(all, want) {
			t.Errorf("no dashboard widget about %q in:\n%s", want, all)
		}
	}
	goMetrics := goMetricNames(t)
	for _, m := range regexp.MustCompile(`videoforge_[a-z0-9_]+`).FindAllString(body, -1) {
		if !slices.Contains(goMetrics, m) {
			t.Errorf("the dashboard shows %s, which the Go code does not register", m)
		}
	}
	for _, m := range []string{"MetaPeersCurrent", "Healthy"} {
		if !strings.Contains(body, `"`+m+`"`) {
			t.Errorf("the dashboard does not show the NATS nodes' %s", m)
		}
	}
	// One dashboard per environment, named after it.
	d := c.onlyBlock(t, "modules/monitoring", "resource", "aws_cloudwatch_dashboard", "this")
	if got := references(attr(t, d, "dashboard_name")); !slices.Equal(got, []string{"var.name"}) {
		t.Errorf("%s: dashboard_name = %v, want var.name (videoforge-<environment>)", d.name(), got)
	}
}

// stdlibJSON is Terraform's jsonencode.
func stdlibJSON(v cty.Value) (string, error) {
	out, err := stdlib.JSONEncode(v)
	if err != nil {
		return "", err
	}
	return out.AsString(), nil
}
