# Alarms to one encrypted SNS topic: the stream is falling behind, the API fails or is
# throttled, the Glue job fails or stops.

resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  kms_master_key_id = aws_kms_key.main.id
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

data "aws_iam_policy_document" "alarms_topic" {
  statement {
    sid       = "CloudWatchAndEventBridgePublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms_topic.json
}

resource "aws_cloudwatch_metric_alarm" "stream_iterator_age" {
  alarm_name          = "${local.name}-stream-iterator-age"
  alarm_description   = "The oldest unread record is older than ${var.iterator_age_alarm_ms} ms: the Glue job is behind or down (records expire after ${var.stream_retention_hours} h)."
  namespace           = "AWS/Kinesis"
  metric_name         = "GetRecords.IteratorAgeMilliseconds"
  dimensions          = { StreamName = aws_kinesis_stream.events.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = var.iterator_age_alarm_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching" # no reads at all is the worst lag
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "stream_write_throttled" {
  alarm_name          = "${local.name}-stream-write-throttled"
  alarm_description   = "Puts to the stream are throttled: the API retries, then answers 503."
  namespace           = "AWS/Kinesis"
  metric_name         = "WriteProvisionedThroughputExceeded"
  dimensions          = { StreamName = aws_kinesis_stream.events.name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "api" {
  for_each = local.api_enabled ? {
    errors    = "The API Lambda raised errors (each is a client 5xx)."
    throttles = "The API Lambda was throttled at its reserved concurrency."
  } : {}
  alarm_name          = "${local.name}-api-${each.key}"
  alarm_description   = each.value
  namespace           = "AWS/Lambda"
  metric_name         = each.key == "errors" ? "Errors" : "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.api[0].function_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "ruleset_refresh_failed" {
  count               = local.api_enabled ? 1 : 0
  alarm_name          = "${local.name}-ruleset-refresh-failed"
  alarm_description   = "The API refused a published ruleset (it does not compile or cannot be read) and serves the last good one (docs/RULES.md)."
  namespace           = "fraudit"
  metric_name         = "RulesetRefreshFailed"
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  count               = local.api_enabled ? 1 : 0
  alarm_name          = "${local.name}-api-5xx"
  alarm_description   = "API Gateway answered 5xx (a model endpoint or the stream unavailable)."
  namespace           = "AWS/ApiGateway"
  metric_name         = "5XXError"
  dimensions          = { ApiName = aws_api_gateway_rest_api.api[0].name, Stage = aws_api_gateway_stage.api[0].stage_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "glue_failed_tasks" {
  alarm_name          = "${local.name}-glue-failed-tasks"
  alarm_description   = "Spark tasks of the streaming job failed."
  namespace           = "Glue"
  metric_name         = "glue.driver.aggregate.numFailedTasks"
  dimensions          = { JobName = aws_glue_job.elt.name, JobRunId = "ALL", Type = "count" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}

# A streaming job that fails, times out or is stopped no longer loads anything.
resource "aws_cloudwatch_event_rule" "glue_job_state" {
  name        = "${local.name}-glue-job-state"
  description = "The fraudit streaming job left the RUNNING state"
  event_pattern = jsonencode({
    source      = ["aws.glue"]
    detail-type = ["Glue Job State Change"]
    detail = {
      jobName = [aws_glue_job.elt.name]
      state   = ["FAILED", "TIMEOUT", "STOPPED", "ERROR"]
    }
  })
}

resource "aws_cloudwatch_event_target" "glue_job_state" {
  rule = aws_cloudwatch_event_rule.glue_job_state.name
  arn  = aws_sns_topic.alarms.arn
}
