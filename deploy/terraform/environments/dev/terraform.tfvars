# dev: the smallest sizes that still run every part as in prod: one NAT gateway, a
# single-AZ database without deletion protection, burstable instances.
environment     = "dev"
region          = "eu-west-1"
release_version = "v0.1.0"
cors_origins    = ["http://localhost:3000", "http://127.0.0.1:8080"]

vpc_cidr           = "10.40.0.0/16"
single_nat_gateway = true

roles = {
  edge       = { instance_type = "t4g.small", min_size = 1, max_size = 2, desired_capacity = 1 }
  catalog    = { instance_type = "t4g.small", min_size = 1, max_size = 2, desired_capacity = 1 }
  transcoder = { instance_type = "c7g.large", min_size = 1, max_size = 2, desired_capacity = 1, volume_size = 50 }
}

db_instance_class   = "db.t4g.micro"
db_multi_az         = false
deletion_protection = false
nats_instance_type  = "t4g.micro"

api_throttling_rate_limit  = 50
api_throttling_burst_limit = 100
log_level                  = "debug"
