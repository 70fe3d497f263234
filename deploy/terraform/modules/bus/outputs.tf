output "nats_url" {
  description = "Client URL of the cluster, every node listed (NATS_URL)."
  value       = join(",", [for ip in local.ips : "nats://${ip}:4222"])
}

output "node_ips" {
  description = "Fixed private addresses of the nodes."
  value       = local.ips
}

output "security_group_id" {
  description = "Security group of the nodes."
  value       = aws_security_group.nats.id
}
