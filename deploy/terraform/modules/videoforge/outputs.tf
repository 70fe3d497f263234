output "api_url" {
  description = "Base URL of the API Gateway."
  value       = module.api.api_url
}

output "site_url" {
  description = "URL of the browser app: the gallery's pages at the API's root, same origin as both APIs."
  value       = module.api.site_url
}

output "gallery_url" {
  description = "Base URL of the gallery API."
  value       = "${trimsuffix(module.api.api_url, "/")}/api/gallery"
}

output "stream_url" {
  description = "Base URL of the streaming API."
  value       = "${trimsuffix(module.api.api_url, "/")}/api/stream"
}

output "api_routes" {
  description = "Routes of the API Gateway."
  value       = module.api.routes
}

output "api_access_log_group" {
  description = "CloudWatch log group of the API access logs."
  value       = module.api.access_log_group
}

output "playback_base_url" {
  description = "CDN origin of playback URLs (PLAYBACK_BASE_URL)."
  value       = module.storage.playback_base_url
}

output "cdn_distribution_id" {
  description = "CloudFront distribution ID."
  value       = module.storage.cdn_distribution_id
}

output "media_bucket_name" {
  description = "Media bucket (S3_BUCKET_NAME)."
  value       = module.storage.media_bucket_name
}

output "artifacts_bucket_name" {
  description = "Bucket to upload releases to: releases/<version>/videoforge-linux-arm64."
  value       = module.storage.artifacts_bucket_name
}

output "queue_url" {
  description = "Job queue (SQS_QUEUE_URL)."
  value       = module.queue.queue_url
}

output "dlq_url" {
  description = "Dead-letter queue of the jobs."
  value       = module.queue.dlq_url
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.queue.alarm_topic_arn
}

output "cognito_user_pool_id" {
  description = "User pool (COGNITO_USER_POOL_ID)."
  value       = module.auth.user_pool_id
}

output "cognito_client_id" {
  description = "App client (COGNITO_CLIENT_ID)."
  value       = module.auth.client_id
}

output "cognito_hosted_ui_url" {
  description = "Base URL of the Cognito hosted UI (the gallery's COGNITO_DOMAIN); the pages sign in at its /oauth2/authorize."
  value       = module.auth.hosted_ui_url
}

output "cognito_issuer" {
  description = "Issuer of the tokens."
  value       = module.auth.issuer
}

output "cognito_jwks_url" {
  description = "JWKS URL of the tokens."
  value       = module.auth.jwks_url
}

output "db_address" {
  description = "Database host (DB_HOST)."
  value       = module.database.address
}

output "db_secret_arn" {
  description = "Secret with the database password."
  value       = module.database.secret_arn
}

output "nats_url" {
  description = "NATS cluster, without credentials: each role's NATS_URL, with its user, is in Secrets Manager."
  value       = module.bus.nats_url
}

output "nats_ca_cert_secret_arn" {
  description = "Secrets Manager secret holding the NATS cluster's CA certificate (PEM), for clients such as the nats CLI (--tlsca)."
  value       = module.bus.ca_cert_secret_arn
}

output "nats_reader_secret_arn" {
  description = "Secrets Manager secret of the read-only NATS user (username, password, url), for outside subscribers."
  value       = module.bus.reader_secret_arn
}

output "autoscaling_group_names" {
  description = "Autoscaling groups by role."
  value       = module.compute.autoscaling_group_names
}

output "config_path" {
  description = "SSM path of the roles' environment."
  value       = module.compute.config_path
}

output "vpc_id" {
  description = "VPC of the environment."
  value       = module.network.vpc_id
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the environment."
  value       = module.monitoring.dashboard_name
}

output "dashboard_url" {
  description = "Console URL of the environment's CloudWatch dashboard."
  value       = module.monitoring.dashboard_url
}

output "alarm_names" {
  description = "Every alarm of the environment; each notifies alarm_topic_arn."
  value       = concat(["${var.name}-jobs-dlq-depth", "${var.name}-jobs-oldest-age"], module.monitoring.alarm_names)
}

output "log_groups" {
  description = "CloudWatch log groups by unit (catalog, edge, transcoder, relay when separate, nats) and api (the API's access logs)."
  value       = merge(module.compute.log_group_names, { nats = module.bus.log_group_name, api = module.api.access_log_group })
}

output "gallery_domain_target" {
  description = "Host name gallery_domain_name must point at when route53_zone_id is empty (CNAME); empty without gallery_domain_name."
  value       = module.api.domain_target
}

output "playback_domain_target" {
  description = "Host name playback_domain_name must point at when route53_zone_id is empty (CNAME to the distribution)."
  value       = module.storage.cdn_domain_name
}

output "web_acl_arns" {
  description = "AWS WAF web ACLs: api (regional, on the internal load balancer behind the HTTP API) and cdn (CloudFront, in us-east-1)."
  value       = { api = module.api.web_acl_arn, cdn = module.storage.web_acl_arn }
}
