output "media_bucket_name" {
  description = "Name of the media bucket (S3_BUCKET_NAME)."
  value       = aws_s3_bucket.media.bucket
}

output "media_bucket_arn" {
  description = "ARN of the media bucket."
  value       = aws_s3_bucket.media.arn
}

output "artifacts_bucket_name" {
  description = "Name of the bucket that holds release binaries (releases/<version>/videoforge-linux-arm64)."
  value       = aws_s3_bucket.artifacts.bucket
}

output "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket."
  value       = aws_s3_bucket.artifacts.arn
}

output "cdn_domain_name" {
  description = "Domain of the CloudFront distribution."
  value       = aws_cloudfront_distribution.media.domain_name
}

output "playback_base_url" {
  description = "Origin that playback URLs start with (PLAYBACK_BASE_URL): https://<domain_name> when set, else the distribution's own name."
  value       = local.custom_domain ? "https://${var.domain_name}" : "https://${aws_cloudfront_distribution.media.domain_name}"
}

output "cdn_distribution_id" {
  description = "ID of the CloudFront distribution (for invalidations)."
  value       = aws_cloudfront_distribution.media.id
}

output "cdn_distribution_arn" {
  description = "ARN of the CloudFront distribution (the relay invalidates a deleted video's objects)."
  value       = aws_cloudfront_distribution.media.arn
}

output "token_key_secret_arn" {
  description = "Secrets Manager secret holding the playback token key (PLAYBACK_TOKEN_KEY_FILE)."
  value       = aws_secretsmanager_secret.token_key.arn
}

output "key_value_store_arn" {
  description = "ARN of the KeyValueStore the token function reads its key and the revocation entries (revoked/<id>) from (REVOCATION_KVS_ARN)."
  value       = aws_cloudfront_key_value_store.playback.arn
}

output "web_acl_arn" {
  description = "ARN of the CloudFront WAF web ACL (in us-east-1) guarding the distribution."
  value       = aws_wafv2_web_acl.cdn.arn
}

output "web_acl_name" {
  description = "Name of the CloudFront WAF web ACL guarding the distribution."
  value       = aws_wafv2_web_acl.cdn.name
}
