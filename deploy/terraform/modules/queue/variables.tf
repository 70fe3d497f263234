variable "name" {
  description = "Prefix of every resource name."
  type        = string
}

variable "visibility_timeout_seconds" {
  description = "How long a received job stays invisible; must stay above the transcoder's heartbeat interval (it extends the timeout while it works)."
  type        = number
  default     = 300

  validation {
    condition     = var.visibility_timeout_seconds >= 120
    error_message = "visibility_timeout_seconds must leave room for at least one missed heartbeat (>= 120)."
  }
}

variable "max_receive_count" {
  description = "Receives after which a job message moves to the dead-letter queue."
  type        = number
  default     = 5
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic (each must confirm by e-mail)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
