# SageMaker: the classifier on the XGBoost image and the anomaly detector on the
# scikit-learn image, each in framework mode with fraudit's own inference.py (packed in its
# model.tar.gz): the classifier's also answers TreeSHAP explanations (docs/RULES.md).
# Per family (ULB: model_version, cards: card_model_version), created only when its version
# is set and Terraform owns the endpoints (endpoints_managed_by = "terraform"); otherwise
# `fraudit deploy endpoints [--family cards]` does it. A family's candidate in shadow
# (shadow_model_version, card_shadow_model_version) gets two more, named with -shadow.

locals {
  container_env = {
    SAGEMAKER_PROGRAM             = "inference.py"
    SAGEMAKER_SUBMIT_DIRECTORY    = "/opt/ml/model/code"
    SAGEMAKER_CONTAINER_LOG_LEVEL = "20"
  }
  # One entry per family with a version set: its folder under models/ and its endpoints.
  families = {
    for name, family in {
      ulb          = { version = var.model_version, prefix = "models", key = "", classifier = local.classifier_endpoint, anomaly = local.anomaly_endpoint }
      cards        = { version = var.card_model_version, prefix = "models/cards", key = "card-", classifier = local.card_classifier_endpoint, anomaly = local.card_anomaly_endpoint }
      ulb-shadow   = { version = var.shadow_model_version, prefix = "models", key = "shadow-", classifier = local.shadow_classifier_endpoint, anomaly = local.shadow_anomaly_endpoint }
      cards-shadow = { version = var.card_shadow_model_version, prefix = "models/cards", key = "card-shadow-", classifier = local.card_shadow_classifier_endpoint, anomaly = local.card_shadow_anomaly_endpoint }
    } : name => family if family.version != "" && var.endpoints_managed_by == "terraform"
  }
  # Names carry the version so a new version is created beside the old one, and the
  # endpoint switches over without downtime. The ULB family keeps its keys of before.
  models = merge({}, [
    for name, family in local.families : {
      "${family.key}classifier" = {
        endpoint = family.classifier
        version  = family.version
        image    = data.aws_sagemaker_prebuilt_ecr_image.xgboost.registry_path
        data     = "s3://${module.artifacts_bucket.id}/${family.prefix}/${family.version}/classifier/model.tar.gz"
        env      = local.container_env
      }
      "${family.key}anomaly" = {
        endpoint = family.anomaly
        version  = family.version
        image    = data.aws_sagemaker_prebuilt_ecr_image.sklearn.registry_path
        data     = "s3://${module.artifacts_bucket.id}/${family.prefix}/${family.version}/anomaly/model.tar.gz"
        env      = local.container_env
      }
    }
  ]...)
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
  for_each           = local.models
  name               = "${each.value.endpoint}-${substr(sha1(each.value.version), 0, 8)}"
  execution_role_arn = aws_iam_role.sagemaker.arn
  # The containers need nothing from the network: the artifact comes from S3 before start.
  enable_network_isolation = true

  primary_container {
    image          = each.value.image
    model_data_url = each.value.data
    environment    = each.value.env
  }

  tags = { model-version = each.value.version }

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
  tags                 = { managed-by = "terraform", model-version = local.models[each.key].version }
}
