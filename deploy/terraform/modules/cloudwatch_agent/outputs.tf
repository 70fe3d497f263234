output "install_script" {
  description = "Bash script that installs the CloudWatch agent (the user data writes it to /usr/local/sbin/install-cloudwatch-agent and runs it)."
  value       = file("${path.module}/install-cloudwatch-agent.sh")
}
