# The API and the site on a domain of their own (domain_name), optional: an ACM
# certificate in the API's region, validated by DNS (records in route53_zone_id when
# given; otherwise terraform apply waits until someone creates the records that
# `aws acm describe-certificate` lists), an API Gateway custom domain mapped to the
# stage, and alias records. Without domain_name nothing here exists and the API answers
# on its execute-api endpoint as before.

locals {
  custom_domain = var.domain_name != ""
  in_zone       = local.custom_domain && var.route53_zone_id != ""
  validation = {
    for o in flatten(aws_acm_certificate.api[*].domain_validation_options) : o.domain_name => o
  }
}

resource "aws_acm_certificate" "api" {
  count             = local.custom_domain ? 1 : 0
  domain_name       = var.domain_name
  validation_method = "DNS"
  tags              = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

# Keyed by the domain (known when planning), not by the certificate's validation
# options (known once it exists).
resource "aws_route53_record" "api_validation" {
  for_each        = local.in_zone ? toset([var.domain_name]) : toset([])
  zone_id         = var.route53_zone_id
  name            = local.validation[each.key].resource_record_name
  type            = local.validation[each.key].resource_record_type
  records         = [local.validation[each.key].resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "api" {
  count                   = local.custom_domain ? 1 : 0
  certificate_arn         = aws_acm_certificate.api[0].arn
  validation_record_fqdns = local.in_zone ? [for r in aws_route53_record.api_validation : r.fqdn] : null
}

resource "aws_apigatewayv2_domain_name" "api" {
  count       = local.custom_domain ? 1 : 0
  domain_name = var.domain_name
  tags        = var.tags

  domain_name_configuration {
    certificate_arn = aws_acm_certificate_validation.api[0].certificate_arn
    endpoint_type   = "REGIONAL"
    security_policy = "TLS_1_2"
  }
}

resource "aws_apigatewayv2_api_mapping" "api" {
  count       = local.custom_domain ? 1 : 0
  api_id      = aws_apigatewayv2_api.this.id
  domain_name = aws_apigatewayv2_domain_name.api[0].id
  stage       = aws_apigatewayv2_stage.default.id
}

resource "aws_route53_record" "api" {
  for_each = local.in_zone ? toset(["A", "AAAA"]) : toset([])
  zone_id  = var.route53_zone_id
  name     = var.domain_name
  type     = each.key

  alias {
    name                   = aws_apigatewayv2_domain_name.api[0].domain_name_configuration[0].target_domain_name
    zone_id                = aws_apigatewayv2_domain_name.api[0].domain_name_configuration[0].hosted_zone_id
    evaluate_target_health = false
  }
}
