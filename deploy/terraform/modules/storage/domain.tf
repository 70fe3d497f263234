# Playback on a domain of its own (domain_name), optional: an ACM certificate in
# us-east-1 (CloudFront takes its certificates from there), validated by DNS (records
# in route53_zone_id when given; otherwise terraform apply waits until someone creates
# the records `aws acm describe-certificate --region us-east-1` lists), the
# distribution's alias (cdn.tf) and alias records. Without domain_name nothing here
# exists and playback URLs stay on the distribution's own name.

locals {
  custom_domain = var.domain_name != ""
  in_zone       = local.custom_domain && var.route53_zone_id != ""
  validation = {
    for o in flatten(aws_acm_certificate.cdn[*].domain_validation_options) : o.domain_name => o
  }
}

resource "aws_acm_certificate" "cdn" {
  provider          = aws.us_east_1
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
resource "aws_route53_record" "cdn_validation" {
  for_each        = local.in_zone ? toset([var.domain_name]) : toset([])
  zone_id         = var.route53_zone_id
  name            = local.validation[each.key].resource_record_name
  type            = local.validation[each.key].resource_record_type
  records         = [local.validation[each.key].resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "cdn" {
  provider                = aws.us_east_1
  count                   = local.custom_domain ? 1 : 0
  certificate_arn         = aws_acm_certificate.cdn[0].arn
  validation_record_fqdns = local.in_zone ? [for r in aws_route53_record.cdn_validation : r.fqdn] : null
}

resource "aws_route53_record" "cdn" {
  for_each = local.in_zone ? toset(["A", "AAAA"]) : toset([])
  zone_id  = var.route53_zone_id
  name     = var.domain_name
  type     = each.key

  alias {
    name                   = aws_cloudfront_distribution.media.domain_name
    zone_id                = aws_cloudfront_distribution.media.hosted_zone_id
    evaluate_target_health = false
  }
}
