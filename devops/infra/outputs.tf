# Each output whose name is an upper-case variable is written to the stack's .env by
# `fraudit deploy env` (same name, same meaning as in .env.example). Lower-case outputs
# are for the deploy tool and for people.

output "AWS_REGION" {
  description = "Region of the stack."
  value       = var.region
}

output "FRAUDIT_STREAM_NAME" {
  description = "Kinesis stream of scored events."
  value       = aws_kinesis_stream.events.name
}

output "FRAUDIT_CLASSIFIER_ENDPOINT" {
  description = "SageMaker endpoint of the classifier."
  value       = local.classifier_endpoint
}

output "FRAUDIT_ANOMALY_ENDPOINT" {
  description = "SageMaker endpoint of the anomaly detector."
  value       = local.anomaly_endpoint
}

output "FRAUDIT_CARD_CLASSIFIER_ENDPOINT" {
  description = "SageMaker endpoint of the card family's classifier."
  value       = local.card_classifier_endpoint
}

output "FRAUDIT_CARD_ANOMALY_ENDPOINT" {
  description = "SageMaker endpoint of the card family's anomaly detector."
  value       = local.card_anomaly_endpoint
}

output "FRAUDIT_POLICY_S3_URI" {
  description = "Where the API reads the decision policy (`fraudit deploy upload` publishes it)."
  value       = "s3://${module.artifacts_bucket.id}/${local.policy_key}"
}

output "FRAUDIT_DATABASE_SECRET_ID" {
  description = "ARN of the RDS-managed secret holding the database user and password."
  value       = aws_db_instance.main.master_user_secret[0].secret_arn
}

output "FRAUDIT_DATABASE_HOST" {
  description = "Database host (reachable only from the VPC)."
  value       = aws_db_instance.main.address
}

output "FRAUDIT_DATABASE_PORT" {
  description = "Database port."
  value       = aws_db_instance.main.port
}

output "FRAUDIT_DATABASE_NAME" {
  description = "Database name."
  value       = aws_db_instance.main.db_name
}

output "api_url" {
  description = "Base URL of the inference API (empty until api_package_s3_key is set)."
  value       = local.api_enabled ? aws_api_gateway_stage.api[0].invoke_url : ""
}

output "artifacts_bucket" {
  description = "Bucket of models, policy, job script, wheelhouses and the API zip."
  value       = module.artifacts_bucket.id
}

output "checkpoints_bucket" {
  description = "Bucket of the Glue job's Spark checkpoints."
  value       = module.checkpoints_bucket.id
}

output "glue_job_name" {
  description = "Name of the Glue streaming job (`fraudit deploy glue start|stop|status`)."
  value       = aws_glue_job.elt.name
}

output "sagemaker_role_arn" {
  description = "Execution role for SageMaker models (used by `fraudit deploy endpoints`)."
  value       = aws_iam_role.sagemaker.arn
}

output "kms_key_arn" {
  description = "Key that encrypts the stack's data."
  value       = aws_kms_key.main.arn
}

output "xgboost_image_tag" {
  description = "Built-in XGBoost image tag the classifier must load with."
  value       = var.xgboost_image_tag
}

output "xgboost_image_uri" {
  description = "Built-in XGBoost image of the classifier endpoint."
  value       = data.aws_sagemaker_prebuilt_ecr_image.xgboost.registry_path
}

output "sklearn_image_uri" {
  description = "scikit-learn image of the anomaly endpoint."
  value       = data.aws_sagemaker_prebuilt_ecr_image.sklearn.registry_path
}

output "endpoints_managed_by" {
  description = "terraform or deploy: who creates and updates the SageMaker endpoints."
  value       = var.endpoints_managed_by
}

output "api_name" {
  description = "Name of the API (its usage-plan keys are named after it)."
  value       = local.api_enabled ? local.api_name : ""
}

output "api_key_secret_arn" {
  description = "Secret holding the API key (filled by fraudit deploy api-key; never in the state)."
  value       = local.api_enabled ? aws_secretsmanager_secret.api_key[0].arn : ""
}

output "api_usage_plan_id" {
  description = "Usage plan whose key fraudit deploy api-key keeps equal to the secret."
  value       = local.api_enabled ? aws_api_gateway_usage_plan.api[0].id : ""
}

output "dashboard_instance_id" {
  description = "Instance to port-forward to for the dashboard (see docs/deploy.md)."
  value       = var.dashboard_enabled ? aws_instance.dashboard[0].id : ""
}

output "alarm_topic_arn" {
  description = "SNS topic of the stack's alarms."
  value       = aws_sns_topic.alarms.arn
}

output "ops_function_name" {
  description = "The operations task's Lambda (`fraudit deploy ops`); empty until its zip is uploaded"
  value       = local.ops_enabled ? aws_lambda_function.ops[0].function_name : ""
}
