variable "environment" {
  description = "Name of the environment (dev, prod): resource names are videoforge-<environment>."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.environment))
    error_message = "environment must be lower-case letters, digits and dashes."
  }
}

variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "release_version" {
  description = "Release the roles run; upload bin/videoforge (linux/arm64) to s3://<artifacts_bucket_name>/releases/<release_version>/videoforge-linux-arm64 first."
  type        = string
}

variable "cors_origins" {
  description = "Browser origins allowed to call the API and play media."
  type        = list(string)
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
}

variable "single_nat_gateway" {
  description = "One NAT gateway for the whole VPC."
  type        = bool
}

variable "interface_endpoints" {
  description = "Interface endpoints besides SQS."
  type        = list(string)
  default     = ["sqs"]
}

variable "ami_id" {
  description = "AMI of every instance; empty picks the newest Debian 12 arm64 image (pin it in prod so a new image rolls out only when you choose)."
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
  description = "More environment variables by scope (common, edge, catalog, transcoder)."
  type        = map(map(string))
  default     = {}
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "db_allocated_storage" {
  description = "Initial database storage in GiB."
  type        = number
  default     = 20
}

variable "db_multi_az" {
  description = "A standby database in another availability zone."
  type        = bool
}

variable "db_read_replicas" {
  description = "Read replicas for the gallery's listings and searches (DATABASE_READ_URL); dev has none, prod one (terraform.tfvars)."
  type        = number
  default     = 0
}

variable "db_backup_retention_days" {
  description = "Days of database backups."
  type        = number
  default     = 7
}

variable "deletion_protection" {
  description = "Protect the database, the user pool and non-empty buckets from deletion."
  type        = bool
}

variable "nats_instance_type" {
  description = "Instance type of the NATS nodes."
  type        = string
}

variable "queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the job queue."
  type        = number
  default     = 300
}

variable "alarm_emails" {
  description = "Addresses that receive the alarms."
  type        = list(string)
  default     = []
}

variable "api_throttling_rate_limit" {
  description = "Requests per second the API accepts."
  type        = number
}

variable "api_throttling_burst_limit" {
  description = "Burst the API accepts above the rate."
  type        = number
}

variable "allow_plain_playback_paths" {
  description = "Serve /videos/<id>/... from the CDN without a token. The CDN cannot tell a public video's folder from a private one's, so this exposes private videos to anyone who guesses an id; when false (the default) the services sign every playback URL (PLAYBACK_SIGN_PUBLIC)."
  type        = bool
  default     = false
}

variable "auth_callback_urls" {
  description = "More OAuth callback URLs of the web client, besides the site's <api endpoint>/signin/callback."
  type        = list(string)
  default     = []
}

variable "auth_logout_urls" {
  description = "More sign-out URLs of the web client, besides the site's <api endpoint>/."
  type        = list(string)
  default     = []
}

variable "cognito_domain_prefix" {
  description = "Prefix of the Cognito hosted UI's domain (<prefix>.auth.<region>.amazoncognito.com, unique per region across AWS); empty uses videoforge-<environment>."
  type        = string
  default     = ""
}

variable "log_level" {
  description = "LOG_LEVEL of every role."
  type        = string
  default     = "info"
}

variable "log_retention_days" {
  description = "Days every log group of the environment keeps its logs."
  type        = number
  default     = 30
}

variable "gallery_domain_name" {
  description = "Domain of the site and both APIs (e.g. videos.example.com); empty keeps the execute-api endpoint."
  type        = string
  default     = ""
}

variable "playback_domain_name" {
  description = "Domain of the media CDN (e.g. media.example.com); empty keeps the distribution's own name."
  type        = string
  default     = ""
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone of the two domains, for the certificates' validation and the alias records; empty: create those records yourself."
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
  description = "Requests one viewer address may make to the media CDN per 5 minutes before AWS WAF blocks it."
  type        = number
  default     = 10000
}
