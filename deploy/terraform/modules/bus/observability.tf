# What operators see of the NATS nodes. nats-server logs to /var/log/nats/nats-server.log
# (systemd StandardOutput=append:, logrotate), which the CloudWatch agent ships to the log
# group /<name>/nats, one stream per instance. The cluster's health stays inside the
# security group (the monitoring port 8222 admits only the nodes): each node asks its own
# http://127.0.0.1:8222/healthz and /jsz every minute (nats-health, a systemd timer) and
# puts the answers into CloudWatch with `aws cloudwatch put-metric-data`, in the namespace
# metrics_namespace, by environment and by environment and node:
#   Healthy           1 when /healthz answers 200 (the server and its JetStream are up)
#   MetaLeaderKnown   1 when the JetStream meta group has a leader
#   MetaPeersCurrent  meta group peers this node sees current (2 in a whole cluster)
#   Streams, Consumers, Messages, Bytes   JetStream's figures on this node
# A script rather than a Prometheus exporter: nothing more to install, run or secure, and
# a node that cannot answer simply stops reporting, which the alarm counts as unhealthy.

module "cloudwatch_agent" {
  source = "../cloudwatch_agent"
}

locals {
  log_dir = "/var/log/nats"

  agent_config = jsonencode({
    agent = { region = data.aws_region.current.region, logfile = "/opt/aws/amazon-cloudwatch-agent/logs/amazon-cloudwatch-agent.log" }
    logs = {
      logs_collected = {
        files = {
          collect_list = [{
            file_path       = "${local.log_dir}/nats-server.log"
            log_group_name  = aws_cloudwatch_log_group.nats.name
            log_stream_name = "{instance_id}"
            timezone        = "UTC"
          }]
        }
      }
      force_flush_interval = 5
    }
  })
}

resource "aws_cloudwatch_log_group" "nats" {
  name              = "/${var.name}/nats"
  retention_in_days = var.log_retention_days
  tags              = merge(var.tags, { Role = "nats" })
}
