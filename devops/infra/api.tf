# The inference API from the zip `chalice package` builds (uploaded by `fraudit deploy
# upload`): a Lambda function behind a regional REST API with one resource per Chalice
# route. One API key guards it twice: API Gateway's usage plan and the app itself both check
# the value held in the secret below. Terraform creates the secret empty; `fraudit deploy
# api-key` puts the value in it and on the usage plan, so no key is ever in a Terraform
# variable or in the state. Chalice's own generated Terraform is not used (it pins the AWS
# provider below 5).

locals {
  api_enabled = var.api_package_s3_key != ""
  api_name    = "${local.name}-api"
  # The Lambda's timeout, and the app's request deadline inside it: model and Kinesis
  # retries stop at the deadline so the answer (a 503 with event_id if need be) leaves
  # before Lambda cuts the request off. app/chalice/.chalice/config.json states the same
  # timeout; tests/unit/test_deadline_budget.py keeps the two and the retry budget in line.
  api_lambda_timeout_seconds = 10
  api_deadline_seconds       = 8
  # Chalice routes: path -> method. Chalice dispatches on the resource path, so each
  # route is its own API Gateway resource (a {proxy+} resource would not match).
  api_routes = {
    "predict"       = { parent = "root", part = "predict", method = "POST" }
    "predict/batch" = { parent = "predict", part = "batch", method = "POST" }
    "labels"        = { parent = "root", part = "labels", method = "POST" }
    "health"        = { parent = "root", part = "health", method = "GET" }
    "openapi.json"  = { parent = "root", part = "openapi.json", method = "GET" }
  }
}

