output "queue_url" {
  description = "URL of the job queue (SQS_QUEUE_URL)."
  value       = aws_sqs_queue.jobs.id
}

output "queue_arn" {
  description = "ARN of the job queue."
  value       = aws_sqs_queue.jobs.arn
}

output "queue_name" {
  description = "Name of the job queue (the transcoder's scaling metric)."
  value       = aws_sqs_queue.jobs.name
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dlq.id
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm of the stack notifies."
  value       = aws_sns_topic.alarms.arn
}

output "dlq_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dlq.name
}

output "alarm_arns" {
  description = "ARNs of the queue's alarms (dead letters, oldest job)."
  value       = [aws_cloudwatch_metric_alarm.dlq_depth.arn, aws_cloudwatch_metric_alarm.oldest_job.arn]
}
