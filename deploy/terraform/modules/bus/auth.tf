# NATS requires credentials: one user per client role, each allowed only what its role
# does (bus.Permissions in the Go code, which TestNATSPermissionsMatchGo holds these
# lists to). The catalog user is the catalog instances' (the relay and the upload side
# run in one process), the transcoder user the transcoders', the reader user the edges'
# and outside subscribers'. Passwords are generated once into Secrets Manager (a JSON
# secret per user: username, password, and url, the NATS_URL with them in it); the nodes
# read them at boot and the service roles at every start. Rotate one with
# `terraform apply -replace=module.videoforge.module.bus.aws_secretsmanager_secret_version.nats["<user>"]`
# followed by an instance refresh of the nodes (one at a time) and of the role.
#
# TLS between the nodes and to the clients (see tls.tf): the URLs are tls://, and every
# role gets the cluster's CA certificate as the file NATS_CA_FILE names. (A secret
# written before TLS keeps its nats:// URL, as terraform ignores later changes of it; a
# client reaching a node that requires TLS upgrades anyway, and verifies it with
# NATS_CA_FILE all the same.)

locals {
  nats_users = ["catalog", "transcoder", "reader"]

  # What each user may publish and subscribe to; a subject not listed is refused.
  nats_permissions = {
    catalog = {
      publish = [
        "videoforge.catalog.>",
        "$JS.API.INFO",
        "$JS.API.STREAM.INFO.CATALOG",
        "$JS.API.STREAM.INFO.JOBS",
        "$JS.API.STREAM.CREATE.CATALOG",
        "$JS.API.STREAM.CREATE.JOBS",
        "$JS.API.STREAM.UPDATE.CATALOG",
        "$JS.API.STREAM.UPDATE.JOBS",
        "$JS.API.DIRECT.GET.CATALOG.>",
        "$JS.API.STREAM.MSG.GET.CATALOG",
        "videoforge.transcode.jobs",
        "videoforge.jobs.*.queued",
        "$JS.API.STREAM.INFO.TRANSCODE",
        "$JS.API.STREAM.INFO.TRANSCODE_DEAD",
        "$JS.API.STREAM.CREATE.TRANSCODE",
        "$JS.API.STREAM.CREATE.TRANSCODE_DEAD",
        "$JS.API.STREAM.UPDATE.TRANSCODE",
        "$JS.API.STREAM.UPDATE.TRANSCODE_DEAD",
      ]
      subscribe = [
        "_INBOX_catalog.>",
      ]
    }
    transcoder = {
      publish = [
        "videoforge.jobs.>",
        "videoforge.transcode.>",
        "$JS.API.INFO",
        "$JS.API.STREAM.INFO.CATALOG",
        "$JS.API.STREAM.INFO.JOBS",
        "$JS.API.STREAM.INFO.TRANSCODE",
        "$JS.API.STREAM.INFO.TRANSCODE_DEAD",
        "$JS.API.STREAM.CREATE.JOBS",
        "$JS.API.STREAM.CREATE.TRANSCODE",
        "$JS.API.STREAM.CREATE.TRANSCODE_DEAD",
        "$JS.API.STREAM.UPDATE.JOBS",
        "$JS.API.STREAM.UPDATE.TRANSCODE",
        "$JS.API.STREAM.UPDATE.TRANSCODE_DEAD",
        "$JS.API.CONSUMER.CREATE.TRANSCODE.>",
        "$JS.API.CONSUMER.CREATE.TRANSCODE_DEAD.>",
        "$JS.API.CONSUMER.INFO.TRANSCODE.>",
        "$JS.API.CONSUMER.INFO.TRANSCODE_DEAD.>",
        "$JS.API.CONSUMER.MSG.NEXT.TRANSCODE.>",
        "$JS.API.CONSUMER.MSG.NEXT.TRANSCODE_DEAD.>",
        "$JS.ACK.TRANSCODE.>",
        "$JS.ACK.TRANSCODE_DEAD.>",
      ]
      subscribe = [
        "_INBOX_transcoder.>",
      ]
    }
    reader = {
      publish = [
        "$JS.API.INFO",
        "$JS.API.STREAM.NAMES",
        "$JS.API.STREAM.INFO.CATALOG",
        "$JS.API.STREAM.INFO.JOBS",
        "$JS.API.CONSUMER.CREATE.CATALOG.>",
        "$JS.API.CONSUMER.CREATE.JOBS.>",
        "$JS.API.CONSUMER.MSG.NEXT.CATALOG.>",
        "$JS.API.CONSUMER.MSG.NEXT.JOBS.>",
        "$JS.API.DIRECT.GET.CATALOG.>",
        "$JS.API.DIRECT.GET.JOBS.>",
      ]
      subscribe = [
        "videoforge.catalog.>",
        "videoforge.jobs.>",
        "_INBOX.>",
        "_INBOX_reader.>",
      ]
    }
  }

  # The authorization block of the nodes' configuration. Passwords are not in it: the
  # configuration names environment variables that systemd fills from Secrets Manager.
  nats_authorization = join("\n", concat(["authorization {", "  users = ["], [
    for u in local.nats_users : format("    { user: \"%s\", password: $NATS_PASSWORD_%s, permissions: { publish: { allow: [%s] }, subscribe: { allow: [%s] } } }",
      u, upper(u),
      join(", ", [for s in local.nats_permissions[u].publish : "\"${s}\""]),
    join(", ", [for s in local.nats_permissions[u].subscribe : "\"${s}\""]))
  ], ["  ]", "}"]))
}

