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
}
