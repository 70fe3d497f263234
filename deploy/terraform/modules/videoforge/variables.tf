variable "name" {
  description = "Name of the environment's resources, e.g. videoforge-prod."
  type        = string
}

variable "release_version" {
  description = "Release the service roles run (s3://<artifacts bucket>/releases/<release_version>/videoforge-linux-arm64)."
  type        = string
}

variable "cors_origins" {
  description = "Browser origins allowed to call the API, upload to the bucket and fetch media."
  type        = list(string)
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "az_count" {
  description = "Availability zones to spread over (3 for the NATS cluster)."
  type        = number
  default     = 3
}

variable "single_nat_gateway" {
  description = "One NAT gateway instead of one per availability zone."
  type        = bool
  default     = false
}

variable "interface_endpoints" {
  description = "Interface endpoints besides SQS (e.g. ssm, secretsmanager)."
  type        = list(string)
  default     = ["sqs"]
}

variable "ami_id" {
  description = "AMI of every instance; empty picks the newest Debian 12 arm64 image."
  type        = string
  default     = ""
}

variable "roles" {
  description = "Instance type and group size of edge, catalog and transcoder."
  type = map(object({
    instance_type    = string
    min_size         = number
    max_size         = number
    desired_capacity = number
    volume_size      = optional(number, 16)
  }))
}

variable "catalog_extra_roles" {
  description = "Further videoforge roles started on the catalog instances (e.g. relay)."
  type        = list(string)
  default     = []
}

variable "extra_config" {
  description = "More environment variables by scope (common, edge, catalog, transcoder); they win over the generated ones."
  type        = map(map(string))
  default     = {}
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_allocated_storage" {
  description = "Initial database storage in GiB."
  type        = number
  default     = 20
}

variable "db_multi_az" {
  description = "A standby database in another availability zone."
  type        = bool
  default     = false
}

variable "db_read_replicas" {
  description = "Read replicas of the database; the catalog reads the gallery's listings and searches from them (DATABASE_READ_URL), a listing may then miss a change for the replica's lag (typically under a second), GET /videos/{id} never does. 0: every read on the primary."
  type        = number
  default     = 0
}

variable "db_backup_retention_days" {
  description = "Days of database backups."
  type        = number
  default     = 7
}

variable "deletion_protection" {
  description = "Protect the database and the user pool from deletion, keep a final snapshot, and keep non-empty buckets."
  type        = bool
  default     = false
}

variable "nats_instance_type" {
  description = "Instance type of the NATS nodes."
  type        = string
  default     = "t4g.small"
}

variable "nats_volume_size" {
  description = "JetStream volume per NATS node in GiB."
  type        = number
  default     = 20
}

variable "queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the job queue (above the transcoder's heartbeat interval)."
  type        = number
  default     = 300
}

variable "queue_max_receive_count" {
  description = "Receives before a job moves to the dead-letter queue; more than transcoder_max_attempts, since duplicates and hand-backs are receives too."
  type        = number
  default     = 10
}

variable "alarm_emails" {
  description = "Addresses that receive the alarms."
  type        = list(string)
  default     = []
}

variable "api_throttling_rate_limit" {
  description = "Requests per second the API accepts."
  type        = number
  default     = 1000
}

variable "api_throttling_burst_limit" {
  description = "Burst the API accepts above the rate."
  type        = number
  default     = 2000
}

variable "allow_plain_playback_paths" {
  description = "Serve /videos/<id>/... from the CDN without a token. The CDN cannot tell a public video's folder from a private one's, so this exposes private videos to anyone who guesses an id; when false (the default) the services sign every playback URL (PLAYBACK_SIGN_PUBLIC)."
  type        = bool
  default     = false
}

variable "cdn_price_class" {
  description = "CloudFront price class."
  type        = string
  default     = "PriceClass_100"
}

variable "auth_callback_urls" {
  description = "More OAuth callback URLs of the web client, besides the site's <api endpoint>/signin/callback (e.g. http://localhost:8080/signin/callback for a local gallery)."
  type        = list(string)
  default     = []
}

variable "auth_logout_urls" {
  description = "More sign-out URLs of the web client, besides the site's <api endpoint>/."
  type        = list(string)
  default     = []
}

variable "cognito_domain_prefix" {
  description = "Prefix of the Cognito hosted UI's domain (<prefix>.auth.<region>.amazoncognito.com, unique per region across AWS); empty uses name, e.g. videoforge-dev."
  type        = string
  default     = ""
}

variable "upload_url_ttl" {
  description = "UPLOAD_URL_TTL of the catalog: how long an upload may take before the janitor gives it up. A 20 GiB file over tus needs hours on a home connection; presigned PUT URLs end earlier when the instance role's credentials that signed them do."
  type        = string
  default     = "6h"
  validation {
    condition     = can(regex("^[0-9]+(m|h)$", var.upload_url_ttl))
    error_message = "upload_url_ttl is a Go duration in minutes or hours, such as 90m or 6h."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of every role."
  type        = string
  default     = "info"
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "environment" {
  description = "Name of the environment (dev, prod): the environment dimension of the metrics, deployment.environment of the traces, the dashboard's name; empty uses name."
  type        = string
  default     = ""
}

variable "log_retention_days" {
  description = "Days every log group of the environment keeps its logs (the roles', the NATS nodes', the API's access logs)."
  type        = number
  default     = 30
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days is one of CloudWatch Logs' retention periods: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "edge_staleness_seconds" {
  description = "EDGE_STALENESS of the edges in seconds (their reconcile period: how long an edge may serve a changed video's old state when events are lost); the edge event-lag alarm fires past it."
  type        = number
  default     = 30
}

variable "gallery_domain_name" {
  description = "Domain of the site and both APIs (e.g. videos.example.com): an ACM certificate, an API Gateway custom domain, and the site's origin for CORS and the Cognito callback and sign-out URLs. Empty keeps the execute-api endpoint."
  type        = string
  default     = ""
}

variable "playback_domain_name" {
  description = "Domain of the media CDN (e.g. media.example.com): a certificate from us-east-1, the distribution's alias, and PLAYBACK_BASE_URL. Empty keeps the distribution's own name."
  type        = string
  default     = ""
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone holding gallery_domain_name and playback_domain_name: the certificates' validation records and the alias records are created there. Empty: create them yourself (terraform apply waits for the certificates' validation)."
  type        = string
  default     = ""
}

variable "api_waf_rate_limit_per_ip" {
  description = "Requests one client address may make to the API per 5 minutes before AWS WAF blocks it."
  type        = number
  default     = 2000
}

variable "api_waf_write_rate_limit_per_ip" {
  description = "POST, PUT and DELETE requests one client address may make to the API per 5 minutes before AWS WAF blocks it."
  type        = number
  default     = 300
}

variable "cdn_waf_rate_limit_per_ip" {
  description = "Requests one viewer address may make to the media CDN per 5 minutes before AWS WAF blocks it (a player fetches a segment every few seconds)."
  type        = number
  default     = 10000
}
