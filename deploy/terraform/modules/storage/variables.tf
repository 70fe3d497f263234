variable "name" {
  description = "Prefix of every resource name; also the start of the bucket names."
  type        = string
}

variable "cors_origins" {
  description = "Browser origins allowed to upload to the bucket and to fetch media from the CDN."
  type        = list(string)
}

variable "abandoned_upload_days" {
  description = "Days after which objects under uploads/ (sources never completed or already transcoded) expire."
  type        = number
  default     = 7
}

variable "noncurrent_version_days" {
  description = "Days a replaced or deleted object version is kept before it expires."
  type        = number
  default     = 30
}

variable "allow_plain_paths" {
  description = "Serve /videos/<id>/... without a token (public videos, per DESIGN.md). false makes every request need a token."
  type        = bool
  default     = true
}

variable "price_class" {
  description = "CloudFront price class."
  type        = string
  default     = "PriceClass_100"
}

variable "playlist_ttl_seconds" {
  description = "Default and maximum cache time of HLS playlists (*.m3u8) at the edge."
  type        = number
  default     = 60
}

variable "segment_ttl_seconds" {
  description = "Default cache time of segments, thumbnails and storyboards, which never change once written."
  type        = number
  default     = 86400
}

variable "force_destroy" {
  description = "Let terraform destroy delete non-empty buckets (dev only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "domain_name" {
  description = "Domain the distribution answers on for playback (e.g. media.example.com), with its certificate from us-east-1; empty keeps the distribution's own name."
  type        = string
  default     = ""
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone of domain_name, where the certificate's validation records and the alias records are created; empty leaves both to the operator."
  type        = string
  default     = ""
}

variable "waf_rate_limit_per_ip" {
  description = "Requests one viewer address may make to the CDN per waf_rate_window_seconds before WAF blocks it. A viewer fetches a segment every few seconds, so the default 10000 per 5 minutes leaves room for some 50 to 100 players behind one address (an office, a campus NAT)."
  type        = number
  default     = 10000
  validation {
    condition     = var.waf_rate_limit_per_ip >= 10 && var.waf_rate_limit_per_ip <= 2000000000
    error_message = "waf_rate_limit_per_ip is between 10 and 2 000 000 000, WAF's bounds on a rate-based rule."
  }
}

variable "waf_rate_window_seconds" {
  description = "Window over which WAF counts a viewer's requests: 60, 120, 300 or 600."
  type        = number
  default     = 300
  validation {
    condition     = contains([60, 120, 300, 600], var.waf_rate_window_seconds)
    error_message = "waf_rate_window_seconds is one of WAF's windows: 60, 120, 300 or 600."
  }
}
