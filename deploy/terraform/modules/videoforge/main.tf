# One VideoForge environment: every part wired together. The environments under
# deploy/terraform/environments call this module with their sizes.

data "aws_region" "current" {}

data "aws_ami" "debian" {
  count       = var.ami_id == "" ? 1 : 0
  most_recent = true
  owners      = ["136693429500"] # Debian's cloud team

  filter {
    name   = "name"
    values = ["debian-12-arm64-*"]
  }

  filter {
    name   = "architecture"
    values = ["arm64"]
  }
}

data "aws_ami" "selected" {
  filter {
    name   = "image-id"
    values = [local.ami_id]
  }
}

locals {
  ami_id       = var.ami_id != "" ? var.ami_id : data.aws_ami.debian[0].id
  catalog_port = 8080
  edge_port    = 8081
  environment  = var.environment != "" ? var.environment : var.name

  # Where the transcoder and a separate relay serve their Prometheus metrics: on the
  # loopback, for the CloudWatch agent (the catalog's and the edge's are on their
  # listeners).
  transcoder_metrics_addr = "127.0.0.1:9100"
  relay_metrics_addr      = "127.0.0.1:9101"

  # The site and both APIs are one origin: the API Gateway's endpoint, or
  # https://<gallery_domain_name> when set (the catalog serves the pages at its root, see
  # the api module). The hosted UI sends the browser back to its /signin/callback. Only
  # the API resource's endpoint is used, not its stage or anything built on the user
  # pool client: no cycle.
  site_origin = var.gallery_domain_name != "" ? "https://${var.gallery_domain_name}" : module.api.api_endpoint
  # With a custom domain the execute-api endpoint keeps answering: sign-in may come back
  # to either.
  site_origins = distinct([local.site_origin, module.api.api_endpoint])

  # Browser origins allowed to call the API, upload to the bucket and fetch media: the
  # ones given, and the site's own domain when it has one (its pages fetch the playlists
  # from the CDN's origin). From the variable, not site_origin: the API takes these.
  cors_origins = distinct(concat(var.cors_origins, var.gallery_domain_name != "" ? ["https://${var.gallery_domain_name}"] : []))

  common_config = merge({
    DB_HOST    = module.database.address
    DB_PORT    = tostring(module.database.port)
    DB_NAME    = module.database.database_name
    DB_USER    = module.database.username
    DB_SSLMODE = "require"
    DB_SCHEMA  = "videoforge"
    # NATS_URL is a secret per role (NATS_URL_FILE): it holds the role's NATS user.
    NATS_STREAM_REPLICAS = "3" # CATALOG and JOBS on every node of the cluster
    SQS_QUEUE_URL        = module.queue.queue_url
    S3_BUCKET_NAME       = module.storage.media_bucket_name
    COGNITO_USER_POOL_ID = module.auth.user_pool_id
    COGNITO_CLIENT_ID    = module.auth.client_id
    AWS_REGION           = data.aws_region.current.region
    PLAYBACK_BASE_URL    = module.storage.playback_base_url
    PLAYBACK_SIGN_PUBLIC = tostring(!var.allow_plain_playback_paths) # the CDN serves nothing without a token
    CORS_ORIGINS         = join(",", local.cors_origins)
    LOG_LEVEL            = var.log_level
  }, lookup(var.extra_config, "common", {}))

  role_config = {
    catalog = merge({
      GALLERY_ADDR     = ":${local.catalog_port}"
      MIGRATE_ON_START = "true"
      UPLOAD_URL_TTL   = var.upload_url_ttl
      # The relay (in the catalog, or `videoforge relay` on the same instances) keeps the
      # CloudFront Function's revocation entries (revoked/<id>) in this KeyValueStore and
      # invalidates deleted videos in this distribution. Both come from the storage
      # module, which depends on nothing in compute: no cycle.
      REVOCATION_KVS_ARN         = module.storage.key_value_store_arn
      REVOCATION_DISTRIBUTION_ID = module.storage.cdn_distribution_id
      # The browser app's pages (package web): they sign in through the hosted UI
      # (authorization code with PKCE, client COGNITO_CLIENT_ID) and call the streaming
      # API on the same origin, where API Gateway routes /api/stream to the edge.
      COGNITO_DOMAIN = module.auth.hosted_ui_url
      STREAM_API_URL = "/api/stream"
      # The gallery's listings and searches read from the read replicas (a URL with no
      # password: the catalog takes DB_PASSWORD's). Only with replicas: a parameter
      # cannot be empty, and the key must be known before the replicas exist.
      }, { for k, v in { DATABASE_READ_URL = module.database.read_url } : k => v if var.db_read_replicas > 0 },
      # A relay in its own unit (catalog_extra_roles) serves its metrics for the agent; one
      # inside the catalog adds them to the catalog's /metrics.
      contains(var.catalog_extra_roles, "relay") ? { RELAY_METRICS_ADDR = local.relay_metrics_addr } : {},
    lookup(var.extra_config, "catalog", {}))
    edge = merge({
      EDGE_ADDR = ":${local.edge_port}"
      # Players reach the edge through API Gateway (HTTP API), which sets X-Forwarded-For
      # to the client's address (after anything the client sent itself), then through
      # the VPC link to the internal ALB, which appends the VPC link's address (its
      # xff_header_processing_mode is "append", see the api module). The client is thus
      # the 2nd entry from the right; entries further left are the client's own words.
      # The edge's security group admits only the ALB, so no one can skip the two hops.
      # (CloudFront is in front of the media bucket only, not of the edge.)
      EDGE_TRUSTED_PROXIES = "2"
      # The pages call the streaming API from the site's origin (the same one in AWS, so
      # no CORS is needed there, but a custom site origin later is) and from the origins
      # allowed to call the API (cors_origins).
      EDGE_CORS_ORIGINS = join(",", distinct(concat([local.site_origin], local.cors_origins)))
      # The reconcile period, and the bound the event-lag alarm holds the edges to: one
      # number for both (monitoring module).
      EDGE_STALENESS = "${var.edge_staleness_seconds}s"
    }, lookup(var.extra_config, "edge", {}))
    transcoder = merge({
      SQS_DLQ_URL             = module.queue.dlq_url
      TRANSCODER_MAX_RECEIVES = tostring(var.queue_max_receive_count)
      TRANSCODER_WORK_DIR     = "/var/lib/videoforge/work"
      TRANSCODER_METRICS_ADDR = local.transcoder_metrics_addr
    }, lookup(var.extra_config, "transcoder", {}))
  }
}

