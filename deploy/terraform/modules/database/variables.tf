variable "name" {
  description = "Prefix of every resource name."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the DB subnet group (at least two availability zones)."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect on the PostgreSQL port (the service roles)."
  type        = list(string)
}

variable "engine_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "17"
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "allocated_storage" {
  description = "Initial storage in GiB."
  type        = number
  default     = 20
}

variable "max_allocated_storage" {
  description = "Ceiling for storage autoscaling in GiB."
  type        = number
  default     = 100
}

variable "read_replicas" {
  description = "Read replicas of the primary, from which the catalog reads the gallery's listings and searches (DATABASE_READ_URL); 0: none, every read on the primary."
  type        = number
  default     = 0

  validation {
    condition     = var.read_replicas >= 0 && var.read_replicas <= 5 && floor(var.read_replicas) == var.read_replicas
    error_message = "read_replicas must be a whole number from 0 to 5."
  }
}

variable "replica_instance_class" {
  description = "RDS instance class of the read replicas; empty: the primary's (a smaller replica may fall behind the primary's writes)."
  type        = string
  default     = ""
}

variable "multi_az" {
  description = "A synchronous standby in another availability zone (prod)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (prod); also keeps a final snapshot."
  type        = bool
  default     = false
}

variable "backup_retention_days" {
  description = "Days of automated backups and point-in-time recovery."
  type        = number
  default     = 7
}

variable "database_name" {
  description = "Name of the application database (DB_NAME)."
  type        = string
  default     = "videoforge"
}

variable "username" {
  description = "Master user name (DB_USER); its password is generated and kept in Secrets Manager by RDS."
  type        = string
  default     = "videoforge"
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
