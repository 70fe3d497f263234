# The CloudWatch agent's installation, shared by the service roles' and the NATS nodes'
# user data (one copy of the download, the key check and the signature check). The
# module creates nothing; its output is the script.
