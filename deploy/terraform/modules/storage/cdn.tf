resource "aws_cloudfront_origin_access_control" "media" {
  name                              = "${var.name}-media"
  description                       = "CloudFront reads the media bucket with SigV4."
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

# Playlists: short-lived at the edge (a playlist may be rewritten by a re-transcode).
# The token is not part of the cache key: the function rewrites the URI to
# /videos/<id>/... before the cache is looked up, so every viewer shares one copy.
resource "aws_cloudfront_cache_policy" "playlists" {
  name        = "${var.name}-playlists"
  comment     = "HLS playlists"
  min_ttl     = 0
  default_ttl = var.playlist_ttl_seconds
  max_ttl     = var.playlist_ttl_seconds

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = true
    enable_accept_encoding_brotli = true
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

# Segments, thumbnails, storyboards: immutable once written.
resource "aws_cloudfront_cache_policy" "segments" {
  name        = "${var.name}-segments"
  comment     = "HLS segments, thumbnails and storyboards"
  min_ttl     = 0
  default_ttl = var.segment_ttl_seconds
  max_ttl     = 31536000

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = false
    enable_accept_encoding_brotli = false
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

resource "aws_cloudfront_response_headers_policy" "media" {
  name    = "${var.name}-media"
  comment = "CORS for browser players"

  cors_config {
    access_control_allow_credentials = false
    access_control_max_age_sec       = 3600
    origin_override                  = true
    access_control_allow_headers {
      items = ["*"]
    }
    access_control_allow_methods {
      items = ["GET", "HEAD", "OPTIONS"]
    }
    access_control_allow_origins {
      items = var.cors_origins
    }
  }
}

resource "aws_cloudfront_distribution" "media" {
  enabled         = true
  is_ipv6_enabled = true
  comment         = "${var.name} media"
  price_class     = var.price_class
  http_version    = "http2and3"
  aliases         = local.custom_domain ? [var.domain_name] : []
  web_acl_id      = aws_wafv2_web_acl.cdn.arn
  tags            = var.tags

  origin {
    origin_id                = "media"
    domain_name              = aws_s3_bucket.media.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.media.id
  }

  ordered_cache_behavior {
    path_pattern               = "*.m3u8"
    target_origin_id           = "media"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.playlists.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.media.id
    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.playback_token.arn
    }
  }

  default_cache_behavior {
    target_origin_id           = "media"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = false
    cache_policy_id            = aws_cloudfront_cache_policy.segments.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.media.id
    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.playback_token.arn
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  # CloudFront's own certificate on its default name; with domain_name, the validated
  # certificate from us-east-1 (domain.tf), served by SNI, TLS 1.2 at least.
  viewer_certificate {
    cloudfront_default_certificate = local.custom_domain ? null : true
    acm_certificate_arn            = one(aws_acm_certificate_validation.cdn[*].certificate_arn)
    ssl_support_method             = local.custom_domain ? "sni-only" : null
    minimum_protocol_version       = local.custom_domain ? "TLSv1.2_2021" : null
  }
}
