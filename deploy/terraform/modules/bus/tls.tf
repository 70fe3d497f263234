# TLS for NATS, between the nodes (cluster routes, mutual: each node presents its
# certificate and checks the other's) and to the clients (port 4222; clients still log in
# with their user and password, see auth.tf).
#
# No TLS provider is at hand offline, so Terraform creates two empty secrets and the
# nodes fill them at their first boot (templates/nats.sh.tftpl, /usr/local/sbin/nats-tls):
# - nats/ca: the cluster CA, JSON {cert, key}, read by the nodes only. The first node to
#   boot generates a CA and stores it as the version whose ClientRequestToken is
#   local.ca_version. Secrets Manager refuses a second, different value under the same
#   token, so when the nodes boot together one CA wins and all read that one back.
# - nats/ca-cert: the CA certificate alone (PEM), under the same token (every node
#   writes the same bytes, so repeating it is a no-op). Every service role reads it at
#   every start into /run/videoforge/nats_ca and names it in NATS_CA_FILE (compute module).
# Each node then issues itself a certificate for its fixed address and name, signed by the
# CA, and removes the CA key from its disk.
#
# Rotate the CA by raising var.tls_ca_generation: the nodes' user data changes, so they are
# replaced (and create the new CA under the new token); then refresh every role's
# instances. Between the two, clients holding the old CA cannot verify the new nodes.

locals {
  ca_version = uuidv5("url", "urn:videoforge:${var.name}:nats-ca:${var.tls_ca_generation}")
}

resource "aws_secretsmanager_secret" "nats_ca" {
  name                    = "${var.name}/nats/ca"
  description             = "CA of the VideoForge NATS cluster (JSON: cert, key), created by the first node to boot; the nodes only."
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_secretsmanager_secret" "nats_ca_cert" {
  name                    = "${var.name}/nats/ca-cert"
  description             = "CA certificate (PEM) of the VideoForge NATS cluster, for every client (NATS_CA_FILE)."
  recovery_window_in_days = 7
  tags                    = var.tags
}
