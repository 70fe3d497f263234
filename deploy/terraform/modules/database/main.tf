# The source of truth: RDS PostgreSQL in private subnets, encrypted at rest, TLS forced,
# the master password generated and rotated by RDS in Secrets Manager; optionally read
# replicas (read_replicas) that the catalog reads its listings and searches from
# (DATABASE_READ_URL, see the read_url output).

resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_security_group" "db" {
  name        = "${var.name}-db"
  description = "PostgreSQL from the VideoForge services only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-db" })
}

resource "aws_vpc_security_group_ingress_rule" "clients" {
  count                        = length(var.client_security_group_ids)
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from a service role"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = var.client_security_group_ids[count.index]
}

resource "aws_db_parameter_group" "this" {
  name   = var.name
  family = "postgres${var.engine_version}"
  tags   = var.tags

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "500"
  }

  # On a read replica (which shares this group): the primary keeps the rows a replica's
  # queries still read, so that replay does not cancel listings ("conflict with
  # recovery"); the catalog's statements are bounded (DB_STATEMENT_TIMEOUT), so the
  # bloat this holds back is seconds' worth. Ignored by the primary.
  parameter {
    name  = "hot_standby_feedback"
    value = "1"
  }
}

resource "aws_db_instance" "this" {
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class

  db_name                     = var.database_name
  username                    = var.username
  manage_master_user_password = true

  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  parameter_group_name   = aws_db_parameter_group.this.name
  publicly_accessible    = false
  multi_az               = var.multi_az

  backup_retention_period    = var.backup_retention_days
  backup_window              = "03:00-04:00"
  maintenance_window         = "sun:04:30-sun:05:30"
  auto_minor_version_upgrade = true
  copy_tags_to_snapshot      = true

  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = !var.deletion_protection
  final_snapshot_identifier = var.deletion_protection ? "${var.name}-final" : null

  performance_insights_enabled = true
  tags                         = var.tags
}

# Read replicas: asynchronous streaming copies of the primary (RDS typically keeps them
# under a second behind; ReplicaLag in CloudWatch), with the primary's users, its
# parameter group and security group, in its subnet group. They serve only the
# gallery's listings and searches: GET /videos/{id} and every write stay on the primary.
resource "aws_db_instance" "replica" {
  count               = var.read_replicas
  identifier          = "${var.name}-replica-${count.index + 1}"
  replicate_source_db = aws_db_instance.this.identifier
  instance_class      = var.replica_instance_class != "" ? var.replica_instance_class : var.instance_class

  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true

  vpc_security_group_ids = [aws_security_group.db.id]
  parameter_group_name   = aws_db_parameter_group.this.name
  publicly_accessible    = false
  multi_az               = false

  backup_retention_period    = 0 # the primary's backups cover the data
  maintenance_window         = "sun:05:30-sun:06:30"
  auto_minor_version_upgrade = true

  deletion_protection = var.deletion_protection
  skip_final_snapshot = true

  performance_insights_enabled = true
  tags                         = merge(var.tags, { Role = "read-replica" })

  lifecycle {
    precondition {
      condition     = var.backup_retention_days > 0
      error_message = "read replicas need the primary's automated backups (backup_retention_days > 0)."
    }
  }
}

locals {
  replica_hosts = [for r in aws_db_instance.replica : "${r.address}:${r.port}"]
}
