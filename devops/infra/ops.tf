# The operations task (docs/deploy.md, "The operations task"): a Lambda function in the
# private subnets that reaches both the online store and PostgreSQL, which nothing outside
# the VPC can. `fraudit deploy ops features-rebuild` invokes it to rebuild the store from
# the database (in parts: each invocation pauses before its time runs out and the command
# invokes again from there); later database steps run through it too. One at a time:
# its reserved concurrency is 1. Absent until `fraudit deploy build --ops` and `upload`.

locals {
  ops_enabled = var.ops_package_s3_key != ""
  ops_name    = "${local.name}-ops"
}

resource "aws_cloudwatch_log_group" "ops_lambda" {
  name              = "/aws/lambda/${local.ops_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_lambda_function" "ops" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by `fraudit deploy ops`: a failure is reported to the operator, there is no event to dead-letter
  #checkov:skip=CKV_AWS_272:Code signing needs a Signer profile per organisation; the zip's key names its sha256
  count                          = local.ops_enabled ? 1 : 0
  function_name                  = local.ops_name
  description                    = "fraudit operations task: steps that need the online store and PostgreSQL"
  role                           = aws_iam_role.ops.arn
  runtime                        = "python3.11"
  handler                        = "fraudit.ops.handler.handle"
  s3_bucket                      = module.artifacts_bucket.id
  s3_key                         = var.ops_package_s3_key
  memory_size                    = 1024
  timeout                        = 900 # the longest a Lambda may run; a rebuild goes on in parts
  reserved_concurrent_executions = 1
  kms_key_arn                    = aws_kms_key.main.arn

  tracing_config {
    mode = "Active"
  }

  vpc_config {
    subnet_ids         = aws_subnet.private[*].id
    security_group_ids = [aws_security_group.ops.id]
  }

  environment {
    variables = {
      FRAUDIT_REDIS_URL            = local.online_store_url
      FRAUDIT_REDIS_KEY_PREFIX     = local.online_store_key_prefix
      FRAUDIT_REDIS_CLUSTER        = "true"
      FRAUDIT_REDIS_IAM_USER       = aws_elasticache_user.ops.user_id
      FRAUDIT_REDIS_IAM_CACHE_NAME = aws_elasticache_serverless_cache.online.name
      FRAUDIT_DATABASE_SECRET_ID   = local.db_secret_arn
      FRAUDIT_DATABASE_HOST        = aws_db_instance.main.address
      FRAUDIT_DATABASE_PORT        = tostring(aws_db_instance.main.port)
      FRAUDIT_DATABASE_NAME        = aws_db_instance.main.db_name
      FRAUDIT_LOG_LEVEL            = "INFO"
    }
  }

  depends_on = [aws_cloudwatch_log_group.ops_lambda]
}

# Its own ElastiCache user (IAM authentication, the same keys as the API's), so the cache's
# logs and permissions tell the operations task from the API.
resource "aws_elasticache_user" "ops" {
  user_id       = "${local.name}-ops"
  user_name     = "${local.name}-ops"
  engine        = "valkey"
  access_string = local.online_store_access_string

  authentication_mode {
    type = "iam"
  }
}

resource "aws_iam_role" "ops" {
  name               = "${local.name}-ops"
  assume_role_policy = data.aws_iam_policy_document.assume["api"].json # lambda.amazonaws.com
}

data "aws_iam_policy_document" "ops" {
  source_policy_documents = [data.aws_iam_policy_document.lambda_in_vpc["ops"].json]
  statement {
    sid       = "ConnectToTheOnlineStoreAsItsUser"
    actions   = ["elasticache:Connect"]
    resources = [aws_elasticache_serverless_cache.online.arn, aws_elasticache_user.ops.arn]
  }
  statement {
    sid       = "ReadTheDatabaseSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.db_secret_arn]
  }
  statement {
    sid       = "DecryptTheSecretAndTheEnvironment"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "ops" {
  name   = "fraudit-ops"
  role   = aws_iam_role.ops.id
  policy = data.aws_iam_policy_document.ops.json
}

# Its network: PostgreSQL, the online store and the interface endpoints (Secrets Manager,
# logs, X-Ray), nothing else. (The database's and the store's groups keep their
# descriptions, which predate it: a new description would replace the groups.)
resource "aws_security_group" "ops" {
  name        = "${local.name}-ops"
  description = "Operations task Lambda: PostgreSQL, the online store, the AWS endpoints"
  vpc_id      = aws_vpc.main.id
}

locals {
  # What the operations task reaches: group, port range, what it is.
  ops_reaches = {
    database     = { sg = aws_security_group.database.id, from = 5432, to = 5432, what = "PostgreSQL" }
    online_store = { sg = aws_security_group.online_store.id, from = 6379, to = 6380, what = "Valkey" }
    endpoints    = { sg = aws_security_group.endpoints.id, from = 443, to = 443, what = "HTTPS to the interface VPC endpoints" }
  }
}

resource "aws_vpc_security_group_egress_rule" "ops" {
  for_each                     = local.ops_reaches
  security_group_id            = aws_security_group.ops.id
  description                  = each.value.what
  referenced_security_group_id = each.value.sg
  ip_protocol                  = "tcp"
  from_port                    = each.value.from
  to_port                      = each.value.to
}

# The other side of each: one rule per group, named, so what admits it reads plainly.
resource "aws_vpc_security_group_ingress_rule" "database_from_ops" {
  security_group_id            = aws_security_group.database.id
  description                  = "The operations task"
  referenced_security_group_id = aws_security_group.ops.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_ingress_rule" "online_store_from_ops" {
  security_group_id            = aws_security_group.online_store.id
  description                  = "Valkey from the operations task"
  referenced_security_group_id = aws_security_group.ops.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6380
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_ops" {
  security_group_id            = aws_security_group.endpoints.id
  description                  = "HTTPS from the operations task"
  referenced_security_group_id = aws_security_group.ops.id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
}

# The reaper (docs/FEATURES.md, "Counted only when answered"): every few minutes the task
# undoes the counts of card requests whose process died before answering, judged against
# the database. A run missed while a rebuild holds the one concurrent slot is not retried:
# the next one does its work.
resource "aws_cloudwatch_event_rule" "reap" {
  count               = local.ops_enabled ? 1 : 0
  name                = "${local.name}-reap"
  description         = "fraudit: undo the counts of card requests that died unanswered"
  schedule_expression = var.reap_schedule
}

resource "aws_cloudwatch_event_target" "reap" {
  count = local.ops_enabled ? 1 : 0
  rule  = aws_cloudwatch_event_rule.reap[0].name
  arn   = aws_lambda_function.ops[0].arn
  input = jsonencode({ task = "features-reap" })
}

resource "aws_lambda_permission" "reap" {
  count         = local.ops_enabled ? 1 : 0
  statement_id  = "ReapOnSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.ops[0].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.reap[0].arn
}

resource "aws_lambda_function_event_invoke_config" "ops" {
  count                        = local.ops_enabled ? 1 : 0
  function_name                = aws_lambda_function.ops[0].function_name
  maximum_event_age_in_seconds = 240
  maximum_retry_attempts       = 0
}
