# The online store (docs/FEATURES.md, "The online store"): a serverless Valkey cache in the
# private subnets, reached only by the API Lambda, which therefore runs in the VPC and
# reaches SageMaker Runtime, Kinesis, Secrets Manager, S3 and X-Ray through the VPC
# endpoints of network.tf. Serverless caches encrypt in transit (TLS, rediss://) and at
# rest (the stack's key).

resource "aws_elasticache_serverless_cache" "online" {
  engine               = "valkey"
  name                 = "${local.name}-online"
  description          = "fraudit online features and idempotency records"
  major_engine_version = "8"
  kms_key_id           = aws_kms_key.main.arn
  subnet_ids           = aws_subnet.private[*].id
  security_group_ids   = [aws_security_group.online_store.id]
  user_group_id        = aws_elasticache_user_group.online.user_group_id

  cache_usage_limits {
    data_storage {
      maximum = var.online_store_max_gb
      unit    = "GB"
    }
    # The compute ceiling: past it ElastiCache throttles commands (the API answers 503).
    ecpu_per_second {
      maximum = var.online_store_max_ecpu_per_second
    }
  }
}

# A serverless cache cannot refuse to evict: at its storage ceiling it evicts keys with a
# TTL (every fraudit key has one), and features go wrong without an error. So the alarms
# fire before the ceiling (80% of it, in bytes of 10^9 per GB: the lower reading) and on
# the first eviction or throttled command.
locals {
  online_store_alarms = {
    bytes = {
      metric      = "BytesUsedForCache"
      statistic   = "Maximum"
      threshold   = floor(0.8 * var.online_store_max_gb * 1000000000)
      description = "The online store holds over 80% of its ${var.online_store_max_gb} GB ceiling: raise online_store_max_gb (docs/deploy.md, sizing) before it evicts."
    }
    evictions = {
      metric      = "Evictions"
      statistic   = "Sum"
      threshold   = 0
      description = "The online store evicted keys at its storage ceiling: card histories or idempotency records were lost and features are wrong until they age out. Raise online_store_max_gb, then rebuild the store (docs/deploy.md, the online store)."
    }
    throttled = {
      metric      = "ThrottledCmds"
      statistic   = "Sum"
      threshold   = 0
      description = "The online store throttled commands (ECPU ceiling or scaling): card requests get 503s. Raise online_store_max_ecpu_per_second."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "online_store" {
  for_each            = local.online_store_alarms
  alarm_name          = "${local.name}-online-store-${each.key}"
  alarm_description   = each.value.description
  namespace           = "AWS/ElastiCache"
  metric_name         = each.value.metric
  dimensions          = { clusterId = aws_elasticache_serverless_cache.online.name }
  statistic           = each.value.statistic
  period              = 60
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# Who may connect: the API's ElastiCache user, authenticated with IAM (the Lambda signs a
# 15-minute token with its role: fraudit.online.iam_auth), so no password exists anywhere;
# it reaches only the keys under the deployment's prefix. The default user is off.
locals {
  online_store_key_prefix = "fraudit:"
  # Keys start with a hash tag that begins with the prefix, {prefix#<entity or claim
  # bucket>} (fraudit.online.plan.StoreKeys).
  online_store_access_string = "on ~{${local.online_store_key_prefix}#* +@all -@admin -@dangerous"
}

resource "aws_elasticache_user" "api" {
  user_id       = "${local.name}-api"
  user_name     = "${local.name}-api" # IAM authentication needs the name to equal the id
  engine        = "valkey"
  access_string = local.online_store_access_string

  authentication_mode {
    type = "iam"
  }
}

resource "aws_elasticache_user" "default_off" {
  user_id       = "${local.name}-default-off"
  user_name     = "default"
  engine        = "valkey"
  access_string = "off -@all"

  authentication_mode {
    type = "no-password-required" # never used: the user is off
  }
}

resource "aws_elasticache_user_group" "online" {
  engine        = "valkey"
  user_group_id = "${local.name}-online"
  user_ids      = [aws_elasticache_user.default_off.user_id, aws_elasticache_user.api.user_id, aws_elasticache_user.ops.user_id]
}

resource "aws_security_group" "online_store" {
  name        = "${local.name}-online-store"
  description = "Online store (Valkey): the API Lambda only"
  vpc_id      = aws_vpc.main.id
}

resource "aws_vpc_security_group_ingress_rule" "online_store_from_api" {
  security_group_id            = aws_security_group.online_store.id
  description                  = "Valkey from the API Lambda"
  referenced_security_group_id = aws_security_group.api.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6380
}

resource "aws_security_group" "api" {
  name        = "${local.name}-api"
  description = "API Lambda: the online store and the AWS endpoints, nothing else"
  vpc_id      = aws_vpc.main.id
}

resource "aws_vpc_security_group_egress_rule" "api_online_store" {
  security_group_id            = aws_security_group.api.id
  description                  = "Valkey"
  referenced_security_group_id = aws_security_group.online_store.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6380
}

resource "aws_vpc_security_group_egress_rule" "api_endpoints" {
  security_group_id            = aws_security_group.api.id
  description                  = "HTTPS to the interface VPC endpoints"
  referenced_security_group_id = aws_security_group.endpoints.id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
}

resource "aws_vpc_security_group_egress_rule" "api_s3" {
  security_group_id = aws_security_group.api.id
  description       = "HTTPS to S3 through the gateway endpoint (the decision policies)"
  prefix_list_id    = aws_vpc_endpoint.s3.prefix_list_id
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_api" {
  security_group_id            = aws_security_group.endpoints.id
  description                  = "HTTPS from the API Lambda"
  referenced_security_group_id = aws_security_group.api.id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
}

locals {
  online_store_url = "rediss://${aws_elasticache_serverless_cache.online.endpoint[0].address}:${aws_elasticache_serverless_cache.online.endpoint[0].port}/0"
}
