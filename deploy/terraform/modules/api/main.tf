# The public API and site: an API Gateway HTTP API (CORS, throttling, JSON access logs)
# whose routes reach the services through a VPC link and an internal Application Load
# Balancer, which sends /api/gallery/* and the browser app's pages (/, /watch/..., /assets/...)
# to the catalog group and /api/stream/* to the edge group. Paths are forwarded
# unchanged; the catalog answers with and without its prefix. The pages and both APIs
# share one origin (the API's endpoint), so the pages need no CORS.

locals {
  routes = toset(concat(local.gallery_routes, local.tus_routes, local.stream_routes, local.page_routes))
  services = {
    catalog = { port = var.catalog_port, path = "/api/gallery/*", health = "/api/gallery/health", priority = 10 }
    edge    = { port = var.edge_port, path = "/api/stream/*", health = "/api/stream/health", priority = 20 }
  }

  # The load balancer's path patterns of the pages, from their route keys: a {param} or
  # greedy {param+} segment becomes "*" ("GET /watch/{id}" → "/watch/*"). A rule matches
  # at most 5 patterns, hence the chunks, one listener rule each.
  page_path_patterns = [for k in local.page_routes : replace(trimprefix(k, "GET "), "/\\{[^}]+\\}/", "*")]
  page_path_chunks   = chunklist(local.page_path_patterns, 5)
}

resource "aws_security_group" "vpc_link" {
  name        = "${var.name}-vpc-link"
  description = "API Gateway VPC link to the internal load balancer"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-vpc-link" })
}

resource "aws_vpc_security_group_egress_rule" "vpc_link_to_alb" {
  security_group_id            = aws_security_group.vpc_link.id
  description                  = "HTTP to the internal load balancer"
  ip_protocol                  = "tcp"
  from_port                    = 80
  to_port                      = 80
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "Internal load balancer in front of the catalog and the edge"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-alb" })
}

resource "aws_vpc_security_group_ingress_rule" "alb_from_vpc_link" {
  security_group_id            = aws_security_group.alb.id
  description                  = "HTTP from the API Gateway VPC link"
  ip_protocol                  = "tcp"
  from_port                    = 80
  to_port                      = 80
  referenced_security_group_id = aws_security_group.vpc_link.id
}

resource "aws_vpc_security_group_egress_rule" "alb_to_services" {
  for_each          = local.services
  security_group_id = aws_security_group.alb.id
  description       = "To the ${each.key} instances"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = var.vpc_cidr
}

resource "aws_lb" "internal" {
  name                       = substr("${var.name}-api", 0, 32)
  internal                   = true
  load_balancer_type         = "application"
  subnets                    = var.subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  # Appends the peer (API Gateway's VPC link) to X-Forwarded-For, after the client's
  # address API Gateway put there: the edge counts clients 2 entries from the right
  # (EDGE_TRUSTED_PROXIES in the videoforge module).
  xff_header_processing_mode = "append"
  idle_timeout               = 60
  tags                       = var.tags
}

resource "aws_lb_target_group" "service" {
  for_each             = local.services
  name                 = substr("${var.name}-${each.key}", 0, 32)
  port                 = each.value.port
  protocol             = "HTTP"
  vpc_id               = var.vpc_id
  target_type          = "instance"
  deregistration_delay = 15
  tags                 = var.tags

  health_check {
    path                = each.value.health
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.internal.arn
  port              = 80
  protocol          = "HTTP"
  tags              = var.tags

  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "application/json"
      status_code  = "404"
      message_body = jsonencode({ error = { code = "not_found", message = "no such route" } })
    }
  }
}

resource "aws_lb_listener_rule" "service" {
  for_each     = local.services
  listener_arn = aws_lb_listener.http.arn
  priority     = each.value.priority
  tags         = var.tags

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.service[each.key].arn
  }

  condition {
    path_pattern {
      values = [each.value.path]
    }
  }
}

# The browser app's pages and assets, served by the catalog (after the API rules).
resource "aws_lb_listener_rule" "pages" {
  count        = length(local.page_path_chunks)
  listener_arn = aws_lb_listener.http.arn
  priority     = 100 + count.index
  tags         = var.tags

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.service["catalog"].arn
  }

  condition {
    path_pattern {
      values = local.page_path_chunks[count.index]
    }
  }
}

resource "aws_apigatewayv2_vpc_link" "this" {
  name               = var.name
  subnet_ids         = var.subnet_ids
  security_group_ids = [aws_security_group.vpc_link.id]
  tags               = var.tags
}

resource "aws_apigatewayv2_api" "this" {
  name          = var.name
  protocol_type = "HTTP"
  description   = "VideoForge gallery and streaming API"
  tags          = var.tags

  cors_configuration {
    allow_origins  = var.cors_origins
    allow_methods  = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    allow_headers  = ["authorization", "content-type", "tus-resumable", "upload-length", "upload-offset", "upload-metadata"]
    expose_headers = ["location", "retry-after", "tus-resumable", "tus-version", "tus-max-size", "tus-extension", "upload-offset", "upload-length"]
    max_age        = 3600
  }
}

resource "aws_apigatewayv2_integration" "alb" {
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "HTTP_PROXY"
  integration_method     = "ANY"
  integration_uri        = aws_lb_listener.http.arn
  connection_type        = "VPC_LINK"
  connection_id          = aws_apigatewayv2_vpc_link.this.id
  payload_format_version = "1.0"
  timeout_milliseconds   = 29000

  # The client's address as API Gateway saw it, in a header of its own that no client
  # can set (API Gateway overwrites it): the regional WAF on the load balancer counts
  # requests per client by it (waf.tf). X-Forwarded-For stays as it is for the edge.
  request_parameters = {
    "overwrite:header.${local.client_ip_header}" = "$context.identity.sourceIp"
  }
}

resource "aws_apigatewayv2_route" "this" {
  for_each  = local.routes
  api_id    = aws_apigatewayv2_api.this.id
  route_key = each.value
  target    = "integrations/${aws_apigatewayv2_integration.alb.id}"
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/aws/apigateway/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true
  tags        = var.tags

  default_route_settings {
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
    # Count, latency and errors per route (the dashboard's requests and p99 per route):
    # the services' own latency histograms do not reach CloudWatch (see the compute
    # module's observability.tf). CloudWatch bills them as custom metrics per route.
    detailed_metrics_enabled = true
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      ip                 = "$context.identity.sourceIp"
      requestTime        = "$context.requestTime"
      httpMethod         = "$context.httpMethod"
      routeKey           = "$context.routeKey"
      path               = "$context.path"
      status             = "$context.status"
      protocol           = "$context.protocol"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationLatency = "$context.integrationLatency"
      integrationStatus  = "$context.integrationStatus"
      integrationError   = "$context.integrationErrorMessage"
      userAgent          = "$context.identity.userAgent"
    })
  }

  depends_on = [aws_apigatewayv2_route.this]
}
