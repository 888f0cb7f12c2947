# The scored-events stream: the API puts every scored event here; the Glue job reads it.

resource "aws_kinesis_stream" "events" {
  name             = "${local.name}-predictions"
  retention_period = var.stream_retention_hours
  shard_count      = var.stream_mode == "PROVISIONED" ? var.stream_shard_count : null
  encryption_type  = "KMS"
  kms_key_id       = aws_kms_key.main.arn

  stream_mode_details {
    stream_mode = var.stream_mode
  }

  # IteratorAgeMilliseconds and friends per shard, for the lag alarm and for diagnosis.
  shard_level_metrics = ["IncomingRecords", "IteratorAgeMilliseconds", "ReadProvisionedThroughputExceeded", "WriteProvisionedThroughputExceeded"]
}
