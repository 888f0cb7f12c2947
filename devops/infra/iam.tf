# Least-privilege roles. Each statement names its resources; "*" appears only where AWS
# offers no resource-level scoping for the action (said next to it).

locals {
  stream_arn        = aws_kinesis_stream.events.arn
  artifacts_arn     = module.artifacts_bucket.arn
  checkpoints_arn   = module.checkpoints_bucket.arn
  db_secret_arn     = aws_db_instance.main.master_user_secret[0].secret_arn
  endpoint_arn_base = "arn:${local.partition}:sagemaker:${var.region}:${local.account_id}:endpoint"
}

data "aws_iam_policy_document" "assume" {
  for_each = {
    api        = "lambda.amazonaws.com"
    glue       = "glue.amazonaws.com"
    sagemaker  = "sagemaker.amazonaws.com"
    dashboard  = "ec2.amazonaws.com"
    monitoring = "monitoring.rds.amazonaws.com"
    flow_logs  = "vpc-flow-logs.amazonaws.com"
    apigw_logs = "apigateway.amazonaws.com"
  }
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [each.value]
    }
  }
}

# --- API Lambda: score (two endpoints), publish (one stream), read its policy object ----

resource "aws_iam_role" "api" {
  name               = "${local.name}-api"
  assume_role_policy = data.aws_iam_policy_document.assume["api"].json
}

