# One dashboard per environment (<name>, e.g. videoforge-prod): the API per route (API
# Gateway's route metrics: the agent drops the services' latency histograms, see the
# compute module's observability.tf), the services' own request counts, the edge cache,
# event and relay lag, the job queue, jobs by outcome and their durations (from the
# transcoder's JSON logs), the database and the NATS cluster, and every alarm.

data "aws_region" "current" {}

locals {
  region = data.aws_region.current.region
  ns     = var.metrics_namespace
  env    = var.environment

  api_route_search = "{AWS/ApiGateway,ApiId,Method,Resource,Stage} ApiId=\"${var.api_id}\""

  widgets = [
    # Row 1: the API, as clients see it.
    {
      type = "metric", x = 0, y = 0, width = 8, height = 6
      properties = {
        title   = "API requests per route (per minute)", region = local.region, view = "timeSeries", stacked = false, period = 60
        metrics = [[{ expression = "SEARCH('${local.api_route_search} MetricName=\"Count\"', 'Sum', 60)", id = "requests", label = "" }]]
      }
    },
    {
      type = "metric", x = 8, y = 0, width = 8, height = 6
      properties = {
        title   = "API p99 latency per route (ms)", region = local.region, view = "timeSeries", stacked = false, period = 60
        metrics = [[{ expression = "SEARCH('${local.api_route_search} MetricName=\"Latency\"', 'p99', 60)", id = "p99", label = "" }]]
      }
    },
    {
      type = "metric", x = 16, y = 0, width = 8, height = 6
      properties = {
        title       = "API 5xx rate (%)", region = local.region, view = "timeSeries", stacked = false, period = 60
        annotations = { horizontal = [{ value = var.api_5xx_alarm_percent, label = "alarm" }] }
        metrics = [
          [{ expression = "100 * FILL(errors, 0) / requests", id = "rate", label = "5xx %" }],
          ["AWS/ApiGateway", "Count", "ApiId", var.api_id, "Stage", var.api_stage, { id = "requests", stat = "Sum", visible = false }],
          ["AWS/ApiGateway", "5xx", "ApiId", var.api_id, "Stage", var.api_stage, { id = "errors", stat = "Sum", visible = false }],
        ]
      }
    },
    # Row 2: the services' own counts.
    {
      type = "metric", x = 0, y = 6, width = 8, height = 6
      properties = {
        title   = "Gallery requests by route, method and status", region = local.region, view = "timeSeries", stacked = false, period = 60
        metrics = [[{ expression = "SEARCH('{${local.ns},code,environment,method,role,route} MetricName=\"videoforge_gallery_requests_total\" environment=\"${local.env}\"', 'Sum', 60)", id = "gallery", label = "" }]]
      }
    },
    {
      type = "metric", x = 8, y = 6, width = 8, height = 6
      properties = {
        title   = "Edge requests by route and status", region = local.region, view = "timeSeries", stacked = false, period = 60
        metrics = [[{ expression = "SEARCH('{${local.ns},code,environment,role,route} MetricName=\"videoforge_edge_requests_total\" environment=\"${local.env}\"', 'Sum', 60)", id = "edge", label = "" }]]
      }
    },
    {
      type = "metric", x = 16, y = 6, width = 8, height = 6
      properties = {
        title = "Edge cache hit ratio (%)", region = local.region, view = "timeSeries", stacked = false, period = 60
        yAxis = { left = { min = 0, max = 100 } }
        metrics = [
          [{ expression = "100 * hits / (hits + misses)", id = "ratio", label = "hits %" }],
          [local.ns, "videoforge_edge_cache_hits_total", "environment", local.env, "role", "edge", { id = "hits", stat = "Sum", visible = false }],
          [local.ns, "videoforge_edge_cache_misses_total", "environment", local.env, "role", "edge", { id = "misses", stat = "Sum", visible = false }],
        ]
      }
    },
    # Row 3: freshness.
    {
      type = "metric", x = 0, y = 12, width = 8, height = 6
      properties = {
        title       = "Edge event lag (s, worst edge)", region = local.region, view = "timeSeries", stacked = false, period = 60
        annotations = { horizontal = [{ value = var.edge_staleness_seconds, label = "EDGE_STALENESS" }] }
        metrics = [
          [local.ns, "videoforge_edge_event_lag_seconds", "environment", local.env, "role", "edge", { stat = "Maximum", label = "event lag" }],
          [local.ns, "videoforge_edge_events_pending", "environment", local.env, "role", "edge", { stat = "Maximum", label = "events pending", yAxis = "right" }],
        ]
      }
    },
    {
      type = "metric", x = 8, y = 12, width = 8, height = 6
      properties = {
        title       = "Relay lag (s) and publishing", region = local.region, view = "timeSeries", stacked = false, period = 60
        annotations = { horizontal = [{ value = var.relay_lag_alarm_seconds, label = "alarm" }] }
        metrics = [
          [local.ns, "videoforge_relay_lag_seconds", "environment", local.env, { stat = "Maximum", label = "oldest unpublished change (s)" }],
          [local.ns, "videoforge_relay_published_total", "environment", local.env, { stat = "Sum", label = "published", yAxis = "right" }],
          [local.ns, "videoforge_relay_publish_failures_total", "environment", local.env, { stat = "Sum", label = "failed rounds", yAxis = "right" }],
        ]
      }
    },
    {
      type = "metric", x = 16, y = 12, width = 8, height = 6
      properties = {
        title = "Job queue: depth and oldest message", region = local.region, view = "timeSeries", stacked = false, period = 60
        metrics = [
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.queue_name, { stat = "Maximum", label = "waiting" }],
          ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", var.queue_name, { stat = "Maximum", label = "in progress" }],
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.dlq_name, { stat = "Maximum", label = "dead letters" }],
          ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", var.queue_name, { stat = "Maximum", label = "oldest (s)", yAxis = "right" }],
        ]
      }
    },
    # Row 4: jobs.
    {
      type = "metric", x = 0, y = 18, width = 8, height = 6
      properties = {
        title   = "Job messages by outcome", region = local.region, view = "timeSeries", stacked = true, period = 300
        metrics = [[{ expression = "SEARCH('{${local.ns},environment,outcome,role} MetricName=\"videoforge_transcoder_messages_total\" environment=\"${local.env}\"', 'Sum', 300)", id = "outcomes", label = "" }]]
      }
    },
    {
      type = "log", x = 8, y = 18, width = 8, height = 6
      properties = {
        title = "Job duration (s): receive to commit, completed jobs", region = local.region, view = "timeSeries"
        query = "SOURCE '${var.log_groups["transcoder"]}' | filter msg = \"job completed\" | fields took / 1e9 as seconds | stats avg(seconds) as avg_s, pct(seconds, 50) as p50_s, pct(seconds, 99) as p99_s, count(*) as jobs by bin(5m)"
      }
    },
    {
      type = "log", x = 16, y = 18, width = 8, height = 6
      properties = {
        title = "Time to playable (s): first rendition ready (stream copy or first rung)", region = local.region, view = "timeSeries"
        query = "SOURCE '${var.log_groups["transcoder"]}' | filter msg = \"the source's stream copy is stored\" or msg = \"first rung encoded\" | fields took / 1e9 as seconds | stats avg(seconds) as avg_s, pct(seconds, 99) as p99_s by bin(5m)"
      }
    },
    # Row 5: the database and NATS.
    {
      type = "metric", x = 0, y = 24, width = 8, height = 6
      properties = {
        title = "Database: CPU (%) and connections", region = local.region, view = "timeSeries", stacked = false, period = 60
        metrics = [
          ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", var.db_identifier, { stat = "Average", label = "CPU %" }],
          ["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", var.db_identifier, { stat = "Maximum", label = "connections", yAxis = "right" }],
        ]
      }
    },
    {
      type = "metric", x = 8, y = 24, width = 8, height = 6
      properties = {
        title       = "Database: free storage (GiB)", region = local.region, view = "timeSeries", stacked = false, period = 300
        annotations = { horizontal = [{ value = var.db_free_storage_alarm_gib, label = "alarm" }] }
        metrics = [
          [{ expression = "free / 1073741824", id = "gib", label = "free GiB" }],
          ["AWS/RDS", "FreeStorageSpace", "DBInstanceIdentifier", var.db_identifier, { id = "free", stat = "Minimum", visible = false }],
        ]
      }
    },
    {
      type = "metric", x = 16, y = 24, width = 8, height = 6
      properties = {
        title = "NATS: nodes healthy, meta peers current, JetStream messages", region = local.region, view = "timeSeries", stacked = false, period = 60
        metrics = concat(
          [for n in var.nats_node_names : [var.nats_metrics_namespace, "Healthy", "environment", local.env, "node", n, { stat = "Minimum", label = "${n} healthy" }]],
          [[var.nats_metrics_namespace, "MetaPeersCurrent", "environment", local.env, { stat = "Minimum", label = "meta peers current (min)" }]],
          [[var.nats_metrics_namespace, "Messages", "environment", local.env, { stat = "Maximum", label = "messages", yAxis = "right" }]],
        )
      }
    },
    # Row 6: what WAF blocked, by rule (the CDN's ACL reports in us-east-1).
    {
      type = "metric", x = 0, y = 30, width = 12, height = 6
      properties = {
        title   = "WAF: API requests blocked by rule", region = local.region, view = "timeSeries", stacked = true, period = 300
        metrics = [[{ expression = "SEARCH('{AWS/WAFV2,Region,Rule,WebACL} WebACL=\"${var.api_web_acl_name}\" MetricName=\"BlockedRequests\"', 'Sum', 300)", id = "api", label = "" }]]
      }
    },
    {
      type = "metric", x = 12, y = 30, width = 12, height = 6
      properties = {
        title   = "WAF: CDN requests blocked by rule", region = "us-east-1", view = "timeSeries", stacked = true, period = 300
        metrics = [[{ expression = "SEARCH('{AWS/WAFV2,Rule,WebACL} WebACL=\"${var.cdn_web_acl_name}\" MetricName=\"BlockedRequests\"', 'Sum', 300)", id = "cdn", label = "" }]]
      }
    },
    # Row 7: every alarm.
    {
      type = "alarm", x = 0, y = 36, width = 24, height = 4
      properties = {
        title = "Alarms"
        alarms = concat(var.queue_alarm_arns, [
          aws_cloudwatch_metric_alarm.api_5xx.arn,
          aws_cloudwatch_metric_alarm.relay_lag.arn,
          aws_cloudwatch_metric_alarm.edge_event_lag.arn,
          aws_cloudwatch_metric_alarm.db_cpu.arn,
          aws_cloudwatch_metric_alarm.db_free_storage.arn,
          aws_cloudwatch_metric_alarm.db_connections.arn,
          aws_cloudwatch_metric_alarm.nats_health.arn,
        ])
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = local.widgets })
}
