output "user_pool_id" {
  description = "ID of the user pool (COGNITO_USER_POOL_ID)."
  value       = aws_cognito_user_pool.this.id
}

output "user_pool_arn" {
  description = "ARN of the user pool."
  value       = aws_cognito_user_pool.this.arn
}

output "client_id" {
  description = "ID of the web app client (COGNITO_CLIENT_ID)."
  value       = aws_cognito_user_pool_client.web.id
}

output "hosted_ui_url" {
  description = "Base URL of the Cognito hosted UI (COGNITO_DOMAIN): https://<prefix>.auth.<region>.amazoncognito.com."
  value       = local.hosted_ui_url
}

output "domain_prefix" {
  description = "Prefix of the hosted UI's domain."
  value       = aws_cognito_user_pool_domain.this.domain
}

output "issuer" {
  description = "Issuer (iss) of the pool's tokens."
  value       = "https://cognito-idp.${data.aws_region.current.region}.amazonaws.com/${aws_cognito_user_pool.this.id}"
}

output "jwks_url" {
  description = "JWKS URL the services check token signatures against."
  value       = "https://cognito-idp.${data.aws_region.current.region}.amazonaws.com/${aws_cognito_user_pool.this.id}/.well-known/jwks.json"
}
