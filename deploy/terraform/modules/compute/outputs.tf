output "security_group_ids" {
  description = "Security groups of the role instances, by role."
  value       = { for k, sg in aws_security_group.role : k => sg.id }
}

output "autoscaling_group_names" {
  description = "Autoscaling groups by role (for aws autoscaling start-instance-refresh)."
  value       = { for k, g in aws_autoscaling_group.role : k => g.name }
}

output "instance_role_arns" {
  description = "IAM roles of the instances, by role."
  value       = { for k, r in aws_iam_role.role : k => r.arn }
}

output "config_path" {
  description = "SSM Parameter Store path the roles read their environment from."
  value       = "/${var.name}/config"
}

output "log_group_names" {
  description = "CloudWatch log groups of the videoforge units, by unit (catalog, edge, transcoder, and relay when it runs as its own unit)."
  value       = { for k, g in aws_cloudwatch_log_group.unit : k => g.name }
}

output "metrics_namespace" {
  description = "CloudWatch namespace of the units' Prometheus metrics."
  value       = var.metrics_namespace
}
