variable "name" {
  description = "Prefix of every resource name, e.g. videoforge-prod."
  type        = string
}

variable "cidr" {
  description = "CIDR block of the VPC; split into /20 subnets, public first, then private."
  type        = string
  default     = "10.40.0.0/16"
}

variable "az_count" {
  description = "Number of availability zones to spread subnets over (at least 3 for the NATS cluster)."
  type        = number
  default     = 3

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 6
    error_message = "az_count must be between 2 and 6."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all private subnets (cheap, dev) instead of one per availability zone (prod)."
  type        = bool
  default     = false
}

variable "interface_endpoints" {
  description = "AWS services reached through interface endpoints from the private subnets (sqs always; add ssm, secretsmanager, logs... to keep that traffic off the NAT)."
  type        = list(string)
  default     = ["sqs"]
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
