terraform {
  required_version = ">= 1.11"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0"
      # The storage module's CloudFront certificate and web ACL live in us-east-1.
      configuration_aliases = [aws.us_east_1]
    }
  }
}
