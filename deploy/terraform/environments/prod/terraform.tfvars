# prod: a NAT gateway per availability zone, groups spread over three zones, a multi-AZ
# database with deletion protection, interface endpoints for the configuration reads.
environment     = "prod"
region          = "eu-west-1"
release_version = "v0.1.0"
cors_origins    = ["https://videoforge.example.com"]

vpc_cidr            = "10.50.0.0/16"
single_nat_gateway  = false
interface_endpoints = ["sqs", "ssm", "secretsmanager"]
# Pin the image so that a new Debian AMI rolls out only when you choose:
# ami_id = "ami-0123456789abcdef0"

roles = {
  edge       = { instance_type = "c7g.large", min_size = 3, max_size = 12, desired_capacity = 3 }
  catalog    = { instance_type = "m7g.large", min_size = 2, max_size = 6, desired_capacity = 2 }
  transcoder = { instance_type = "c7g.2xlarge", min_size = 1, max_size = 20, desired_capacity = 2, volume_size = 100 }
}

db_instance_class        = "db.m7g.large"
db_allocated_storage     = 100
db_multi_az              = true
db_backup_retention_days = 14
deletion_protection      = true
nats_instance_type       = "m7g.medium"

# One read replica takes the gallery's listings and searches (the costliest reads,
# CPU-bound at a million videos) off the primary, which takes every write; a listing may
# miss a change for the replica's lag (under a second), GET /videos/{id} never does.
db_read_replicas = 1

alarm_emails               = ["oncall@videoforge.example.com"]
api_throttling_rate_limit  = 2000
api_throttling_burst_limit = 5000

# Logs kept for a quarter (dev keeps the default 30 days).
log_retention_days = 90

# The site and APIs, and playback, on domains of their own (certificates validated and
# alias records created in the Route 53 zone; without a zone, create those records
# yourself). Without them, the execute-api and CloudFront names serve as before.
# gallery_domain_name  = "videoforge.example.com"
# playback_domain_name = "media.videoforge.example.com"
# route53_zone_id      = "Z0123456789EXAMPLE"

# AWS WAF: requests per client address per 5 minutes before it is blocked (defaults:
# API 2000, API writes 300, CDN 10000).
# api_waf_rate_limit_per_ip       = 2000
# api_waf_write_rate_limit_per_ip = 300
# cdn_waf_rate_limit_per_ip       = 10000
