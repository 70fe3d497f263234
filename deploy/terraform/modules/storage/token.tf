# The playback token key: generated once, kept in Secrets Manager for the edge
# (PLAYBACK_TOKEN_KEY_FILE) and in the KeyValueStore for the CloudFront Function. Both
# ignore later reads of the generator; rotate with
# `terraform apply -replace=module.videoforge.module.storage.aws_secretsmanager_secret_version.token_key
#  -replace=module.videoforge.module.storage.aws_cloudfrontkeyvaluestore_key.token_key`
# followed by an instance refresh of the edge.
#
# The same store holds the revocation entries: revoked/<id> = the lowest token generation
# video <id> still accepts, written and deleted by the relay on the catalog instances
# (REVOCATION_KVS_ARN; see the compute module's iam.tf). A binary key can be given to the
# function as "base64:<standard base64 of the bytes>".

data "aws_secretsmanager_random_password" "token_key" {
  password_length     = 48
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "token_key" {
  name                    = "${var.name}/playback-token-key"
  description             = "HMAC-SHA256 key of the playback path tokens (DESIGN.md, Playback URLs)."
  recovery_window_in_days = var.force_destroy ? 0 : 7
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "token_key" {
  secret_id     = aws_secretsmanager_secret.token_key.id
  secret_string = data.aws_secretsmanager_random_password.token_key.random_password

  lifecycle {
    ignore_changes = [secret_string]
  }
}

resource "aws_cloudfront_key_value_store" "playback" {
  name    = "${var.name}-playback"
  comment = "Key of the playback path tokens and revoked/<id> entries, read by the token check function."
}

resource "aws_cloudfrontkeyvaluestore_key" "token_key" {
  key_value_store_arn = aws_cloudfront_key_value_store.playback.arn
  key                 = local.token_key_name
  value               = aws_secretsmanager_secret_version.token_key.secret_string

  lifecycle {
    ignore_changes = [value]
  }
}

resource "aws_cloudfront_function" "playback_token" {
  name    = "${var.name}-playback-token"
  runtime = "cloudfront-js-2.0"
  comment = "Checks /t/<expiry>[.<gen>]/<sig>/videos/<id>/... tokens and rewrites to /videos/<id>/..."
  publish = true
  code = templatefile("${path.module}/functions/playback_token.js", {
    key_name          = local.token_key_name
    allow_plain_paths = var.allow_plain_paths
  })
  key_value_store_associations = [aws_cloudfront_key_value_store.playback.arn]
}
