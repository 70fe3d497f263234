# A plan of the whole environment against a mocked AWS provider: every expression,
# count and for_each evaluates, templates render and nothing depends on itself. Run by
# `make tf-check` (deploy/terraform/validate.sh) when the AWS provider is at hand.

mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  mock_data "aws_region" {
    defaults = { region = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_ami" {
    defaults = { id = "ami-0123456789abcdef0", root_device_name = "/dev/xvda" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

# The provider of CloudFront's certificate and web ACL.
mock_provider "aws" {
  alias = "us_east_1"
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  mock_data "aws_region" {
    defaults = { region = "us-east-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_ami" {
    defaults = { id = "ami-0123456789abcdef0", root_device_name = "/dev/xvda" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

run "plan" {
  command = plan

  assert {
    condition     = contains(output.api_routes, "GET /api/gallery/videos/{id}") && contains(output.api_routes, "GET /api/stream/{videoId}")
    error_message = "the API Gateway routes lack the gallery or the stream"
  }

  assert {
    condition     = contains(output.api_routes, "GET /") && contains(output.api_routes, "GET /watch/{id}") && contains(output.api_routes, "GET /assets/{file+}")
    error_message = "the API Gateway routes lack the browser app's pages"
  }

  assert {
    condition     = output.cognito_hosted_ui_url == "https://videoforge-${var.environment}.auth.eu-west-1.amazoncognito.com"
    error_message = "the hosted UI is not at https://videoforge-<environment>.auth.<region>.amazoncognito.com"
  }

  assert {
    condition     = alltrue([for u in split(",", output.nats_url) : startswith(u, "tls://")])
    error_message = "the NATS cluster's client URLs are not tls://"
  }

  assert {
    condition     = output.config_path == "/videoforge-${var.environment}/config"
    error_message = "the roles' configuration is not under /videoforge-<environment>/config"
  }

  assert {
    condition     = length(output.alarm_names) == 9 && alltrue([for k in ["catalog", "edge", "transcoder", "nats", "api"] : contains(keys(output.log_groups), k)])
    error_message = "the environment lacks alarms or log groups"
  }

  assert {
    condition     = output.dashboard_name == "videoforge-${var.environment}"
    error_message = "the dashboard is not named after the environment"
  }
}

# The same environment on its own domains, in a Route 53 zone: certificates, the API's
# custom domain, the CDN's alias, and the URLs that follow them.
run "plan_custom_domains" {
  command = plan

  variables {
    gallery_domain_name  = "videos.example.com"
    playback_domain_name = "media.example.com"
    route53_zone_id      = "Z0123456789EXAMPLE"
  }

  assert {
    condition     = output.playback_base_url == "https://media.example.com"
    error_message = "PLAYBACK_BASE_URL does not follow playback_domain_name"
  }

  assert {
    condition     = output.site_url == "https://videos.example.com/" && output.gallery_url == "https://videos.example.com/api/gallery"
    error_message = "the site and the gallery are not on gallery_domain_name"
  }
}

# Custom domains without a hosted zone: the operator creates the DNS records.
run "plan_custom_domains_without_zone" {
  command = plan

  variables {
    gallery_domain_name  = "videos.example.com"
    playback_domain_name = "media.example.com"
  }

  assert {
    condition     = output.playback_base_url == "https://media.example.com"
    error_message = "PLAYBACK_BASE_URL does not follow playback_domain_name"
  }
}
