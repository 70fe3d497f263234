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

variable "domain_name" {
  description = "Domain of the API and the site (e.g. videos.example.com); empty keeps the execute-api endpoint only."
  type        = string
  default     = ""
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone of domain_name, where the certificate's validation records and the alias records are created; empty leaves both to the operator."
  type        = string
  default     = ""
}

variable "waf_rate_limit_per_ip" {
  description = "Requests one client address may make to the API per waf_rate_window_seconds before WAF blocks it (default 2000 per 5 minutes, about 7 a second)."
  type        = number
  default     = 2000
  validation {
    condition     = var.waf_rate_limit_per_ip >= 10 && var.waf_rate_limit_per_ip <= 2000000000
    error_message = "waf_rate_limit_per_ip is between 10 and 2 000 000 000, WAF's bounds on a rate-based rule."
  }
}

variable "waf_write_rate_limit_per_ip" {
  description = "POST, PUT and DELETE requests one client address may make per waf_rate_window_seconds before WAF blocks it (default 300 per 5 minutes)."
  type        = number
  default     = 300
  validation {
    condition     = var.waf_write_rate_limit_per_ip >= 10 && var.waf_write_rate_limit_per_ip <= 2000000000
    error_message = "waf_write_rate_limit_per_ip is between 10 and 2 000 000 000, WAF's bounds on a rate-based rule."
  }
}

variable "waf_rate_window_seconds" {
  description = "Window over which WAF counts a client's requests: 60, 120, 300 or 600."
  type        = number
  default     = 300
  validation {
    condition     = contains([60, 120, 300, 600], var.waf_rate_window_seconds)
    error_message = "waf_rate_window_seconds is one of WAF's windows: 60, 120, 300 or 600."
  }
}
