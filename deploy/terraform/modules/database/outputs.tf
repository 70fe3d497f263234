output "address" {
  description = "Host name of the database (DB_HOST)."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port of the database (DB_PORT)."
  value       = aws_db_instance.this.port
}

output "database_name" {
  description = "Name of the application database (DB_NAME)."
  value       = aws_db_instance.this.db_name
}

output "username" {
  description = "Master user name (DB_USER)."
  value       = aws_db_instance.this.username
}

output "secret_arn" {
  description = "Secrets Manager secret, managed by RDS, whose JSON holds username and password."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "security_group_id" {
  description = "Security group of the database."
  value       = aws_security_group.db.id
}

output "replica_addresses" {
  description = "Host names of the read replicas (none when read_replicas is 0)."
  value       = aws_db_instance.replica[*].address
}

output "read_url" {
  description = "DATABASE_READ_URL for the catalog: every read replica in one PostgreSQL URL (each catalog process starts at a random one and moves on when it fails), the master user without a password (the catalog takes DB_PASSWORD's), TLS required; empty without replicas."
  value       = length(local.replica_hosts) == 0 ? "" : "postgres://${aws_db_instance.this.username}@${join(",", local.replica_hosts)}/${aws_db_instance.this.db_name}?sslmode=require"
}

output "identifier" {
  description = "Identifier of the primary (DBInstanceIdentifier of its CloudWatch metrics)."
  value       = aws_db_instance.this.identifier
}
