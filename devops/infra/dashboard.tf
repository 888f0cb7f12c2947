# The dashboard runs on a small instance in a private subnet, with no inbound rule and no
# public address. Users reach it with an SSM port-forward (docs/deploy.md):
#   aws ssm start-session --target <dashboard_instance_id> \
#     --document-name AWS-StartPortForwardingSession \
#     --parameters portNumber=8501,localPortNumber=8501
# Chosen over ECS Fargate behind an ALB: authentication is the caller's IAM identity (no
# Cognito pool, domain or certificate to own), nothing listens on the internet, and it
# costs one small instance. Teams that want a URL can put an ALB with OIDC in front.

data "aws_ssm_parameter" "al2023_arm64" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
}

resource "aws_instance" "dashboard" {
  count                       = var.dashboard_enabled ? 1 : 0
  ami                         = data.aws_ssm_parameter.al2023_arm64.value
  instance_type               = var.dashboard_instance_type
  subnet_id                   = aws_subnet.private[0].id
  vpc_security_group_ids      = [aws_security_group.dashboard.id]
  iam_instance_profile        = aws_iam_instance_profile.dashboard.name
  associate_public_ip_address = false
  monitoring                  = true
  ebs_optimized               = true

  metadata_options {
    http_tokens   = "required" # IMDSv2 only
    http_endpoint = "enabled"
  }

  root_block_device {
    encrypted   = true
    kms_key_id  = aws_kms_key.main.arn
    volume_size = 16
    volume_type = "gp3"
  }

  # Installs fraudit[dashboard] from the wheelhouse in S3 and runs `fraudit dashboard` on
  # loopback. Only names and ARNs here: the password is read from Secrets Manager at start.
  user_data = templatefile("${path.module}/dashboard-user-data.sh.tftpl", {
    region          = var.region
    wheelhouse_uri  = "s3://${module.artifacts_bucket.id}/${local.dashboard_wheels}"
    db_secret_arn   = aws_db_instance.main.master_user_secret[0].secret_arn
    db_host         = aws_db_instance.main.address
    db_port         = aws_db_instance.main.port
    db_name         = aws_db_instance.main.db_name
    refresh_seconds = 5
  })
  user_data_replace_on_change = true

  tags = { Name = "${local.name}-dashboard" }
}
