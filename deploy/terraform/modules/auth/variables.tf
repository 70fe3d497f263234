variable "name" {
  description = "Prefix of every resource name."
  type        = string
}

variable "callback_urls" {
  description = "OAuth callback URLs of the web client (hosted UI); empty disables the OAuth flows."
  type        = list(string)
  default     = []
}

variable "logout_urls" {
  description = "Sign-out URLs of the web client."
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