resource "aws_cloudwatch_log_group" "api_lambda" {
  name              = "/aws/lambda/${local.api_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_group" "api_access" {
  name              = "/fraudit/${var.environment}/api-access"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_lambda_function" "api" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by API Gateway: a failure is the client's 5xx, there is no event to dead-letter
  #checkov:skip=CKV_AWS_272:Code signing needs a Signer profile per organisation; the zip's sha256 is pinned by source_code_hash instead
  count                          = local.api_enabled ? 1 : 0
  function_name                  = local.api_name
  description                    = "fraudit inference API (Chalice app)"
  role                           = aws_iam_role.api.arn
  runtime                        = "python3.12"
  handler                        = "app.app"
  s3_bucket                      = module.artifacts_bucket.id
  s3_key                         = var.api_package_s3_key
  memory_size                    = 512
  timeout                        = local.api_lambda_timeout_seconds
  reserved_concurrent_executions = var.api_reserved_concurrency
  kms_key_arn                    = aws_kms_key.main.arn

  tracing_config {
    mode = "Active"
  }

  # In the VPC: the online store has no public endpoint (online_store.tf).
  vpc_config {
    subnet_ids         = aws_subnet.private[*].id
    security_group_ids = [aws_security_group.api.id]
  }

  environment {
    variables = {
      FRAUDIT_SCORER                   = "sagemaker"
      FRAUDIT_CLASSIFIER_ENDPOINT      = local.classifier_endpoint
      FRAUDIT_ANOMALY_ENDPOINT         = local.anomaly_endpoint
      FRAUDIT_CARD_CLASSIFIER_ENDPOINT = local.card_classifier_endpoint
      FRAUDIT_CARD_ANOMALY_ENDPOINT    = local.card_anomaly_endpoint
      FRAUDIT_STREAM_NAME              = aws_kinesis_stream.events.name
      FRAUDIT_POLICY_S3_URI            = "s3://${module.artifacts_bucket.id}/${local.policy_key}"
      # Absent until `fraudit deploy upload --family cards`: card transactions get a 503.
      FRAUDIT_CARD_POLICY_S3_URI = "s3://${module.artifacts_bucket.id}/${local.card_policy_key}"
      # The candidates in shadow (empty version: none; an empty variable is unset).
      FRAUDIT_SHADOW_MODEL_VERSION            = var.shadow_model_version
      FRAUDIT_SHADOW_CLASSIFIER_ENDPOINT      = local.shadow_classifier_endpoint
      FRAUDIT_SHADOW_ANOMALY_ENDPOINT         = local.shadow_anomaly_endpoint
      FRAUDIT_SHADOW_POLICY_S3_URI            = "s3://${module.artifacts_bucket.id}/${local.shadow_policy_key}"
      FRAUDIT_CARD_SHADOW_MODEL_VERSION       = var.card_shadow_model_version
      FRAUDIT_CARD_SHADOW_CLASSIFIER_ENDPOINT = local.card_shadow_classifier_endpoint
      FRAUDIT_CARD_SHADOW_ANOMALY_ENDPOINT    = local.card_shadow_anomaly_endpoint
      FRAUDIT_CARD_SHADOW_POLICY_S3_URI       = "s3://${module.artifacts_bucket.id}/${local.card_shadow_policy_key}"
      FRAUDIT_RULESET_URI                     = "s3://${module.artifacts_bucket.id}/${local.ruleset_key}"
      FRAUDIT_REDIS_URL                       = local.online_store_url
      FRAUDIT_REDIS_KEY_PREFIX                = local.online_store_key_prefix
      FRAUDIT_REDIS_CLUSTER                   = "true" # Serverless runs in cluster mode only
      FRAUDIT_REDIS_IAM_USER                  = aws_elasticache_user.api.user_id
      FRAUDIT_REDIS_IAM_CACHE_NAME            = aws_elasticache_serverless_cache.online.name
      FRAUDIT_API_KEY_SECRET_ID               = aws_secretsmanager_secret.api_key[0].arn
      FRAUDIT_API_DEADLINE_SECONDS            = tostring(local.api_deadline_seconds)
      FRAUDIT_LOG_LEVEL                       = "INFO"
    }
  }

  depends_on = [aws_cloudwatch_log_group.api_lambda]
}

resource "aws_api_gateway_rest_api" "api" {
  count = local.api_enabled ? 1 : 0
  name  = local.api_name
  endpoint_configuration {
    types = ["REGIONAL"]
  }
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_resource" "first" {
  for_each    = local.api_enabled ? { for k, v in local.api_routes : k => v if v.parent == "root" } : {}
  rest_api_id = aws_api_gateway_rest_api.api[0].id
  parent_id   = aws_api_gateway_rest_api.api[0].root_resource_id
  path_part   = each.value.part
}

resource "aws_api_gateway_resource" "second" {
  for_each    = local.api_enabled ? { for k, v in local.api_routes : k => v if v.parent != "root" } : {}
  rest_api_id = aws_api_gateway_rest_api.api[0].id
  parent_id   = aws_api_gateway_resource.first[each.value.parent].id
  path_part   = each.value.part
}

locals {
  api_resource_ids = merge(
    { for k, r in aws_api_gateway_resource.first : k => r.id },
    { for k, r in aws_api_gateway_resource.second : k => r.id },
  )
}

resource "aws_api_gateway_method" "route" {
  #checkov:skip=CKV2_AWS_53:The body is validated by the app's pydantic contracts, which answer 400 naming the bad field
  for_each         = local.api_enabled ? local.api_routes : {}
  rest_api_id      = aws_api_gateway_rest_api.api[0].id
  resource_id      = local.api_resource_ids[each.key]
  http_method      = each.value.method
  authorization    = "NONE"
  api_key_required = true # callers present a key of the usage plan below
}

resource "aws_api_gateway_integration" "route" {
  for_each                = aws_api_gateway_method.route
  rest_api_id             = aws_api_gateway_rest_api.api[0].id
  resource_id             = each.value.resource_id
  http_method             = each.value.http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = aws_lambda_function.api[0].invoke_arn
}

resource "aws_lambda_permission" "api_gateway" {
  count         = local.api_enabled ? 1 : 0
  statement_id  = "AllowApiGatewayInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.api[0].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.api[0].execution_arn}/*/*"
}

resource "aws_api_gateway_deployment" "api" {
  count       = local.api_enabled ? 1 : 0
  rest_api_id = aws_api_gateway_rest_api.api[0].id
  triggers = {
    redeploy = sha1(jsonencode([local.api_routes, var.api_package_s3_key]))
  }
  lifecycle {
    create_before_destroy = true
  }
  depends_on = [aws_api_gateway_integration.route]
}

resource "aws_api_gateway_stage" "api" {
  #checkov:skip=CKV_AWS_120:Scoring answers must never be cached: each transaction is new
  #checkov:skip=CKV2_AWS_51:Clients authenticate with API keys; mutual TLS needs a custom domain and client PKI per deployment
  #checkov:skip=CKV2_AWS_29:WAF is priced per rule and request; the usage plan throttles, docs/deploy.md shows how to attach a web ACL
  count                = local.api_enabled ? 1 : 0
  rest_api_id          = aws_api_gateway_rest_api.api[0].id
  deployment_id        = aws_api_gateway_deployment.api[0].id
  stage_name           = "api"
  xray_tracing_enabled = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    # Request metadata only: never the body, which carries the card's features.
    format = jsonencode({
      requestId = "$context.requestId", ip = "$context.identity.sourceIp",
      time      = "$context.requestTime", method = "$context.httpMethod",
      path      = "$context.resourcePath", status = "$context.status",
      latencyMs = "$context.responseLatency", apiKeyId = "$context.identity.apiKeyId"
    })
  }
}

resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:Caching is off on purpose: a cached score would answer a new transaction with an old one's decision
  count       = local.api_enabled ? 1 : 0
  rest_api_id = aws_api_gateway_rest_api.api[0].id
  stage_name  = aws_api_gateway_stage.api[0].stage_name
  method_path = "*/*"
  settings {
    metrics_enabled      = true
    logging_level        = "INFO"
    data_trace_enabled   = false # full request logging would write card features to the logs
    caching_enabled      = false
    cache_data_encrypted = true
  }
}

resource "aws_api_gateway_usage_plan" "api" {
  count = local.api_enabled ? 1 : 0
  name  = local.api_name
  api_stages {
    api_id = aws_api_gateway_rest_api.api[0].id
    stage  = aws_api_gateway_stage.api[0].stage_name
  }
  throttle_settings {
    rate_limit  = var.api_throttle_rate
    burst_limit = var.api_throttle_burst
  }
}

# The key's value: created empty here (no secret version, so no value in the state) and
# filled by `fraudit deploy api-key`. Until then the app answers 503 auth_unavailable: it
# never serves without a key.
resource "aws_secretsmanager_secret" "api_key" {
  #checkov:skip=CKV2_AWS_57:Rotation is `fraudit deploy api-key --rotate`: the value must change on the usage plan and in the secret together, which a rotation Lambda would have to duplicate
  count                   = local.api_enabled ? 1 : 0
  name_prefix             = "${local.api_name}-key-"
  description             = "x-api-key of the fraudit API: {\"api_key\": \"...\"} (written by fraudit deploy api-key)"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}
