output "api_url" {
  description = "Base URL of the API Gateway."
  value       = module.videoforge.api_url
}

output "site_url" {
  description = "URL of the browser app (the gallery's pages; same origin as both APIs)."
  value       = module.videoforge.site_url
}

output "gallery_url" {
  description = "Base URL of the gallery API."
  value       = module.videoforge.gallery_url
}

output "stream_url" {
  description = "Base URL of the streaming API."
  value       = module.videoforge.stream_url
}

output "api_routes" {
  description = "Routes of the API Gateway."
  value       = module.videoforge.api_routes
}

output "api_access_log_group" {
  description = "CloudWatch log group of the API access logs."
  value       = module.videoforge.api_access_log_group
}

output "playback_base_url" {
  description = "CDN origin of playback URLs."
  value       = module.videoforge.playback_base_url
}

output "cdn_distribution_id" {
  description = "CloudFront distribution ID."
  value       = module.videoforge.cdn_distribution_id
}

output "media_bucket_name" {
  description = "Media bucket."
  value       = module.videoforge.media_bucket_name
}

output "artifacts_bucket_name" {
  description = "Bucket to upload releases to."
  value       = module.videoforge.artifacts_bucket_name
}

output "queue_url" {
  description = "Job queue."
  value       = module.videoforge.queue_url
}

output "dlq_url" {
  description = "Dead-letter queue of the jobs."
  value       = module.videoforge.dlq_url
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.videoforge.alarm_topic_arn
}

output "cognito_user_pool_id" {
  description = "User pool ID."
  value       = module.videoforge.cognito_user_pool_id
}

output "cognito_client_id" {
  description = "App client ID."
  value       = module.videoforge.cognito_client_id
}

output "cognito_hosted_ui_url" {
  description = "Base URL of the Cognito hosted UI the pages sign in through (COGNITO_DOMAIN)."
  value       = module.videoforge.cognito_hosted_ui_url
}

output "cognito_issuer" {
  description = "Issuer of the tokens."
  value       = module.videoforge.cognito_issuer
}

output "cognito_jwks_url" {
  description = "JWKS URL of the tokens."
  value       = module.videoforge.cognito_jwks_url
}

output "db_address" {
  description = "Database host."
  value       = module.videoforge.db_address
}

output "db_secret_arn" {
  description = "Secret with the database password."
  value       = module.videoforge.db_secret_arn
}

output "nats_url" {
  description = "NATS cluster URL, without credentials (every client needs a NATS user)."
  value       = module.videoforge.nats_url
}

output "nats_ca_cert_secret_arn" {
  description = "Secrets Manager secret holding the NATS cluster's CA certificate (PEM): nats --tlsca <file> with the reader's tls:// URL."
  value       = module.videoforge.nats_ca_cert_secret_arn
}

output "nats_reader_secret_arn" {
  description = "Secrets Manager secret of the read-only NATS user (username, password, url), for outside subscribers such as the nats CLI."
  value       = module.videoforge.nats_reader_secret_arn
}

output "autoscaling_group_names" {
  description = "Autoscaling groups by role."
  value       = module.videoforge.autoscaling_group_names
}

output "config_path" {
  description = "SSM path of the roles' environment."
  value       = module.videoforge.config_path
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the environment."
  value       = module.videoforge.dashboard_name
}

output "dashboard_url" {
  description = "Console URL of the environment's CloudWatch dashboard."
  value       = module.videoforge.dashboard_url
}

output "alarm_names" {
  description = "Every alarm of the environment; each notifies alarm_topic_arn."
  value       = module.videoforge.alarm_names
}

output "log_groups" {
  description = "CloudWatch log groups by unit (catalog, edge, transcoder, relay when separate, nats) and api (the API's access logs)."
  value       = module.videoforge.log_groups
}

output "gallery_domain_target" {
  description = "Host name gallery_domain_name must point at when route53_zone_id is empty (CNAME)."
  value       = module.videoforge.gallery_domain_target
}

output "playback_domain_target" {
  description = "Host name playback_domain_name must point at when route53_zone_id is empty (CNAME)."
  value       = module.videoforge.playback_domain_target
}

output "web_acl_arns" {
  description = "AWS WAF web ACLs: api (regional, on the internal load balancer behind the HTTP API) and cdn (CloudFront, in us-east-1)."
  value       = module.videoforge.web_acl_arns
}
