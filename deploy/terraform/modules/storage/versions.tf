terraform {
  required_version = ">= 1.11"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0"
      # CloudFront's certificate and web ACL live in us-east-1, whatever the region.
      configuration_aliases = [aws.us_east_1]
    }
  }
}
