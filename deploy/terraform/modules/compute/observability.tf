# What operators see of the service roles: logs, metrics and traces, all through one
# CloudWatch agent per instance (amazon-cloudwatch-agent, installed by the user data).
#
# - Logs: every videoforge unit writes its stdout and stderr (JSON lines, LOG_FORMAT=json)
#   to /var/log/videoforge/<unit>.log (systemd StandardOutput=append:, logrotate with
#   copytruncate); the agent ships each file to the log group /<name>/<unit>, one stream
#   per instance. The relay gets its own group when it runs as its own unit
#   (catalog_extra_roles); inside the catalog its lines are in the catalog's.
# - Metrics: the agent scrapes each unit's Prometheus /metrics on the loopback and sends
#   the declared metrics as embedded metric format (EMF) to the group /<name>/metrics,
#   which CloudWatch turns into metrics in the namespace VideoForge with the dimensions
#   environment and role. Why the agent and not Amazon Managed Service for Prometheus:
#   the agent is already there for the logs and the traces, its metrics land where the
#   dashboard, the alarms, the logs and X-Ray already are (CloudWatch, where the seed's
#   team worked), and AMP would add a workspace, a remote-write sender and Grafana with its
#   own alerting to run beside them. Its limit: the agent drops Prometheus histograms
#   (counters become deltas per scrape, gauges pass as they are), so the per-route p99
#   comes from API Gateway's route metrics and job durations from the transcoder's
#   "job completed" log lines (see the monitoring module).
# - Traces: the agent's OTLP receiver (127.0.0.1:4317 gRPC, :4318 HTTP) sends the spans
#   to X-Ray; the roles export to it by the standard OTEL_* variables set in the units.
#   The agent rather than the ADOT collector: one process and one configuration for logs,
#   metrics and traces instead of two agents on every instance.

