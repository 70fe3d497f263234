# The event bus: a three-node NATS JetStream cluster, one node per availability zone.
# Each node owns a network interface with a fixed address (the cluster routes and
# NATS_URL name those) and an encrypted EBS volume for its JetStream store, both of which
# outlive the instance: replacing a node (new AMI, new nats_version) keeps its data and
# address, and the cluster re-syncs it from the other two.

locals {
  nodes  = 3
  ips    = [for i in range(local.nodes) : cidrhost(var.subnet_cidrs[i], 10)]
  routes = join(", ", [for ip in local.ips : "\"nats-route://${ip}:6222\""])
}

data "aws_subnet" "node" {
  count = local.nodes
  id    = var.subnet_ids[count.index]
}

resource "aws_security_group" "nats" {
  name        = "${var.name}-nats"
  description = "NATS clients from the services, cluster routes between the nodes"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-nats" })
}

resource "aws_vpc_security_group_ingress_rule" "clients" {
  count                        = length(var.client_security_group_ids)
  security_group_id            = aws_security_group.nats.id
  description                  = "NATS clients"
  ip_protocol                  = "tcp"
  from_port                    = 4222
  to_port                      = 4222
  referenced_security_group_id = var.client_security_group_ids[count.index]
}

resource "aws_vpc_security_group_ingress_rule" "routes" {
  security_group_id            = aws_security_group.nats.id
  description                  = "Cluster routes between the nodes"
  ip_protocol                  = "tcp"
  from_port                    = 6222
  to_port                      = 6222
  referenced_security_group_id = aws_security_group.nats.id
}

resource "aws_vpc_security_group_ingress_rule" "monitor" {
  security_group_id            = aws_security_group.nats.id
  description                  = "Monitoring endpoint between the nodes"
  ip_protocol                  = "tcp"
  from_port                    = 8222
  to_port                      = 8222
  referenced_security_group_id = aws_security_group.nats.id
}

resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.nats.id
  description       = "Routes to the other nodes and package downloads through the NAT"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_network_interface" "node" {
  count           = local.nodes
  subnet_id       = var.subnet_ids[count.index]
  private_ips     = [local.ips[count.index]]
  security_groups = [aws_security_group.nats.id]
  tags            = merge(var.tags, { Name = "${var.name}-nats-${count.index}" })
}

resource "aws_ebs_volume" "store" {
  count             = local.nodes
  availability_zone = data.aws_subnet.node[count.index].availability_zone
  size              = var.volume_size
  type              = "gp3"
  encrypted         = true
  tags              = merge(var.tags, { Name = "${var.name}-nats-${count.index}" })
}

data "aws_region" "current" {}

resource "aws_instance" "node" {
  count                = local.nodes
  ami                  = var.ami_id
  instance_type        = var.instance_type
  iam_instance_profile = aws_iam_instance_profile.node.name

  primary_network_interface {
    network_interface_id = aws_network_interface.node[count.index].id
  }

  metadata_options {
    http_tokens   = "required"
    http_endpoint = "enabled"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 8
    encrypted   = true
  }

  user_data_replace_on_change = true
  # Compressed (cloud-init unpacks it): the script with its TLS, users, logs and health
  # is near EC2's 16 KiB limit on user data in plain text.
  user_data_base64 = base64gzip(templatefile("${path.module}/templates/nats.sh.tftpl", {
    server_name   = "${var.name}-nats-${count.index}"
    node_ip       = local.ips[count.index]
    ca_secret_arn = aws_secretsmanager_secret.nats_ca.arn
    ca_cert_arn   = aws_secretsmanager_secret.nats_ca_cert.arn
    ca_version    = local.ca_version
    cluster_name  = var.name
    routes        = local.routes
    nats_version  = var.nats_version
    region        = data.aws_region.current.region
    authorization = local.nats_authorization
    users         = { for u in local.nats_users : u => aws_secretsmanager_secret.nats[u].arn }
    # Logs and health (observability.tf).
    log_dir              = local.log_dir
    agent_config         = local.agent_config
    agent_install_script = module.cloudwatch_agent.install_script
    environment          = var.environment
    metrics_namespace    = var.metrics_namespace
  }))

  tags = merge(var.tags, { Name = "${var.name}-nats-${count.index}", Role = "nats" })
}

resource "aws_volume_attachment" "store" {
  count       = local.nodes
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.store[count.index].id
  instance_id = aws_instance.node[count.index].id
}
