# Abuse limits in front of the API: AWS WAF. A web ACL cannot be associated with an API
# Gateway HTTP API (only with REST APIs' stages), and this API is an HTTP API, so the
# regional web ACL guards the internal load balancer behind it instead: every request
# the API forwards, and nothing else reaches it, passes through that load balancer. There
# the peer is API Gateway's VPC link, not the client; the API therefore hands the
# client's address to the load balancer in a header it overwrites (client_ip_header),
# and the rate-based rules count by that header (FORWARDED_IP). The managed rule groups
# that read the request itself (the common rule set, known bad inputs) work there as
# anywhere. Amazon's IP reputation list judges the connecting address only, which here
# is always the VPC link's, so it is not in this ACL: it guards the CDN (the storage
# module's web ACL, which sees viewers' addresses), and API Gateway's throttle
# (throttling_rate_limit) stays the API's overall bound.
#
# The numbers (requests per client address per evaluation window; WAF blocks the address
# until its rate falls below the limit again) are variables: waf_rate_limit_per_ip for
# every request, waf_write_rate_limit_per_ip for POST, PUT and DELETE (uploads created,
# videos changed or deleted). Resumable upload chunks (PATCH /api/gallery/tus/...) are
# counted by the first rule only, and the common rule set leaves their bodies alone
# (video bytes match its body patterns by chance, and exceed its body size rule).

locals {
  client_ip_header = "x-videoforge-client-ip"
  tus_prefix       = "/api/gallery/tus/"
}

resource "aws_wafv2_web_acl" "api" {
  name        = "${var.name}-api"
  description = "Abuse limits of the VideoForge API (on the internal load balancer behind the HTTP API)"
  scope       = "REGIONAL"
  tags        = var.tags

  default_action {
    allow {}
  }

  rule {
    name     = "rate-per-client"
    priority = 10
    action {
      block {}
    }
    statement {
      rate_based_statement {
        limit                 = var.waf_rate_limit_per_ip
        evaluation_window_sec = var.waf_rate_window_seconds
        aggregate_key_type    = "FORWARDED_IP"
        forwarded_ip_config {
          header_name       = local.client_ip_header
          fallback_behavior = "MATCH"
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-api-rate-per-client"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "write-rate-per-client"
    priority = 20
    action {
      block {}
    }
    statement {
      rate_based_statement {
        limit                 = var.waf_write_rate_limit_per_ip
        evaluation_window_sec = var.waf_rate_window_seconds
        aggregate_key_type    = "FORWARDED_IP"
        forwarded_ip_config {
          header_name       = local.client_ip_header
          fallback_behavior = "MATCH"
        }
        scope_down_statement {
          regex_match_statement {
            regex_string = "^(POST|PUT|DELETE)$"
            field_to_match {
              method {}
            }
            text_transformation {
              priority = 0
              type     = "NONE"
            }
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-api-write-rate-per-client"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-common"
    priority = 30
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"
        # The gallery's JSON bodies are small, but a tus chunk is megabytes: counted, not
        # blocked, for the chunks the scope-down below lets through anyway.
        rule_action_override {
          name = "SizeRestrictions_BODY"
          action_to_use {
            count {}
          }
        }
        scope_down_statement {
          not_statement {
            statement {
              byte_match_statement {
                search_string         = local.tus_prefix
                positional_constraint = "STARTS_WITH"
                field_to_match {
                  uri_path {}
                }
                text_transformation {
                  priority = 0
                  type     = "NONE"
                }
              }
            }
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-api-aws-common"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-known-bad-inputs"
    priority = 40
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-api-aws-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name}-api"
    sampled_requests_enabled   = true
  }
}

resource "aws_wafv2_web_acl_association" "api" {
  resource_arn = aws_lb.internal.arn
  web_acl_arn  = aws_wafv2_web_acl.api.arn
}