module "network" {
  source              = "../network"
  name                = var.name
  cidr                = var.vpc_cidr
  az_count            = var.az_count
  single_nat_gateway  = var.single_nat_gateway
  interface_endpoints = var.interface_endpoints
  tags                = var.tags
}

module "storage" {
  source = "../storage"
  name   = var.name
  # The site's own origins too: its pages (hls.js) fetch the playlists and segments
  # from the CDN, cross-origin. The storage module depends on nothing of the API's
  # but its endpoint: no cycle.
  cors_origins          = distinct(concat(local.cors_origins, local.site_origins))
  domain_name           = var.playback_domain_name
  route53_zone_id       = var.route53_zone_id
  waf_rate_limit_per_ip = var.cdn_waf_rate_limit_per_ip
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }
  allow_plain_paths = var.allow_plain_playback_paths
  price_class       = var.cdn_price_class
  force_destroy     = !var.deletion_protection
  tags              = var.tags
}

module "queue" {
  source                     = "../queue"
  name                       = var.name
  visibility_timeout_seconds = var.queue_visibility_timeout_seconds
  max_receive_count          = var.queue_max_receive_count
  alarm_emails               = var.alarm_emails
  tags                       = var.tags
}

module "auth" {
  source              = "../auth"
  name                = var.name
  domain_prefix       = var.cognito_domain_prefix
  callback_urls       = distinct(concat([for o in local.site_origins : "${o}/signin/callback"], var.auth_callback_urls))
  logout_urls         = distinct(concat([for o in local.site_origins : "${o}/"], var.auth_logout_urls))
  deletion_protection = var.deletion_protection
  tags                = var.tags
}

