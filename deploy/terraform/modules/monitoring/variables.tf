variable "name" {
  description = "Prefix of every resource name, e.g. videoforge-prod."
  type        = string
}

variable "environment" {
  description = "Name of the environment (dev, prod): the environment dimension of the roles' metrics."
  type        = string
}

variable "alarm_topic_arn" {
  description = "SNS topic every alarm notifies, when it fires and when it clears."
  type        = string
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the roles' Prometheus metrics (the compute module's)."
  type        = string
  default     = "VideoForge"
}

variable "nats_metrics_namespace" {
  description = "CloudWatch namespace of the NATS nodes' health metrics (the bus module's)."
  type        = string
}

variable "nats_node_names" {
  description = "Server names of the NATS nodes (the node dimension of their health metrics)."
  type        = list(string)
}

variable "api_id" {
  description = "ID of the HTTP API."
  type        = string
}

variable "api_stage" {
  description = "Stage of the HTTP API."
  type        = string
  default     = "$default"
}

variable "api_access_log_group" {
  description = "Log group of the API's access logs."
  type        = string
}

variable "log_groups" {
  description = "Log groups of the units and the NATS nodes, by unit (catalog, edge, transcoder, relay, nats)."
  type        = map(string)
}

variable "queue_name" {
  description = "Name of the job queue."
  type        = string
}

variable "dlq_name" {
  description = "Name of the job dead-letter queue."
  type        = string
}

variable "queue_alarm_arns" {
  description = "ARNs of the job queue's own alarms (dead letters, oldest job), shown on the dashboard."
  type        = list(string)
  default     = []
}

variable "db_identifier" {
  description = "Identifier of the RDS primary."
  type        = string
}

variable "edge_staleness_seconds" {
  description = "EDGE_STALENESS of the edges in seconds: the edge event-lag alarm fires when an edge applies events older than this."
  type        = number
}

variable "api_5xx_alarm_percent" {
  description = "Share of the API's answers that are 5xx, in percent, above which (for 5 minutes, with at least 10 requests a minute) the 5xx alarm fires."
  type        = number
  default     = 1
}

variable "relay_lag_alarm_seconds" {
  description = "Age of the oldest unpublished outbox row, in seconds, above which (for 3 minutes) the relay-lag alarm fires."
  type        = number
  default     = 60
}

variable "db_cpu_alarm_percent" {
  description = "Database CPU, in percent, above which (for 15 minutes) the database CPU alarm fires."
  type        = number
  default     = 80
}

variable "db_free_storage_alarm_gib" {
  description = "Free database storage, in GiB, below which the storage alarm fires (storage autoscaling grows the volume up to its maximum first)."
  type        = number
  default     = 2
}

variable "db_connections_alarm" {
  description = "Open database connections above which (for 10 minutes) the connections alarm fires; keep it under the instance class's max_connections."
  type        = number
  default     = 80
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "api_web_acl_name" {
  description = "Name of the API's regional WAF web ACL."
  type        = string
}

variable "cdn_web_acl_name" {
  description = "Name of the CDN's WAF web ACL (CloudFront scope, metrics in us-east-1)."
  type        = string
}
