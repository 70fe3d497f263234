variable "name" {
  description = "Prefix of every resource name; the SSM parameters live under /<name>/config/."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the instances."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the groups spread over."
  type        = list(string)
}

variable "ami_id" {
  description = "AMI of the instances (Debian 12, arm64: Debian's ffmpeg for the transcoder)."
  type        = string
}

variable "root_device_name" {
  description = "Root device name of the AMI."
  type        = string
  default     = "/dev/xvda"
}

variable "roles" {
  description = "Size of each role's group: edge, catalog and transcoder."
  type = map(object({
    instance_type    = string
    min_size         = number
    max_size         = number
    desired_capacity = number
    volume_size      = optional(number, 16)
  }))

  validation {
    condition     = length(setsubtract(["edge", "catalog", "transcoder"], keys(var.roles))) == 0 && length(keys(var.roles)) == 3
    error_message = "roles must have exactly the keys edge, catalog and transcoder."
  }

  validation {
    condition     = alltrue([for r in values(var.roles) : r.min_size >= 1 && r.min_size <= r.desired_capacity && r.desired_capacity <= r.max_size])
    error_message = "Each role needs 1 <= min_size <= desired_capacity <= max_size (the transcoder's backlog-per-instance metric divides by instances in service)."
  }
}

variable "catalog_extra_roles" {
  description = "Further videoforge roles started beside the catalog on its instances (e.g. relay, when it does not run inside the catalog)."
  type        = list(string)
  default     = []
}

variable "release_version" {
  description = "Release to run: the binary is s3://<artifacts bucket>/releases/<release_version>/videoforge-linux-arm64. Changing it rolls every group by instance refresh."
  type        = string
}

variable "artifacts_bucket_name" {
  description = "Bucket holding the release binaries."
  type        = string
}

variable "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket."
  type        = string
}

variable "media_bucket_arn" {
  description = "ARN of the media bucket."
  type        = string
}

variable "queue_arn" {
  description = "ARN of the job queue."
  type        = string
}

variable "queue_name" {
  description = "Name of the job queue (scaling metric of the transcoder)."
  type        = string
}

variable "dlq_arn" {
  description = "ARN of the dead-letter queue (the transcoder marks its jobs failed)."
  type        = string
}

variable "db_secret_arn" {
  description = "Secrets Manager secret holding the database password (JSON with username and password)."
  type        = string
}

variable "nats_secret_arns" {
  description = "Secrets Manager secrets of each role's NATS user (catalog, edge, transcoder), JSON whose url is the role's NATS_URL."
  type        = map(string)
}

variable "revocation_kvs_arn" {
  description = "ARN of the CloudFront KeyValueStore whose revoked/<id> entries the relay on the catalog instances writes (REVOCATION_KVS_ARN)."
  type        = string
}

variable "cdn_distribution_arn" {
  description = "ARN of the CloudFront distribution in which the relay invalidates deleted videos (/videos/<id>/*)."
  type        = string
}

variable "nats_ca_secret_arn" {
  description = "Secrets Manager secret holding the NATS cluster's CA certificate (PEM), written to NATS_CA_FILE for every role."
  type        = string
}

variable "token_key_secret_arn" {
  description = "Secrets Manager secret holding the playback token key."
  type        = string
}

variable "common_config" {
  description = "Environment of every role, written to SSM Parameter Store under /<name>/config/common/<VAR>."
  type        = map(string)
}

variable "role_config" {
  description = "Environment of one role, by role, written under /<name>/config/<role>/<VAR>; it wins over common_config."
  type        = map(map(string))
  default     = {}
}

variable "catalog_port" {
  description = "Port of the gallery API (GALLERY_ADDR)."
  type        = number
  default     = 8080
}

variable "edge_port" {
  description = "Port of the edge (EDGE_ADDR)."
  type        = number
  default     = 8081
}

variable "alb_security_group_id" {
  description = "Security group of the internal load balancer."
  type        = string
}

variable "target_group_arns" {
  description = "Target groups of the load balancer by role (catalog, edge)."
  type        = map(string)
}

variable "alb_arn_suffix" {
  description = "ARN suffix of the load balancer (request-count scaling of the edge)."
  type        = string
}

variable "target_group_arn_suffixes" {
  description = "ARN suffixes of the target groups by role (request-count scaling of the edge)."
  type        = map(string)
}

variable "cpu_target_percent" {
  description = "Average CPU the edge and catalog groups are kept at."
  type        = number
  default     = 50
}

variable "edge_requests_per_target" {
  description = "Requests per minute per edge instance the edge group is kept at."
  type        = number
  default     = 60000
}

variable "transcoder_backlog_per_instance" {
  description = "Jobs waiting per transcoder instance the transcoder group is kept at (acceptable wait / time per job)."
  type        = number
  default     = 2
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "environment" {
  description = "Name of the environment (dev, prod): the environment dimension of the metrics and deployment.environment of the traces."
  type        = string
}

variable "log_retention_days" {
  description = "Days the roles' log groups (/<name>/<unit>) keep their logs."
  type        = number
  default     = 30
}

variable "metrics_log_retention_days" {
  description = "Days the group of the agent's EMF metric records (/<name>/metrics) keeps them; the metrics themselves stay in CloudWatch for 15 months."
  type        = number
  default     = 1
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the roles' Prometheus metrics."
  type        = string
  default     = "VideoForge"
}

variable "transcoder_metrics_addr" {
  description = "TRANSCODER_METRICS_ADDR of the transcoder, on the loopback, where the CloudWatch agent scrapes its metrics."
  type        = string
  default     = "127.0.0.1:9100"
}

variable "relay_metrics_addr" {
  description = "RELAY_METRICS_ADDR of a relay running as its own unit on the catalog instances (catalog_extra_roles), on the loopback."
  type        = string
  default     = "127.0.0.1:9101"
}
