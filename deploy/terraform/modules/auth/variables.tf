variable "name" {
  description = "Prefix of every resource name."
  type        = string
}

variable "domain_prefix" {
  description = "Prefix of the hosted UI's domain, <prefix>.auth.<region>.amazoncognito.com (unique per region across AWS); empty uses name."
  type        = string
  default     = ""

  validation {
    condition     = var.domain_prefix == "" || (can(regex("^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", var.domain_prefix)) && !can(regex("aws|amazon|cognito", var.domain_prefix)))
    error_message = "domain_prefix is lower-case letters, digits and inner dashes (at most 63), without aws, amazon or cognito."
  }
}

variable "callback_urls" {
  description = "OAuth callback URLs of the web client (hosted UI, code flow): the site's /signin/callback first (the default redirect), then any other."
  type        = list(string)

  validation {
    condition     = length(var.callback_urls) > 0 && alltrue([for u in var.callback_urls : can(regex("^(https://|http://localhost[:/])", u))])
    error_message = "callback_urls needs at least one URL, each https:// (or http://localhost for development)."
  }
}

variable "logout_urls" {
  description = "Sign-out URLs of the web client (where the hosted UI's /logout may send the browser back to)."
  type        = list(string)
  default     = []
}

variable "deletion_protection" {
  description = "Refuse to delete the user pool (prod)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
