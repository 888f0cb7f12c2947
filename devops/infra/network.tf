# A VPC with private subnets only: the database, the Glue job and the dashboard have no
# route to the internet. AWS services are reached through VPC endpoints, which is also why
# the Glue job takes its Python packages from a wheelhouse in S3 rather than from PyPI.

resource "aws_vpc" "main" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true # interface endpoints answer on the services' own names

  tags = { Name = local.name }
}

resource "aws_subnet" "private" {
  count             = length(local.azs)
  vpc_id            = aws_vpc.main.id
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, count.index)
  availability_zone = local.azs[count.index]

  tags = { Name = "${local.name}-private-${local.azs[count.index]}" }
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.main.id
  tags   = { Name = "${local.name}-private" }
}

resource "aws_route_table_association" "private" {
  count          = length(aws_subnet.private)
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

# The default security group admits nothing: every resource gets its own group below.
resource "aws_default_security_group" "default" {
  vpc_id = aws_vpc.main.id
}

resource "aws_flow_log" "vpc" {
  vpc_id               = aws_vpc.main.id
  traffic_type         = "REJECT"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow.arn
  iam_role_arn         = aws_iam_role.flow_logs.arn
}

resource "aws_cloudwatch_log_group" "flow" {
  name              = "/fraudit/${var.environment}/vpc-flow"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

# --- Security groups -------------------------------------------------------------------

resource "aws_security_group" "glue" {
  #checkov:skip=CKV2_AWS_5:Attached to the Glue NETWORK connection (aws_glue_connection.vpc), which checkov does not follow
  name        = "${local.name}-glue"
  description = "Glue streaming job: talks to itself (Spark), the database and AWS endpoints"
  vpc_id      = aws_vpc.main.id
}

# Glue requires a self-referencing rule so the driver and executors can talk.
resource "aws_vpc_security_group_ingress_rule" "glue_self" {
  #checkov:skip=CKV_AWS_24:Source is the group itself, not 0.0.0.0/0 (Glue requires all TCP between its workers)
  #checkov:skip=CKV_AWS_25:Source is the group itself, not 0.0.0.0/0
  #checkov:skip=CKV_AWS_260:Source is the group itself, not 0.0.0.0/0
  security_group_id            = aws_security_group.glue.id
  description                  = "Spark driver and executors of the same job"
  referenced_security_group_id = aws_security_group.glue.id
  ip_protocol                  = "tcp"
  from_port                    = 0
  to_port                      = 65535
}

resource "aws_vpc_security_group_egress_rule" "glue_self" {
  security_group_id            = aws_security_group.glue.id
  description                  = "Spark driver and executors of the same job"
  referenced_security_group_id = aws_security_group.glue.id
  ip_protocol                  = "tcp"
  from_port                    = 0
  to_port                      = 65535
}

resource "aws_vpc_security_group_egress_rule" "glue_database" {
  security_group_id            = aws_security_group.glue.id
  description                  = "PostgreSQL"
  referenced_security_group_id = aws_security_group.database.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_egress_rule" "glue_endpoints" {
  security_group_id            = aws_security_group.glue.id
  description                  = "HTTPS to the interface VPC endpoints"
  referenced_security_group_id = aws_security_group.endpoints.id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
}

resource "aws_vpc_security_group_egress_rule" "glue_s3" {
  security_group_id = aws_security_group.glue.id
  description       = "HTTPS to S3 through the gateway endpoint"
  prefix_list_id    = aws_vpc_endpoint.s3.prefix_list_id
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_security_group" "dashboard" {
  name        = "${local.name}-dashboard"
  description = "Dashboard instance: no inbound rule (reached by SSM port-forward)"
  vpc_id      = aws_vpc.main.id
}

resource "aws_vpc_security_group_egress_rule" "dashboard_database" {
  security_group_id            = aws_security_group.dashboard.id
  description                  = "PostgreSQL"
  referenced_security_group_id = aws_security_group.database.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_egress_rule" "dashboard_endpoints" {
  security_group_id            = aws_security_group.dashboard.id
  description                  = "HTTPS to the interface VPC endpoints (SSM, Secrets Manager, Logs)"
  referenced_security_group_id = aws_security_group.endpoints.id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
}

resource "aws_vpc_security_group_egress_rule" "dashboard_s3" {
  security_group_id = aws_security_group.dashboard.id
  description       = "HTTPS to S3 (wheelhouse, OS packages) through the gateway endpoint"
  prefix_list_id    = aws_vpc_endpoint.s3.prefix_list_id
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_security_group" "database" {
  name        = "${local.name}-database"
  description = "PostgreSQL: admits only the Glue job and the dashboard"
  vpc_id      = aws_vpc.main.id
}

resource "aws_vpc_security_group_ingress_rule" "database_from_glue" {
  security_group_id            = aws_security_group.database.id
  description                  = "The Glue streaming job"
  referenced_security_group_id = aws_security_group.glue.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_ingress_rule" "database_from_dashboard" {
  security_group_id            = aws_security_group.database.id
  description                  = "The dashboard"
  referenced_security_group_id = aws_security_group.dashboard.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_security_group" "endpoints" {
  name        = "${local.name}-endpoints"
  description = "Interface VPC endpoints: HTTPS from the stack's own groups"
  vpc_id      = aws_vpc.main.id
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_glue" {
  security_group_id            = aws_security_group.endpoints.id
  description                  = "HTTPS from the Glue job"
  referenced_security_group_id = aws_security_group.glue.id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_dashboard" {
  security_group_id            = aws_security_group.endpoints.id
  description                  = "HTTPS from the dashboard"
  referenced_security_group_id = aws_security_group.dashboard.id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
}

# --- VPC endpoints -----------------------------------------------------------------------

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.main.id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]
}

locals {
  # kinesis-streams: the job's reads and the API's puts; secretsmanager: the database secret
  # and the API key; logs and monitoring: Glue's logs and metrics; glue and sts: the Glue
  # runtime itself; ssm, ssmmessages, ec2messages: Session Manager for the dashboard's
  # port-forward; sagemaker.runtime and xray: the API Lambda's model calls and traces (it
  # runs in the VPC to reach the online store).
  interface_endpoints = toset(["kinesis-streams", "secretsmanager", "logs", "monitoring", "glue", "sts", "ssm", "ssmmessages", "ec2messages", "sagemaker.runtime", "xray"])
}

resource "aws_vpc_endpoint" "interface" {
  for_each            = local.interface_endpoints
  vpc_id              = aws_vpc.main.id
  service_name        = "com.amazonaws.${var.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints.id]
}
