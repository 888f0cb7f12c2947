terraform {
  # Written so that `terraform fmt` of 1.0 and of current releases agree (CI checks with
  # both); applying needs 1.5+ for the AWS provider 5.x features used here.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 6.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project     = "fraudit"
      environment = var.environment
      managed-by  = "terraform"
    }
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first two zones (sorted) are used; a zone AWS adds later sorts after them
  state = "available"
}

locals {
  name       = "fraudit-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  azs        = slice(data.aws_availability_zones.available.names, 0, 2)

  # Fixed object keys: `fraudit deploy upload` writes exactly these.
  glue_script_key     = "glue/fraudit_glue_job.py"
  glue_backtest_key   = "glue/fraudit_backtest_job.py"
  glue_wheelhouse_key = "glue/fraudit-glue.gluewheels.zip"
  dashboard_wheels    = "dashboard/fraudit-dashboard-wheelhouse.zip"
  policy_key          = "policy/policy.json"
  card_policy_key     = "policy/cards/policy.json"
  # The policies of the candidates in shadow (`fraudit deploy upload --shadow`).
  shadow_policy_key      = "policy/shadow-policy.json"
  card_shadow_policy_key = "policy/cards/shadow-policy.json"
  # The published ruleset (docs/RULES.md): `fraudit rules publish` writes it, the API reads
  # it with a conditional GET at most every ruleset_refresh_seconds.
  ruleset_key = "rules/ruleset.json"

  classifier_endpoint = "${local.name}-classifier"
  anomaly_endpoint    = "${local.name}-anomaly"
  # The card family's endpoints (docs/MODELS.md): its own models, the same images.
  card_classifier_endpoint = "${local.name}-card-classifier"
  card_anomaly_endpoint    = "${local.name}-card-anomaly"
  # Each family's candidate in shadow: the live endpoints' names with -shadow.
  shadow_classifier_endpoint      = "${local.classifier_endpoint}-shadow"
  shadow_anomaly_endpoint         = "${local.anomaly_endpoint}-shadow"
  card_shadow_classifier_endpoint = "${local.card_classifier_endpoint}-shadow"
  card_shadow_anomaly_endpoint    = "${local.card_anomaly_endpoint}-shadow"
}
