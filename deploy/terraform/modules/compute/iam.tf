# One instance profile per role, each allowed only what that role does:
# - every role: read its configuration (SSM under /<name>/config/{common,<role>}), the
#   database secret, its own NATS user's secret, the NATS CA certificate, and the
#   release binaries;
# - catalog: presign uploads and check them (uploads/*), take resumable uploads there
#   (multipart uploads, listed to abort those given up), delete a video's objects,
#   queue jobs, and the playback token key (it signs thumbnail URLs); its relay (in
#   process, or `videoforge relay` beside it: catalog_extra_roles) writes the revocation
#   entries revoked/<id> of the CDN's KeyValueStore and invalidates deleted videos;
# - transcoder: read sources, write renditions (videos/*), work the job queue and its
#   dead-letter queue;
# - edge: the playback token key; it touches no bucket or queue.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  role_names = ["edge", "catalog", "transcoder"]
  ssm_arn    = "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:parameter/${var.name}/config"
}

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "base" {
  for_each = toset(local.role_names)
  # Logs, metrics and traces through the CloudWatch agent (observability.tf).
  source_policy_documents = [data.aws_iam_policy_document.agent[each.key].json]

  statement {
    sid     = "ReadConfig"
    actions = ["ssm:GetParametersByPath", "ssm:GetParameters", "ssm:GetParameter"]
    resources = [
      "${local.ssm_arn}/common",
      "${local.ssm_arn}/common/*",
      "${local.ssm_arn}/${each.key}",
      "${local.ssm_arn}/${each.key}/*",
    ]
  }

  statement {
    sid       = "ReadDatabaseSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.db_secret_arn]
  }

  statement {
    sid       = "ReadNATSUser"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.nats_secret_arns[each.key]]
  }

  statement {
    sid       = "ReadNATSCA"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.nats_ca_secret_arn]
  }

  statement {
    sid       = "ReadRelease"
    actions   = ["s3:GetObject"]
    resources = ["${var.artifacts_bucket_arn}/releases/*"]
  }
}

data "aws_iam_policy_document" "edge" {
  source_policy_documents = [data.aws_iam_policy_document.base["edge"].json]

  statement {
    sid       = "ReadTokenKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.token_key_secret_arn]
  }
}

data "aws_iam_policy_document" "catalog" {
  source_policy_documents = [data.aws_iam_policy_document.base["catalog"].json]

  statement {
    sid       = "ReadTokenKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.token_key_secret_arn]
  }

  statement {
    sid = "Uploads"
    actions = [
      "s3:PutObject",
      "s3:GetObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${var.media_bucket_arn}/uploads/*"]
  }

  # The sweeper of resumable uploads given up lists the multipart uploads in progress.
  statement {
    sid       = "ListUploadsInProgress"
    actions   = ["s3:ListBucketMultipartUploads"]
    resources = [var.media_bucket_arn]
  }

  statement {
    sid       = "DeleteVideos"
    actions   = ["s3:DeleteObject"]
    resources = ["${var.media_bucket_arn}/videos/*"]
  }

  statement {
    sid       = "ListVideoFolders"
    actions   = ["s3:ListBucket"]
    resources = [var.media_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["uploads/*", "videos/*"]
    }
  }

  # The relay: a video whose access narrows gets revoked/<id> = its new token generation
  # (the CloudFront Function refuses older tokens); a deleted one, one more than its last,
  # and an invalidation of /videos/<id>/*. A KeyValueStore cannot be split by key, so this
  # also covers the token key entry, which the catalog can read from Secrets Manager anyway.
  statement {
    sid = "WriteRevocations"
    actions = [
      "cloudfront-keyvaluestore:DescribeKeyValueStore",
      "cloudfront-keyvaluestore:GetKey",
      "cloudfront-keyvaluestore:PutKey",
      "cloudfront-keyvaluestore:DeleteKey",
      "cloudfront-keyvaluestore:UpdateKeys",
      "cloudfront-keyvaluestore:ListKeys",
    ]
    resources = [var.revocation_kvs_arn]
  }

  statement {
    sid       = "InvalidateDeletedVideos"
    actions   = ["cloudfront:CreateInvalidation"]
    resources = [var.cdn_distribution_arn]
  }

  statement {
    sid       = "QueueJobs"
    actions   = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = [var.queue_arn]
  }
}

data "aws_iam_policy_document" "transcoder" {
  source_policy_documents = [data.aws_iam_policy_document.base["transcoder"].json]

  statement {
    sid       = "ReadSources"
    actions   = ["s3:GetObject", "s3:DeleteObject"]
    resources = ["${var.media_bucket_arn}/uploads/*"]
  }

  statement {
    sid = "WriteRenditions"
    actions = [
      "s3:PutObject",
      "s3:GetObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${var.media_bucket_arn}/videos/*"]
  }

  statement {
    sid       = "ListVideoFolders"
    actions   = ["s3:ListBucket"]
    resources = [var.media_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["uploads/*", "videos/*"]
    }
  }

  statement {
    sid = "WorkJobs"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
    ]
    resources = [var.queue_arn, var.dlq_arn]
  }
}

locals {
  policies = {
    edge       = data.aws_iam_policy_document.edge.json
    catalog    = data.aws_iam_policy_document.catalog.json
    transcoder = data.aws_iam_policy_document.transcoder.json
  }
}

resource "aws_iam_role" "role" {
  for_each           = toset(local.role_names)
  name               = "${var.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "role" {
  for_each = toset(local.role_names)
  name     = "${var.name}-${each.key}"
  role     = aws_iam_role.role[each.key].id
  policy   = local.policies[each.key]
}

resource "aws_iam_instance_profile" "role" {
  for_each = toset(local.role_names)
  name     = "${var.name}-${each.key}"
  role     = aws_iam_role.role[each.key].name
  tags     = var.tags
}
