# SageMaker: the classifier on the built-in XGBoost image, the anomaly detector on the
# scikit-learn image with fraudit's own inference.py (packed in its model.tar.gz).
# Created only when model_version is set and Terraform owns the endpoints
# (endpoints_managed_by = "terraform"); otherwise `fraudit deploy endpoints` does it.

locals {
  manage_endpoints = var.model_version != "" && var.endpoints_managed_by == "terraform"
  model_prefix     = "s3://${module.artifacts_bucket.id}/models/${var.model_version}"
  # Names carry the version so a new version is created beside the old one, and the
  # endpoint switches over without downtime.
  version_suffix = substr(sha1(var.model_version), 0, 8)
  models = {
    classifier = {
      endpoint = local.classifier_endpoint
      image    = data.aws_sagemaker_prebuilt_ecr_image.xgboost.registry_path
      data     = "${local.model_prefix}/classifier/model.tar.gz"
      env      = {}
    }
    anomaly = {
      endpoint = local.anomaly_endpoint
      image    = data.aws_sagemaker_prebuilt_ecr_image.sklearn.registry_path
      data     = "${local.model_prefix}/anomaly/model.tar.gz"
      env = {
        SAGEMAKER_PROGRAM             = "inference.py"
        SAGEMAKER_SUBMIT_DIRECTORY    = "/opt/ml/model/code"
        SAGEMAKER_CONTAINER_LOG_LEVEL = "20"
      }
    }
  }
}

data "aws_sagemaker_prebuilt_ecr_image" "xgboost" {
  repository_name = "sagemaker-xgboost"
  image_tag       = var.xgboost_image_tag
}

data "aws_sagemaker_prebuilt_ecr_image" "sklearn" {
  repository_name = "sagemaker-scikit-learn"
  image_tag       = "${var.sklearn_image_tag}-cpu-py3"
}

resource "aws_sagemaker_model" "model" {
  for_each           = local.manage_endpoints ? local.models : {}
  name               = "${each.value.endpoint}-${local.version_suffix}"
  execution_role_arn = aws_iam_role.sagemaker.arn
  # The containers need nothing from the network: the artifact comes from S3 before start.
  enable_network_isolation = true

  primary_container {
    image          = each.value.image
    model_data_url = each.value.data
    environment    = each.value.env
  }

  tags = { model-version = var.model_version }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_sagemaker_endpoint_configuration" "model" {
  for_each    = aws_sagemaker_model.model
  name        = each.value.name
  kms_key_arn = var.serverless_inference ? null : aws_kms_key.main.arn # serverless takes no volume key

  production_variants {
    variant_name           = "primary"
    model_name             = each.value.name
    instance_type          = var.serverless_inference ? null : var.endpoint_instance_type
    initial_instance_count = var.serverless_inference ? null : var.endpoint_instance_count

    dynamic "serverless_config" {
      for_each = var.serverless_inference ? [1] : []
      content {
        memory_size_in_mb = var.serverless_memory_mb
        max_concurrency   = var.serverless_max_concurrency
      }
    }
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_sagemaker_endpoint" "model" {
  for_each             = aws_sagemaker_endpoint_configuration.model
  name                 = local.models[each.key].endpoint
  endpoint_config_name = each.value.name
  tags                 = { managed-by = "terraform", model-version = var.model_version }
}
