variable "name" {
  description = "Prefix of every resource name."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets, one per node, each in its own availability zone."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 3
    error_message = "A JetStream cluster needs three nodes in three availability zones to survive the loss of one."
  }
}

variable "subnet_cidrs" {
  description = "CIDR blocks of subnet_ids, in the same order; each node gets the address .10 of its subnet."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect to the client port 4222 (the service roles)."
  type        = list(string)
}

variable "ami_id" {
  description = "AMI of the nodes (Debian, arm64)."
  type        = string
}

variable "instance_type" {
  description = "Instance type of the nodes (arm64)."
  type        = string
  default     = "t4g.small"
}

variable "volume_size" {
  description = "Size in GiB of each node's JetStream volume."
  type        = number
  default     = 20
}

variable "nats_version" {
  description = "nats-server release installed on the nodes."
  type        = string
  default     = "2.15.2"
}

variable "tls_ca_generation" {
  description = "Generation of the cluster's TLS CA; raising it makes the nodes create a new CA (rotation, see tls.tf)."
  type        = number
  default     = 1
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "environment" {
  description = "Name of the environment (dev, prod): the environment dimension of the nodes' health metrics."
  type        = string
}

variable "log_retention_days" {
  description = "Days the nodes' log group (/<name>/nats) keeps their logs."
  type        = number
  default     = 30
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the nodes' health metrics."
  type        = string
  default     = "VideoForge/NATS"
}
