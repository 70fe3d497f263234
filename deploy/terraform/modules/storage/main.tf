# Object storage and the CDN: a private media bucket (uploads/ and videos/, see
# DESIGN.md "Storage layout"), a private artifacts bucket for release binaries, and
# CloudFront in front of videos/ through Origin Access Control, with a CloudFront
# Function that checks the playback path tokens against a key in a KeyValueStore.

data "aws_caller_identity" "current" {}

locals {
  bucket_prefix = "${var.name}-${data.aws_caller_identity.current.account_id}"
  buckets = {
    media     = aws_s3_bucket.media
    artifacts = aws_s3_bucket.artifacts
  }
  token_key_name = "playback-token-key"
}

resource "aws_s3_bucket" "media" {
  bucket        = "${local.bucket_prefix}-media"
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket" "artifacts" {
  bucket        = "${local.bucket_prefix}-artifacts"
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = local.buckets
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.buckets
  bucket   = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.buckets
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "media" {
  bucket     = aws_s3_bucket.media.id
  depends_on = [aws_s3_bucket_versioning.this]

  rule {
    id     = "abandoned-uploads"
    status = "Enabled"
    filter {
      prefix = "uploads/"
    }
    expiration {
      days = var.abandoned_upload_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    expiration {
      expired_object_delete_marker = true
    }
  }
}

resource "aws_s3_bucket_cors_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  cors_rule {
    allowed_methods = ["PUT", "POST", "GET", "HEAD"]
    allowed_origins = var.cors_origins
    allowed_headers = ["*"]
    expose_headers  = ["ETag", "Location"]
    max_age_seconds = 3000
  }
}

data "aws_iam_policy_document" "media" {
  source_policy_documents = [data.aws_iam_policy_document.tls_only["media"].json]

  statement {
    sid       = "CloudFrontReadsVideos"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.media.arn}/videos/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.media.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "media" {
  bucket     = aws_s3_bucket.media.id
  policy     = data.aws_iam_policy_document.media.json
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# Every bucket refuses requests that do not use TLS.
data "aws_iam_policy_document" "tls_only" {
  for_each = { media = aws_s3_bucket.media.arn, artifacts = aws_s3_bucket.artifacts.arn }

  statement {
    sid       = "TLSOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value, "${each.value}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket     = aws_s3_bucket.artifacts.id
  policy     = data.aws_iam_policy_document.tls_only["artifacts"].json
  depends_on = [aws_s3_bucket_public_access_block.this]
}
