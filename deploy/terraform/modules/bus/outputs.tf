output "nats_url" {
  description = "Client URL of the cluster, every node listed (NATS_URL), TLS: verify with the CA of ca_cert_secret_arn."
  value       = join(",", [for ip in local.ips : "tls://${ip}:4222"])
}

output "node_ips" {
  description = "Fixed private addresses of the nodes."
  value       = local.ips
}

output "security_group_id" {
  description = "Security group of the nodes."
  value       = aws_security_group.nats.id
}

output "client_secret_arns" {
  description = "Secrets Manager secrets of the NATS users by service role (catalog, edge, transcoder): JSON with username, password and url, the NATS_URL with them in it."
  value = {
    catalog    = aws_secretsmanager_secret.nats["catalog"].arn
    edge       = aws_secretsmanager_secret.nats["reader"].arn
    transcoder = aws_secretsmanager_secret.nats["transcoder"].arn
  }
}

output "ca_cert_secret_arn" {
  description = "Secrets Manager secret holding the cluster's CA certificate (PEM), which clients verify the nodes with (NATS_CA_FILE)."
  value       = aws_secretsmanager_secret.nats_ca_cert.arn
}

output "reader_secret_arn" {
  description = "Secrets Manager secret of the read-only NATS user, for outside subscribers (the nats CLI)."
  value       = aws_secretsmanager_secret.nats["reader"].arn
}

output "node_names" {
  description = "Server names of the nodes (the node dimension of their health metrics)."
  value       = [for i in range(local.nodes) : "${var.name}-nats-${i}"]
}

output "metrics_namespace" {
  description = "CloudWatch namespace of the nodes' health metrics."
  value       = var.metrics_namespace
}

output "log_group_name" {
  description = "CloudWatch log group of the nodes' logs."
  value       = aws_cloudwatch_log_group.nats.name
}
