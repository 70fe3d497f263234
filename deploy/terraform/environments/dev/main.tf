# One environment (dev, prod: var.environment in its terraform.tfvars). Both share this
# file, variables.tf and outputs.tf (prod's are links to dev's) and differ in their
# terraform.tfvars and backend. State lives in the S3 backend configured at init time:
#   terraform init -backend-config=backend.hcl   (copy backend.hcl.example)
# or, without remote state, terraform init -backend=false for validate only.

terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }

  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "videoforge"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

# CloudFront's certificate and web ACL (the storage module) are made in us-east-1.
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"

  default_tags {
    tags = {
      Project     = "videoforge"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

module "videoforge" {
  source = "../../modules/videoforge"
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  name                             = "videoforge-${var.environment}"
  release_version                  = var.release_version
  cors_origins                     = var.cors_origins
  vpc_cidr                         = var.vpc_cidr
  single_nat_gateway               = var.single_nat_gateway
  interface_endpoints              = var.interface_endpoints
  ami_id                           = var.ami_id
  roles                            = var.roles
  catalog_extra_roles              = var.catalog_extra_roles
  extra_config                     = var.extra_config
  db_instance_class                = var.db_instance_class
  db_allocated_storage             = var.db_allocated_storage
  db_multi_az                      = var.db_multi_az
  db_read_replicas                 = var.db_read_replicas
  db_backup_retention_days         = var.db_backup_retention_days
  deletion_protection              = var.deletion_protection
  nats_instance_type               = var.nats_instance_type
  queue_visibility_timeout_seconds = var.queue_visibility_timeout_seconds
  alarm_emails                     = var.alarm_emails
  api_throttling_rate_limit        = var.api_throttling_rate_limit
  api_throttling_burst_limit       = var.api_throttling_burst_limit
  allow_plain_playback_paths       = var.allow_plain_playback_paths
  auth_callback_urls               = var.auth_callback_urls
  auth_logout_urls                 = var.auth_logout_urls
  cognito_domain_prefix            = var.cognito_domain_prefix
  log_level                        = var.log_level
  environment                      = var.environment
  log_retention_days               = var.log_retention_days
  gallery_domain_name              = var.gallery_domain_name
  playback_domain_name             = var.playback_domain_name
  route53_zone_id                  = var.route53_zone_id
  api_waf_rate_limit_per_ip        = var.api_waf_rate_limit_per_ip
  api_waf_write_rate_limit_per_ip  = var.api_waf_write_rate_limit_per_ip
  cdn_waf_rate_limit_per_ip        = var.cdn_waf_rate_limit_per_ip
}