module "api" {
  source                      = "../api"
  name                        = var.name
  vpc_id                      = module.network.vpc_id
  vpc_cidr                    = module.network.vpc_cidr
  subnet_ids                  = module.network.private_subnet_ids
  catalog_port                = local.catalog_port
  edge_port                   = local.edge_port
  cors_origins                = local.cors_origins
  domain_name                 = var.gallery_domain_name
  route53_zone_id             = var.route53_zone_id
  waf_rate_limit_per_ip       = var.api_waf_rate_limit_per_ip
  waf_write_rate_limit_per_ip = var.api_waf_write_rate_limit_per_ip
  throttling_rate_limit       = var.api_throttling_rate_limit
  throttling_burst_limit      = var.api_throttling_burst_limit
  log_retention_days          = var.log_retention_days
  tags                        = var.tags
}

module "database" {
  source                    = "../database"
  name                      = var.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  client_security_group_ids = values(module.compute.security_group_ids)
  instance_class            = var.db_instance_class
  allocated_storage         = var.db_allocated_storage
  multi_az                  = var.db_multi_az
  read_replicas             = var.db_read_replicas
  deletion_protection       = var.deletion_protection
  backup_retention_days     = var.db_backup_retention_days
  tags                      = var.tags
}

module "bus" {
  source                    = "../bus"
  name                      = var.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  subnet_cidrs              = module.network.private_subnet_cidrs
  client_security_group_ids = values(module.compute.security_group_ids)
  ami_id                    = local.ami_id
  instance_type             = var.nats_instance_type
  volume_size               = var.nats_volume_size
  environment               = local.environment
  log_retention_days        = var.log_retention_days
  tags                      = var.tags
}

module "monitoring" {
  source                 = "../monitoring"
  name                   = var.name
  environment            = local.environment
  alarm_topic_arn        = module.queue.alarm_topic_arn
  metrics_namespace      = module.compute.metrics_namespace
  nats_metrics_namespace = module.bus.metrics_namespace
  nats_node_names        = module.bus.node_names
  api_id                 = module.api.api_id
  api_stage              = module.api.stage_name
  api_access_log_group   = module.api.access_log_group
  log_groups             = merge(module.compute.log_group_names, { nats = module.bus.log_group_name })
  queue_name             = module.queue.queue_name
  dlq_name               = module.queue.dlq_name
  queue_alarm_arns       = module.queue.alarm_arns
  db_identifier          = module.database.identifier
  edge_staleness_seconds = var.edge_staleness_seconds
  api_web_acl_name       = module.api.web_acl_name
  cdn_web_acl_name       = module.storage.web_acl_name
  tags                   = var.tags
}

module "compute" {
  source                    = "../compute"
  name                      = var.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  ami_id                    = local.ami_id
  root_device_name          = data.aws_ami.selected.root_device_name
  roles                     = var.roles
  catalog_extra_roles       = var.catalog_extra_roles
  release_version           = var.release_version
  artifacts_bucket_name     = module.storage.artifacts_bucket_name
  artifacts_bucket_arn      = module.storage.artifacts_bucket_arn
  media_bucket_arn          = module.storage.media_bucket_arn
  queue_arn                 = module.queue.queue_arn
  queue_name                = module.queue.queue_name
  dlq_arn                   = module.queue.dlq_arn
  db_secret_arn             = module.database.secret_arn
  token_key_secret_arn      = module.storage.token_key_secret_arn
  revocation_kvs_arn        = module.storage.key_value_store_arn
  cdn_distribution_arn      = module.storage.cdn_distribution_arn
  nats_secret_arns          = module.bus.client_secret_arns
  nats_ca_secret_arn        = module.bus.ca_cert_secret_arn
  common_config             = local.common_config
  role_config               = local.role_config
  catalog_port              = local.catalog_port
  edge_port                 = local.edge_port
  alb_security_group_id     = module.api.alb_security_group_id
  target_group_arns         = module.api.target_group_arns
  alb_arn_suffix            = module.api.alb_arn_suffix
  target_group_arn_suffixes = module.api.target_group_arn_suffixes
  environment               = local.environment
  log_retention_days        = var.log_retention_days
  transcoder_metrics_addr   = local.transcoder_metrics_addr
  relay_metrics_addr        = local.relay_metrics_addr
  tags                      = var.tags
}
