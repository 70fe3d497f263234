# The service roles: one launch template and autoscaling group per role, each instance
# running `videoforge <role>` under systemd with its environment read from SSM Parameter
# Store and its secrets from Secrets Manager at every start (see templates/user_data.sh).

locals {
  service_ports = {
    catalog = var.catalog_port
    edge    = var.edge_port
  }

  # Every parameter the roles read, keyed "<scope>/<VAR>".
  parameters = merge(
    { for k, v in var.common_config : "common/${k}" => v },
    merge([
      for role, cfg in var.role_config : { for k, v in cfg : "${role}/${k}" => v }
    ]...),
  )

  secrets = {
    # NATS_URL carries the role's own NATS user (see the bus module's auth.tf), tls://;
    # NATS_CA (NATS_CA_FILE) is the cluster's CA certificate, PEM, to verify the nodes.
    edge       = { DB_PASSWORD = var.db_secret_arn, PLAYBACK_TOKEN_KEY = var.token_key_secret_arn, NATS_URL = var.nats_secret_arns["edge"], NATS_CA = var.nats_ca_secret_arn }
    catalog    = { DB_PASSWORD = var.db_secret_arn, PLAYBACK_TOKEN_KEY = var.token_key_secret_arn, NATS_URL = var.nats_secret_arns["catalog"], NATS_CA = var.nats_ca_secret_arn }
    transcoder = { DB_PASSWORD = var.db_secret_arn, NATS_URL = var.nats_secret_arns["transcoder"], NATS_CA = var.nats_ca_secret_arn }
  }

  units = {
    edge       = ["edge"]
    catalog    = concat(["catalog"], var.catalog_extra_roles)
    transcoder = ["transcoder"]
  }

  packages = {
    edge       = ""
    catalog    = ""
    transcoder = "ffmpeg"
  }
}

resource "aws_ssm_parameter" "config" {
  for_each    = local.parameters
  name        = "/${var.name}/config/${each.key}"
  description = "videoforge environment variable ${basename(each.key)}"
  type        = "String"
  value       = each.value
  tags        = var.tags
}

resource "aws_security_group" "role" {
  for_each    = toset(local.role_names)
  name        = "${var.name}-${each.key}"
  description = "videoforge ${each.key} instances"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-${each.key}" })
}

resource "aws_vpc_security_group_ingress_rule" "from_alb" {
  for_each                     = local.service_ports
  security_group_id            = aws_security_group.role[each.key].id
  description                  = "HTTP from the internal load balancer"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = var.alb_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "all" {
  for_each          = toset(local.role_names)
  security_group_id = aws_security_group.role[each.key].id
  description       = "PostgreSQL, NATS, AWS APIs (endpoints and NAT), packages"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_launch_template" "role" {
  for_each               = toset(local.role_names)
  name                   = "${var.name}-${each.key}"
  image_id               = var.ami_id
  instance_type          = var.roles[each.key].instance_type
  vpc_security_group_ids = [aws_security_group.role[each.key].id]
  update_default_version = true
  tags                   = var.tags

  iam_instance_profile {
    arn = aws_iam_instance_profile.role[each.key].arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = var.root_device_name
    ebs {
      volume_type           = "gp3"
      volume_size           = var.roles[each.key].volume_size
      encrypted             = true
      delete_on_termination = true
    }
  }

  monitoring {
    enabled = true
  }

  # Compressed (cloud-init unpacks it), to stay well under EC2's 16 KiB of user data.
  user_data = base64gzip(templatefile("${path.module}/templates/user_data.sh.tftpl", {
    role                 = each.key
    units                = local.units[each.key]
    packages             = local.packages[each.key]
    region               = data.aws_region.current.region
    config_path          = "/${var.name}/config"
    secrets              = local.secrets[each.key]
    release_version      = var.release_version
    release_url          = "s3://${var.artifacts_bucket_name}/releases/${var.release_version}/videoforge-linux-arm64"
    log_dir              = local.log_dir
    agent_install_script = module.cloudwatch_agent.install_script
    agent_config         = local.agent_config[each.key]
    prometheus_config    = local.prometheus_config[each.key]
    unit_environment     = local.unit_environment
  }))

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-${each.key}", Role = each.key, Release = var.release_version })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${var.name}-${each.key}", Role = each.key })
  }

  # Parameters must exist before an instance reads them at boot.
  depends_on = [aws_ssm_parameter.config]
}

resource "aws_autoscaling_group" "role" {
  for_each                  = toset(local.role_names)
  name                      = "${var.name}-${each.key}"
  vpc_zone_identifier       = var.subnet_ids
  min_size                  = var.roles[each.key].min_size
  max_size                  = var.roles[each.key].max_size
  desired_capacity          = var.roles[each.key].desired_capacity
  target_group_arns         = contains(keys(local.service_ports), each.key) ? [var.target_group_arns[each.key]] : []
  health_check_type         = contains(keys(local.service_ports), each.key) ? "ELB" : "EC2"
  health_check_grace_period = 180
  default_instance_warmup   = 120
  enabled_metrics           = ["GroupInServiceInstances", "GroupDesiredCapacity", "GroupMaxSize"]

  launch_template {
    id      = aws_launch_template.role[each.key].id
    version = aws_launch_template.role[each.key].latest_version
  }

  # A new launch template version (new release_version, AMI, instance type or
  # configuration layout) replaces the instances a few at a time, keeping most serving.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 90
      max_healthy_percentage = 200
      instance_warmup        = 120
      skip_matching          = true
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = "${var.name}-${each.key}", Role = each.key })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = false
    }
  }

  lifecycle {
    # Scaling policies move the desired capacity; terraform must not move it back.
    ignore_changes = [desired_capacity]
  }
}

module "cloudwatch_agent" {
  source = "../cloudwatch_agent"
}
