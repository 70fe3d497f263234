output "api_url" {
  description = "Base URL of the API: append /api/gallery/... or /api/stream/...; on domain_name when set."
  value       = local.custom_domain ? "https://${var.domain_name}/" : aws_apigatewayv2_stage.default.invoke_url
}

output "api_endpoint" {
  description = "Origin of the API and the site (https://<api id>.execute-api.<region>.amazonaws.com, no trailing slash); known from the API alone, before its stage, routes or anything that uses the callback URLs."
  value       = aws_apigatewayv2_api.this.api_endpoint
}

output "site_url" {
  description = "URL of the browser app (the gallery's pages at the API's root), on domain_name when set."
  value       = local.custom_domain ? "https://${var.domain_name}/" : "${aws_apigatewayv2_api.this.api_endpoint}/"
}

output "api_id" {
  description = "ID of the HTTP API."
  value       = aws_apigatewayv2_api.this.id
}

output "routes" {
  description = "Route keys of the HTTP API."
  value       = sort(tolist(local.routes))
}

output "alb_security_group_id" {
  description = "Security group of the internal load balancer (the services accept traffic from it)."
  value       = aws_security_group.alb.id
}

output "alb_dns_name" {
  description = "DNS name of the internal load balancer (reachable inside the VPC only)."
  value       = aws_lb.internal.dns_name
}

output "alb_arn_suffix" {
  description = "ARN suffix of the load balancer, for request-count scaling."
  value       = aws_lb.internal.arn_suffix
}

output "target_group_arns" {
  description = "Target groups by service: catalog, edge."
  value       = { for k, tg in aws_lb_target_group.service : k => tg.arn }
}

output "target_group_arn_suffixes" {
  description = "Target group ARN suffixes by service, for request-count scaling."
  value       = { for k, tg in aws_lb_target_group.service : k => tg.arn_suffix }
}

output "access_log_group" {
  description = "CloudWatch log group of the API's access logs."
  value       = aws_cloudwatch_log_group.access.name
}

output "stage_name" {
  description = "Name of the API's stage (the Stage dimension of its metrics)."
  value       = aws_apigatewayv2_stage.default.name
}

output "domain_target" {
  description = "Host name domain_name must point at (CNAME or alias) when Route 53 does not hold it; empty without domain_name."
  value       = one(aws_apigatewayv2_domain_name.api[*].domain_name_configuration[0].target_domain_name)
}

output "web_acl_arn" {
  description = "ARN of the regional WAF web ACL guarding the API (on its internal load balancer)."
  value       = aws_wafv2_web_acl.api.arn
}

output "alb_arn" {
  description = "ARN of the internal load balancer behind the API."
  value       = aws_lb.internal.arn
}

output "web_acl_name" {
  description = "Name of the regional WAF web ACL guarding the API."
  value       = aws_wafv2_web_acl.api.name
}
