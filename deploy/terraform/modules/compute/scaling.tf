# Scaling: the edge on CPU and on requests per instance, the catalog on CPU, the
# transcoder on the queue backlog per instance (jobs waiting / instances in service), the
# metric AWS recommends for queue workers (the transcoder group keeps at least one
# instance, so the division is defined).

resource "aws_autoscaling_policy" "cpu" {
  for_each               = toset(["edge", "catalog"])
  name                   = "${var.name}-${each.key}-cpu"
  autoscaling_group_name = aws_autoscaling_group.role[each.key].name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    target_value = var.cpu_target_percent
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
  }
}

resource "aws_autoscaling_policy" "edge_requests" {
  name                   = "${var.name}-edge-requests"
  autoscaling_group_name = aws_autoscaling_group.role["edge"].name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    target_value = var.edge_requests_per_target
    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${var.alb_arn_suffix}/${var.target_group_arn_suffixes["edge"]}"
    }
  }
}

resource "aws_autoscaling_policy" "transcoder_backlog" {
  name                   = "${var.name}-transcoder-backlog"
  autoscaling_group_name = aws_autoscaling_group.role["transcoder"].name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    target_value = var.transcoder_backlog_per_instance

    customized_metric_specification {
      metrics {
        id          = "backlog"
        label       = "Jobs waiting"
        return_data = false
        metric_stat {
          stat = "Sum"
          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesVisible"
            dimensions {
              name  = "QueueName"
              value = var.queue_name
            }
          }
        }
      }

      metrics {
        id          = "instances"
        label       = "Transcoders in service"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "AWS/AutoScaling"
            metric_name = "GroupInServiceInstances"
            dimensions {
              name  = "AutoScalingGroupName"
              value = aws_autoscaling_group.role["transcoder"].name
            }
          }
        }
      }

      metrics {
        id          = "backlog_per_instance"
        label       = "Jobs waiting per transcoder"
        expression  = "backlog / instances"
        return_data = true
      }
    }
  }
}
