# The Glue 5 streaming job (command gluestreaming): Kinesis -> fraudit's ELT -> PostgreSQL.
# Its Python packages come from a zip of wheels in S3 (`fraudit deploy build` + `upload`):
# in private subnets without NAT the job cannot reach PyPI.

resource "aws_glue_connection" "vpc" {
  name            = "${local.name}-vpc"
  connection_type = "NETWORK"

  physical_connection_requirements {
    availability_zone      = aws_subnet.private[0].availability_zone
    subnet_id              = aws_subnet.private[0].id
    security_group_id_list = [aws_security_group.glue.id]
  }
}

resource "aws_glue_security_configuration" "main" {
  name = local.name

  encryption_configuration {
    cloudwatch_encryption {
      cloudwatch_encryption_mode = "SSE-KMS"
      kms_key_arn                = aws_kms_key.main.arn
    }
    job_bookmarks_encryption {
      job_bookmarks_encryption_mode = "CSE-KMS"
      kms_key_arn                   = aws_kms_key.main.arn
    }
    s3_encryption {
      s3_encryption_mode = "SSE-KMS"
      kms_key_arn        = aws_kms_key.main.arn
    }
  }
}

resource "aws_cloudwatch_log_group" "glue" {
  name              = "/aws-glue/jobs/${local.name}-elt"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_glue_job" "elt" {
  name                   = "${local.name}-elt"
  description            = "fraudit streaming ELT: Kinesis -> PostgreSQL with windowed risk indicators"
  role_arn               = aws_iam_role.glue.arn
  glue_version           = var.glue_version
  worker_type            = var.glue_worker_type
  number_of_workers      = var.glue_worker_count
  connections            = [aws_glue_connection.vpc.name]
  security_configuration = aws_glue_security_configuration.main.name

  command {
    name            = "gluestreaming"
    script_location = "s3://${module.artifacts_bucket.id}/${local.glue_script_key}"
    python_version  = "3"
  }

  # One run at a time: two runs on one checkpoint would interleave their offsets.
  execution_property {
    max_concurrent_runs = 1
  }

  # Identifiers and locations only. The database password stays in Secrets Manager and
  # is read by the job at start, by ARN.
  default_arguments = {
    "--job-language"                     = "python"
    "--stream_arn"                       = aws_kinesis_stream.events.arn
    "--db_secret_arn"                    = aws_db_instance.main.master_user_secret[0].secret_arn
    "--db_host"                          = aws_db_instance.main.address
    "--db_port"                          = tostring(aws_db_instance.main.port)
    "--db_name"                          = aws_db_instance.main.db_name
    "--checkpoint_location"              = "s3://${module.checkpoints_bucket.id}/elt/"
    "--window_size"                      = var.glue_window_size
    "--starting_position"                = "TRIM_HORIZON"
    "--additional-python-modules"        = "s3://${module.artifacts_bucket.id}/${local.glue_wheelhouse_key}"
    "--TempDir"                          = "s3://${module.checkpoints_bucket.id}/tmp/"
    "--enable-metrics"                   = "true"
    "--enable-observability-metrics"     = "true"
    "--enable-continuous-cloudwatch-log" = "true"
    "--continuous-log-logGroup"          = aws_cloudwatch_log_group.glue.name
  }
}

# Backtests (docs/BACKTESTS.md): a batch job, started per run with its period and as-of date
# (`aws glue start-job-run --job-name ... --arguments '{"--start": ..., "--end": ...,
# "--as_of": ...}'`). It reads the database through the same VPC connection as the ELT,
# stages the extract and writes its report under the checkpoints bucket's backtests/, and
# keeps the run in fraud_backtest_runs. The candidate is the published ruleset and card
# policy unless a run names other objects.
resource "aws_cloudwatch_log_group" "glue_backtest" {
  name              = "/aws-glue/jobs/${local.name}-backtest"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_glue_job" "backtest" {
  name                   = "${local.name}-backtest"
  description            = "fraudit backtest: a candidate ruleset and policy over stored decisions and matured labels"
  role_arn               = aws_iam_role.glue.arn
  glue_version           = var.glue_version
  worker_type            = var.glue_worker_type
  number_of_workers      = var.glue_backtest_worker_count
  timeout                = 120
  connections            = [aws_glue_connection.vpc.name]
  security_configuration = aws_glue_security_configuration.main.name

  command {
    name            = "glueetl"
    script_location = "s3://${module.artifacts_bucket.id}/${local.glue_backtest_key}"
    python_version  = "3"
  }

  default_arguments = {
    "--job-language"                     = "python"
    "--db_secret_arn"                    = aws_db_instance.main.master_user_secret[0].secret_arn
    "--db_host"                          = aws_db_instance.main.address
    "--db_port"                          = tostring(aws_db_instance.main.port)
    "--db_name"                          = aws_db_instance.main.db_name
    "--ruleset_uri"                      = "s3://${module.artifacts_bucket.id}/${local.ruleset_key}"
    "--policy_uri"                       = "s3://${module.artifacts_bucket.id}/${local.card_policy_key}"
    "--family"                           = "cards"
    "--maturity_days"                    = tostring(var.label_maturity_days)
    "--review_capacity"                  = tostring(var.review_capacity)
    "--work_prefix"                      = "s3://${module.checkpoints_bucket.id}/backtests/"
    "--additional-python-modules"        = "s3://${module.artifacts_bucket.id}/${local.glue_wheelhouse_key}"
    "--TempDir"                          = "s3://${module.checkpoints_bucket.id}/tmp/"
    "--enable-metrics"                   = "true"
    "--enable-continuous-cloudwatch-log" = "true"
    "--continuous-log-logGroup"          = aws_cloudwatch_log_group.glue_backtest.name
  }
}
