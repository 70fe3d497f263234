output "dashboard_name" {
  description = "Name of the environment's CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "dashboard_url" {
  description = "Console URL of the environment's CloudWatch dashboard."
  value       = "https://${local.region}.console.aws.amazon.com/cloudwatch/home?region=${local.region}#dashboards/dashboard/${aws_cloudwatch_dashboard.this.dashboard_name}"
}

output "alarm_names" {
  description = "Names of the alarms this module adds (the queue module has the dead-letter and oldest-job alarms)."
  value = [
    aws_cloudwatch_metric_alarm.api_5xx.alarm_name,
    aws_cloudwatch_metric_alarm.relay_lag.alarm_name,
    aws_cloudwatch_metric_alarm.edge_event_lag.alarm_name,
    aws_cloudwatch_metric_alarm.db_cpu.alarm_name,
    aws_cloudwatch_metric_alarm.db_free_storage.alarm_name,
    aws_cloudwatch_metric_alarm.db_connections.alarm_name,
    aws_cloudwatch_metric_alarm.nats_health.alarm_name,
  ]
}
