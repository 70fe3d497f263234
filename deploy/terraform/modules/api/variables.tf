variable "name" {
  description = "Prefix of every resource name."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the internal load balancer and the VPC link."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC (the load balancer's health checks come from it)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the internal load balancer and the VPC link."
  type        = list(string)
}

variable "catalog_port" {
  description = "Port the catalog's gallery API listens on (GALLERY_ADDR)."
  type        = number
  default     = 8080
}

variable "edge_port" {
  description = "Port the edge listens on (EDGE_ADDR)."
  type        = number
  default     = 8081
}

variable "cors_origins" {
  description = "Browser origins allowed to call the API."
  type        = list(string)
}

variable "throttling_rate_limit" {
  description = "Steady-state requests per second the API accepts across all routes."
  type        = number
  default     = 1000
}

variable "throttling_burst_limit" {
  description = "Burst of requests the API accepts above the rate."
  type        = number
  default     = 2000
}

variable "log_retention_days" {
  description = "Days the access logs are kept."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