locals {
  # Every videoforge unit, with the instance role it runs on.
  unit_roles = merge(
    { for r in local.role_names : r => r },
    { for u in var.catalog_extra_roles : u => "catalog" },
  )

  # Where each unit serves its Prometheus metrics, on the loopback (the agent scrapes
  # them; the load balancer routes neither /metrics). The catalog and the edge serve
  # them on their own listeners; the transcoder and a separate relay on the addresses
  # set in their environment (TRANSCODER_METRICS_ADDR, RELAY_METRICS_ADDR, see the
  # videoforge module), which default to none.
  metrics_targets = merge(
    { catalog = "127.0.0.1:${var.catalog_port}", edge = "127.0.0.1:${var.edge_port}", transcoder = var.transcoder_metrics_addr },
    contains(var.catalog_extra_roles, "relay") ? { relay = var.relay_metrics_addr } : {},
  )

  log_dir = "/var/log/videoforge"

  # The metrics CloudWatch keeps, by the unit (Prometheus job) that serves them. The
  # relay's lag and activity are kept by environment alone, since the relay runs inside
  # the catalog or as its own unit.
  metric_declarations = [
    {
      source_labels    = ["job"]
      label_matcher    = "^videoforge-catalog$"
      dimensions       = [["environment", "role"], ["environment", "role", "route", "method", "code"]]
      metric_selectors = ["^videoforge_gallery_requests_total$"]
    },
    {
      source_labels = ["job"]
      label_matcher = "^videoforge-edge$"
      dimensions    = [["environment", "role"], ["environment", "role", "route", "code"]]
      metric_selectors = [
        "^videoforge_edge_requests_total$",
      ]
    },
    {
      source_labels = ["job"]
      label_matcher = "^videoforge-edge$"
      dimensions    = [["environment", "role"]]
      metric_selectors = [
        "^videoforge_edge_cache_(hits|misses)_total$",
        "^videoforge_edge_event_lag_seconds$",
        "^videoforge_edge_events_pending$",
        "^videoforge_edge_ready$",
        "^videoforge_edge_cache_videos$",
        "^videoforge_edge_misses_limited_total$",
        "^videoforge_edge_event_confirms_dropped_total$",
        "^videoforge_edge_view_flush_failures_total$",
      ]
    },
    {
      source_labels    = ["job"]
      label_matcher    = "^videoforge-edge$"
      dimensions       = [["environment", "role", "result"]]
      metric_selectors = ["^videoforge_edge_reconciles_total$"]
    },
    {
      source_labels = ["job"]
      label_matcher = "^videoforge-(catalog|relay)$"
      dimensions    = [["environment"]]
      metric_selectors = [
        "^videoforge_relay_lag_seconds$",
        "^videoforge_relay_active$",
        "^videoforge_relay_published_total$",
        "^videoforge_relay_publish_failures_total$",
        "^videoforge_revocations_lag_seconds$",
        "^videoforge_revocations_failures_total$",
      ]
    },
    {
      source_labels    = ["job"]
      label_matcher    = "^videoforge-transcoder$"
      dimensions       = [["environment", "role", "outcome"]]
      metric_selectors = ["^videoforge_transcoder_messages_total$"]
    },
    {
      source_labels = ["job"]
      label_matcher = "^videoforge-transcoder$"
      dimensions    = [["environment", "role"]]
      metric_selectors = [
        "^videoforge_transcoder_jobs_in_flight$",
        "^videoforge_transcoder_outage_retries_total$",
        "^videoforge_transcoder_worker_restarts_total$",
      ]
    },
  ]

  # prometheus.yaml of each instance role (JSON, which is YAML): one scrape job per unit,
  # labelled with the environment and the unit's role.
  prometheus_config = {
    for role in local.role_names : role => jsonencode({
      global = { scrape_interval = "60s", scrape_timeout = "10s" }
      scrape_configs = [
        for unit, r in local.unit_roles : {
          job_name       = "videoforge-${unit}"
          metrics_path   = "/metrics"
          static_configs = [{ targets = [local.metrics_targets[unit]], labels = { environment = var.environment, role = unit } }]
        } if r == role && contains(keys(local.metrics_targets), unit)
      ]
    })
  }

  # The agent's configuration of each instance role
  # (/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json).
  agent_config = {
    for role in local.role_names : role => jsonencode({
      agent = { region = data.aws_region.current.region, metrics_collection_interval = 60, logfile = "/opt/aws/amazon-cloudwatch-agent/logs/amazon-cloudwatch-agent.log" }
      logs = {
        logs_collected = {
          files = {
            collect_list = [
              for unit, r in local.unit_roles : {
                file_path       = "${local.log_dir}/${unit}.log"
                log_group_name  = aws_cloudwatch_log_group.unit[unit].name
                log_stream_name = "{instance_id}"
                timezone        = "UTC"
              } if r == role
            ]
          }
          prometheus = {
            cluster_name           = var.name
            log_group_name         = aws_cloudwatch_log_group.metrics.name
            prometheus_config_path = "/opt/aws/amazon-cloudwatch-agent/etc/prometheus.yaml"
            emf_processor = {
              metric_declaration_dedup = true
              metric_namespace         = var.metrics_namespace
              metric_unit = {
                videoforge_edge_event_lag_seconds  = "Seconds"
                videoforge_relay_lag_seconds       = "Seconds"
                videoforge_revocations_lag_seconds = "Seconds"
              }
              metric_declaration = local.metric_declarations
            }
          }
        }
        force_flush_interval = 5
      }
      traces = {
        traces_collected = {
          otlp = { grpc_endpoint = "127.0.0.1:4317", http_endpoint = "127.0.0.1:4318" }
        }
      }
    })
  }

  # The environment every unit starts with (EnvironmentFile, from SSM, wins over it);
  # OTEL_SERVICE_NAME is videoforge-<unit>, set in the unit itself.
  unit_environment = {
    LOG_FORMAT                  = "json"
    OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:4318"
    OTEL_EXPORTER_OTLP_PROTOCOL = "http/protobuf"
    OTEL_RESOURCE_ATTRIBUTES    = "deployment.environment=${var.environment}"
  }
}

resource "aws_cloudwatch_log_group" "unit" {
  for_each          = local.unit_roles
  name              = "/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  tags              = merge(var.tags, { Role = each.key })
}

# The agent's EMF records of the scraped Prometheus metrics (CloudWatch extracts the
# metrics from them; the records themselves are needed only briefly).
resource "aws_cloudwatch_log_group" "metrics" {
  name              = "/${var.name}/metrics"
  retention_in_days = var.metrics_log_retention_days
  tags              = var.tags
}

# What the agent does with the instance's role: CloudWatchAgentServerPolicy and
# AWSXRayDaemonWriteAccess, narrowed to this role's log groups and VideoForge's metric
# namespace (X-Ray's write actions take no resource).
data "aws_iam_policy_document" "agent" {
  for_each = toset(local.role_names)

  statement {
    sid     = "ShipLogs"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = flatten([
      for unit, r in local.unit_roles : [aws_cloudwatch_log_group.unit[unit].arn, "${aws_cloudwatch_log_group.unit[unit].arn}:*"] if r == each.key
    ])
  }

  statement {
    sid       = "ShipMetricRecords"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [aws_cloudwatch_log_group.metrics.arn, "${aws_cloudwatch_log_group.metrics.arn}:*"]
  }

  statement {
    sid       = "PutMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metrics_namespace, "CWAgent"]
    }
  }

  statement {
    sid = "WriteTraces"
    actions = [
      "xray:PutTraceSegments",
      "xray:PutTelemetryRecords",
      "xray:GetSamplingRules",
      "xray:GetSamplingTargets",
      "xray:GetSamplingStatisticSummaries",
    ]
    resources = ["*"]
  }
}
