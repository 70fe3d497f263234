# The alarms of one environment, each notifying the alarm topic when it fires and when
# it clears. Besides these, the queue module's dead-letter and oldest-job alarms notify
# the same topic.

locals {
  topic = [var.alarm_topic_arn]
}

# 5xx answers of the API (API Gateway's count: the services' own 5xx and the failures to
# reach them) as a share of its requests, ignored below 10 requests a minute.
resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name          = "${var.name}-api-5xx-rate"
  alarm_description   = "More than ${var.api_5xx_alarm_percent}% of the API's answers are 5xx: look at the dashboard's routes, the catalog's and edge's ERROR logs and the API access log (Logs Insights: 5xx in the last hour)."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.api_5xx_alarm_percent
  evaluation_periods  = 5
  datapoints_to_alarm = 5
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.topic
  ok_actions          = local.topic
  tags                = var.tags

  metric_query {
    id          = "rate"
    label       = "5xx, % of requests"
    expression  = "IF(requests >= 10, 100 * FILL(errors, 0) / requests, 0)"
    return_data = true
  }

  metric_query {
    id          = "requests"
    return_data = false
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "Count"
      dimensions  = { ApiId = var.api_id, Stage = var.api_stage }
      stat        = "Sum"
      period      = 60
    }
  }

  metric_query {
    id          = "errors"
    return_data = false
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "5xx"
      dimensions  = { ApiId = var.api_id, Stage = var.api_stage }
      stat        = "Sum"
      period      = 60
    }
  }
}

# The relay's lag: the age of the oldest catalog change not yet published to NATS
# (edges and subscribers see nothing newer until it is).
resource "aws_cloudwatch_metric_alarm" "relay_lag" {
  alarm_name          = "${var.name}-relay-lag"
  alarm_description   = "Catalog changes have waited more than ${var.relay_lag_alarm_seconds} s in the outbox: the relay is not publishing (NATS down or refusing, no relay holds the lease). Look at the catalog's (or relay's) logs for component=relay and at the NATS health."
  namespace           = var.metrics_namespace
  metric_name         = "videoforge_relay_lag_seconds"
  dimensions          = { environment = var.environment }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = var.relay_lag_alarm_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.topic
  ok_actions          = local.topic
  tags                = var.tags
}

# An edge applying catalog events older than EDGE_STALENESS: past the bound the design
# promises (the reconcile should have caught up by then).
resource "aws_cloudwatch_metric_alarm" "edge_event_lag" {
  alarm_name          = "${var.name}-edge-event-lag"
  alarm_description   = "An edge applied a catalog event more than EDGE_STALENESS (${var.edge_staleness_seconds} s) after it happened: events are late (relay lag, NATS), or the edge is overloaded. Look at the relay lag, the NATS health and the edge's logs."
  namespace           = var.metrics_namespace
  metric_name         = "videoforge_edge_event_lag_seconds"
  dimensions          = { environment = var.environment, role = "edge" }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = var.edge_staleness_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.topic
  ok_actions          = local.topic
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "db_cpu" {
  alarm_name          = "${var.name}-db-cpu"
  alarm_description   = "The database's CPU has been above ${var.db_cpu_alarm_percent}% for 15 minutes: look at Performance Insights' top statements; scale the instance class or add read replicas (db_read_replicas)."
  namespace           = "AWS/RDS"
  metric_name         = "CPUUtilization"
  dimensions          = { DBInstanceIdentifier = var.db_identifier }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  threshold           = var.db_cpu_alarm_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.topic
  ok_actions          = local.topic
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "db_free_storage" {
  alarm_name          = "${var.name}-db-free-storage"
  alarm_description   = "The database has less than ${var.db_free_storage_alarm_gib} GiB free: storage autoscaling has reached its maximum (max_allocated_storage) or cannot keep up; raise it."
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  dimensions          = { DBInstanceIdentifier = var.db_identifier }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.db_free_storage_alarm_gib * 1073741824
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.topic
  ok_actions          = local.topic
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "db_connections" {
  alarm_name          = "${var.name}-db-connections"
  alarm_description   = "More than ${var.db_connections_alarm} database connections for 10 minutes: near the instance's max_connections, new connections will be refused. Look at how many catalog, edge and transcoder instances run (each pool is bounded) and scale the instance class."
  namespace           = "AWS/RDS"
  metric_name         = "DatabaseConnections"
  dimensions          = { DBInstanceIdentifier = var.db_identifier }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.db_connections_alarm
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.topic
  ok_actions          = local.topic
  tags                = var.tags
}

# The NATS cluster: every node answers /healthz (a node that stops reporting counts as
# unhealthy) and the JetStream meta group has a leader, for 3 periods of 2 minutes.
resource "aws_cloudwatch_metric_alarm" "nats_health" {
  alarm_name          = "${var.name}-nats-health"
  alarm_description   = "A NATS node is unhealthy or silent, or JetStream has no meta leader: the cluster runs on fewer than 3 nodes (one more loss stops JetStream). Look at the /${var.name}/nats log group and the dashboard's NATS widgets; a node comes back by replacing its instance (its volume and address are kept)."
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  treat_missing_data  = "breaching"
  alarm_actions       = local.topic
  ok_actions          = local.topic
  tags                = var.tags

  metric_query {
    id          = "cluster"
    label       = "1 when every node is healthy and JetStream has a leader"
    expression  = "MIN([${join(", ", [for i, _ in var.nats_node_names : "FILL(node${i}, 0)"])}, FILL(leader, 0)])"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = var.nats_node_names
    content {
      id          = "node${metric_query.key}"
      return_data = false
      metric {
        namespace   = var.nats_metrics_namespace
        metric_name = "Healthy"
        dimensions  = { environment = var.environment, node = metric_query.value }
        stat        = "Minimum"
        period      = 120
      }
    }
  }

  metric_query {
    id          = "leader"
    return_data = false
    metric {
      namespace   = var.nats_metrics_namespace
      metric_name = "MetaLeaderKnown"
      dimensions  = { environment = var.environment }
      stat        = "Minimum"
      period      = 120
    }
  }
}