data "aws_iam_policy_document" "api" {
  source_policy_documents = [data.aws_iam_policy_document.lambda_in_vpc["api"].json]
  statement {
    sid       = "InvokeTheTwoModelEndpoints"
    actions   = ["sagemaker:InvokeEndpoint"]
    resources = ["${local.endpoint_arn_base}/${local.classifier_endpoint}", "${local.endpoint_arn_base}/${local.anomaly_endpoint}"]
  }
  statement {
    sid       = "InvokeTheCardModelEndpoints"
    actions   = ["sagemaker:InvokeEndpoint"]
    resources = ["${local.endpoint_arn_base}/${local.card_classifier_endpoint}", "${local.endpoint_arn_base}/${local.card_anomaly_endpoint}"]
  }
  statement {
    sid     = "InvokeTheCandidatesInShadow"
    actions = ["sagemaker:InvokeEndpoint"]
    resources = [
      "${local.endpoint_arn_base}/${local.shadow_classifier_endpoint}", "${local.endpoint_arn_base}/${local.shadow_anomaly_endpoint}",
      "${local.endpoint_arn_base}/${local.card_shadow_classifier_endpoint}", "${local.endpoint_arn_base}/${local.card_shadow_anomaly_endpoint}",
    ]
  }
  statement {
    sid       = "ConnectToTheOnlineStoreAsItsUser"
    actions   = ["elasticache:Connect"]
    resources = [aws_elasticache_serverless_cache.online.arn, aws_elasticache_user.api.arn]
  }
  statement {
    sid       = "PublishScoredEvents"
    actions   = ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStreamSummary"]
    resources = [local.stream_arn]
  }
  statement {
    sid       = "EncryptForTheStreamAndReadThePolicy"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
  }
  dynamic "statement" {
    for_each = local.api_enabled ? [aws_secretsmanager_secret.api_key[0].arn] : []
    content {
      sid       = "ReadTheApiKey"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }
  statement {
    sid       = "ReadTheDecisionPolicy"
    actions   = ["s3:GetObject"]
    resources = ["${local.artifacts_arn}/${local.policy_key}", "${local.artifacts_arn}/${local.card_policy_key}", "${local.artifacts_arn}/${local.ruleset_key}", "${local.artifacts_arn}/${local.shadow_policy_key}", "${local.artifacts_arn}/${local.card_shadow_policy_key}"]
  }
  statement {
    # Without ListBucket a missing object answers 403 instead of 404: the API tells "no card
    # model deployed yet" or "no ruleset published yet" from a refused read only with it,
    # on those keys.
    sid       = "SeeWhetherTheCardPolicyAndRulesetExist"
    actions   = ["s3:ListBucket"]
    resources = [local.artifacts_arn]
    condition {
      test     = "StringEquals"
      variable = "s3:prefix"
      values   = [local.card_policy_key, local.ruleset_key]
    }
  }
}

# What each Lambda function of the stack needs to run in the VPC and to write its own logs
# and traces: the API and the operations task (ops.tf) take it as their policies' source.
locals {
  lambda_in_vpc = {
    api = { security_group = aws_security_group.api.id, log_group = aws_cloudwatch_log_group.api_lambda.arn }
    ops = { security_group = aws_security_group.ops.id, log_group = aws_cloudwatch_log_group.ops_lambda.arn }
  }
}

data "aws_iam_policy_document" "lambda_in_vpc" {
  for_each = local.lambda_in_vpc
  statement {
    # Its network interfaces, in the private subnets with its own group.
    sid       = "NetworkInterfacesInTheVpc"
    actions   = ["ec2:CreateNetworkInterface"]
    resources = concat(["arn:${local.partition}:ec2:${var.region}:${local.account_id}:network-interface/*", "arn:${local.partition}:ec2:${var.region}:${local.account_id}:security-group/${each.value.security_group}"], [for s in aws_subnet.private : "arn:${local.partition}:ec2:${var.region}:${local.account_id}:subnet/${s.id}"])
  }
  statement {
    sid       = "ManageOwnNetworkInterfaces"
    actions   = ["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
    resources = ["arn:${local.partition}:ec2:${var.region}:${local.account_id}:network-interface/*"]
  }
  statement {
    sid       = "DescribeNetworkInterfaces"
    actions   = ["ec2:DescribeNetworkInterfaces"]
    resources = ["*"] # Describe actions have no resource-level permissions
  }
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${each.value.log_group}:*"]
  }
  statement {
    sid       = "XRayTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions for these actions
  }
}

resource "aws_iam_role_policy" "api" {
  name   = "fraudit-api"
  role   = aws_iam_role.api.id
  policy = data.aws_iam_policy_document.api.json
}

# --- Glue job: read the stream, read the database secret, own its checkpoints -------------

resource "aws_iam_role" "glue" {
  name               = "${local.name}-glue"
  assume_role_policy = data.aws_iam_policy_document.assume["glue"].json
}

data "aws_iam_policy_document" "glue" {
  statement {
    sid       = "ReadTheStream"
    actions   = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"]
    resources = [local.stream_arn]
  }
  statement {
    sid       = "ReadTheDatabaseSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.db_secret_arn]
  }
  statement {
    sid       = "DecryptStreamSecretAndObjects"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
  statement {
    sid       = "ReadTheJobScriptAndWheels"
    actions   = ["s3:GetObject"]
    resources = ["${local.artifacts_arn}/glue/*"]
  }
  statement {
    sid       = "ReadTheBacktestCandidates"
    actions   = ["s3:GetObject"]
    resources = ["${local.artifacts_arn}/rules/*", "${local.artifacts_arn}/policy/*"]
  }
  statement {
    sid       = "OwnCheckpoints"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.checkpoints_arn}/elt/*", "${local.checkpoints_arn}/tmp/*", "${local.checkpoints_arn}/backtests/*"]
  }
  statement {
    sid       = "ListCheckpoints"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [local.checkpoints_arn]
  }
  statement {
    sid       = "WriteJobLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws-glue/*"]
  }
  statement {
    sid       = "PublishJobMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData takes no resource; limited to Glue's namespace below
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["Glue"]
    }
  }
  statement {
    sid       = "UseTheVpcConnection"
    actions   = ["glue:GetConnection"]
    resources = ["arn:${local.partition}:glue:${var.region}:${local.account_id}:catalog", aws_glue_connection.vpc.arn]
  }
  statement {
    sid = "DescribeTheNetwork"
    # Describe* calls cannot be scoped to resources (AWS evaluates them account-wide).
    actions   = ["ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcEndpoints", "ec2:DescribeRouteTables"]
    resources = ["*"]
  }
  statement {
    sid       = "NetworkInterfacesInTheStackSubnets"
    actions   = ["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:CreateTags", "ec2:DeleteTags"]
    resources = ["arn:${local.partition}:ec2:${var.region}:${local.account_id}:network-interface/*", "arn:${local.partition}:ec2:${var.region}:${local.account_id}:subnet/${aws_subnet.private[0].id}", "arn:${local.partition}:ec2:${var.region}:${local.account_id}:security-group/${aws_security_group.glue.id}"]
  }
}

resource "aws_iam_role_policy" "glue" {
  name   = "fraudit-glue"
  role   = aws_iam_role.glue.id
  policy = data.aws_iam_policy_document.glue.json
}

# --- SageMaker: read the model artifacts, pull the two prebuilt images --------------------

resource "aws_iam_role" "sagemaker" {
  name               = "${local.name}-sagemaker"
  assume_role_policy = data.aws_iam_policy_document.assume["sagemaker"].json
}

data "aws_iam_policy_document" "sagemaker" {
  statement {
    sid       = "ReadModelArtifacts"
    actions   = ["s3:GetObject"]
    resources = ["${local.artifacts_arn}/models/*"]
  }
  statement {
    sid       = "DecryptArtifactsAndVolumes"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant", "kms:DescribeKey"]
    resources = [aws_kms_key.main.arn]
  }
  statement {
    sid       = "PullThePrebuiltImages"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = ["arn:${local.partition}:ecr:${var.region}:${data.aws_sagemaker_prebuilt_ecr_image.xgboost.registry_id}:repository/sagemaker-xgboost", "arn:${local.partition}:ecr:${var.region}:${data.aws_sagemaker_prebuilt_ecr_image.sklearn.registry_id}:repository/sagemaker-scikit-learn"]
  }
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken takes no resource
  }
  statement {
    sid       = "WriteEndpointLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/sagemaker/Endpoints/${local.name}-*"]
  }
  statement {
    sid       = "PublishEndpointMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData takes no resource; limited to SageMaker's namespaces below
    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/*", "AWS/SageMaker"]
    }
  }
}

resource "aws_iam_role_policy" "sagemaker" {
  name   = "fraudit-sagemaker"
  role   = aws_iam_role.sagemaker.id
  policy = data.aws_iam_policy_document.sagemaker.json
}

# --- Dashboard instance: Session Manager, the database secret, its wheelhouse -------------

resource "aws_iam_role" "dashboard" {
  name               = "${local.name}-dashboard"
  assume_role_policy = data.aws_iam_policy_document.assume["dashboard"].json
}

resource "aws_iam_role_policy_attachment" "dashboard_ssm" {
  role       = aws_iam_role.dashboard.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "dashboard" {
  statement {
    sid       = "ReadTheDatabaseSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.db_secret_arn]
  }
  statement {
    sid       = "DecryptSecretAndWheelhouse"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
  }
  statement {
    sid       = "ReadTheWheelhouse"
    actions   = ["s3:GetObject"]
    resources = ["${local.artifacts_arn}/dashboard/*"]
  }
}

resource "aws_iam_role_policy" "dashboard" {
  name   = "fraudit-dashboard"
  role   = aws_iam_role.dashboard.id
  policy = data.aws_iam_policy_document.dashboard.json
}

resource "aws_iam_instance_profile" "dashboard" {
  name = "${local.name}-dashboard"
  role = aws_iam_role.dashboard.name
}

# --- Service roles: RDS enhanced monitoring, VPC flow logs, API Gateway logging ----------

resource "aws_iam_role" "rds_monitoring" {
  name               = "${local.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.assume["monitoring"].json
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_iam_role" "flow_logs" {
  name               = "${local.name}-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.assume["flow_logs"].json
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow.arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "fraudit-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}

# API Gateway writes stage logs through one role per account and region. Set
# manage_api_gateway_account = false if another stack already owns that setting.
resource "aws_iam_role" "apigw_logs" {
  count              = var.manage_api_gateway_account ? 1 : 0
  name               = "${local.name}-apigw-logs"
  assume_role_policy = data.aws_iam_policy_document.assume["apigw_logs"].json
}

resource "aws_iam_role_policy_attachment" "apigw_logs" {
  count      = var.manage_api_gateway_account ? 1 : 0
  role       = aws_iam_role.apigw_logs[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "main" {
  count               = var.manage_api_gateway_account ? 1 : 0
  cloudwatch_role_arn = aws_iam_role.apigw_logs[0].arn
}