data "aws_secretsmanager_random_password" "nats" {
  for_each            = toset(local.nats_users)
  password_length     = 40
  exclude_punctuation = true # safe as it is in a URL and in the server's configuration
}

resource "aws_secretsmanager_secret" "nats" {
  for_each                = toset(local.nats_users)
  name                    = "${var.name}/nats/${each.key}"
  description             = "NATS user ${each.key} of the VideoForge cluster: username, password and url (NATS_URL)."
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "nats" {
  for_each  = toset(local.nats_users)
  secret_id = aws_secretsmanager_secret.nats[each.key].id
  secret_string = jsonencode({
    username = each.key
    password = data.aws_secretsmanager_random_password.nats[each.key].random_password
    url = join(",", [for ip in local.ips :
    "tls://${each.key}:${data.aws_secretsmanager_random_password.nats[each.key].random_password}@${ip}:4222"])
  })

  lifecycle {
    ignore_changes = [secret_string]
  }
}

# The nodes read the users' passwords at boot, create or read the cluster's CA (see
# tls.tf), ship their logs to their log group and put their health figures into the
# NATS metric namespace (observability.tf), and nothing else.
data "aws_iam_policy_document" "node_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "node" {
  statement {
    sid       = "ReadNATSUsers"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [for u in local.nats_users : aws_secretsmanager_secret.nats[u].arn]
  }

  statement {
    sid       = "CreateOrReadCA"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]
    resources = [aws_secretsmanager_secret.nats_ca.arn, aws_secretsmanager_secret.nats_ca_cert.arn]
  }

  statement {
    sid       = "ShipLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [aws_cloudwatch_log_group.nats.arn, "${aws_cloudwatch_log_group.nats.arn}:*"]
  }

  statement {
    sid       = "PutHealth"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metrics_namespace]
    }
  }
}

resource "aws_iam_role" "node" {
  name               = "${var.name}-nats"
  assume_role_policy = data.aws_iam_policy_document.node_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "node" {
  name   = "read-nats-users"
  role   = aws_iam_role.node.id
  policy = data.aws_iam_policy_document.node.json
}

resource "aws_iam_instance_profile" "node" {
  name = "${var.name}-nats"
  role = aws_iam_role.node.name
  tags = var.tags
}
