# Identity: a Cognito user pool whose users must use a TOTP authenticator app (MFA
# required), its hosted UI on a Cognito prefix domain, and a public app client (no
# secret) for the browser app and the mobile players. The services check the pool's
# RS256 tokens against its JWKS (COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID): the browser
# app signs in through the hosted UI with that same client (authorization code with
# PKCE), so the access tokens it gets carry the client_id the gallery expects.

data "aws_region" "current" {}

locals {
  domain_prefix = var.domain_prefix != "" ? var.domain_prefix : var.name
  # COGNITO_DOMAIN of the gallery: /oauth2/authorize, /oauth2/token, /logout under it.
  hosted_ui_url = "https://${aws_cognito_user_pool_domain.this.domain}.auth.${data.aws_region.current.region}.amazoncognito.com"
}

resource "aws_cognito_user_pool" "this" {
  name                     = var.name
  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]
  mfa_configuration        = "ON"
  deletion_protection      = var.deletion_protection ? "ACTIVE" : "INACTIVE"
  tags                     = var.tags

  software_token_mfa_configuration {
    enabled = true
  }

  password_policy {
    minimum_length                   = 12
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = false
    temporary_password_validity_days = 3
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  admin_create_user_config {
    allow_admin_create_user_only = false
  }

  user_attribute_update_settings {
    attributes_require_verification_before_update = ["email"]
  }
}

# The hosted UI (classic) at https://<prefix>.auth.<region>.amazoncognito.com. A prefix
# is unique per region across all of AWS: set domain_prefix when the default is taken.
resource "aws_cognito_user_pool_domain" "this" {
  domain                = local.domain_prefix
  user_pool_id          = aws_cognito_user_pool.this.id
  managed_login_version = 1
}

# The one app client: the browser app (hosted UI, authorization code with PKCE, tokens
# in the page's sessionStorage) and the mobile players (SRP). Public: a browser cannot
# keep a secret, and PKCE stands in for it. Only the code flow (no implicit tokens in
# URLs), only to the callback URLs given (the site's /signin/callback).
resource "aws_cognito_user_pool_client" "web" {
  name                                 = "${var.name}-web"
  user_pool_id                         = aws_cognito_user_pool.this.id
  generate_secret                      = false
  prevent_user_existence_errors        = "ENABLED"
  enable_token_revocation              = true
  explicit_auth_flows                  = ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
  supported_identity_providers         = ["COGNITO"]
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "email", "profile"]
  callback_urls                        = var.callback_urls
  default_redirect_uri                 = var.callback_urls[0]
  logout_urls                          = var.logout_urls
  # An hour of access and ID token (the page signs in again after it), 30 days of
  # refresh token for the players; 10 minutes to get through a sign-in with its TOTP
  # code (or a first sign-in's authenticator enrolment) in the hosted UI.
  access_token_validity  = 60
  id_token_validity      = 60
  refresh_token_validity = 30
  auth_session_validity  = 10

  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "days"
  }
}
