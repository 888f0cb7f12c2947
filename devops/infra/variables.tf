variable "region" {
  description = "AWS region of the whole stack."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "The region must look like us-east-1."
  }
}

variable "environment" {
  description = "Stack name suffix (dev, staging, prod): every resource is named fraudit-<environment>-..."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "The environment must be 2-16 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "vpc_cidr" {
  description = "CIDR block of the stack's VPC (two private subnets are carved from it)."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "The VPC CIDR must be a valid block of /20 or larger."
  }
}

variable "stream_mode" {
  description = "Kinesis capacity mode: ON_DEMAND (pay per GB, scales itself) or PROVISIONED (pay per shard-hour)."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.stream_mode)
    error_message = "The stream mode must be ON_DEMAND or PROVISIONED."
  }
}

variable "stream_shard_count" {
  description = "Shards of the stream when stream_mode is PROVISIONED (each takes 1 MB/s or 1,000 records/s in)."
  type        = number
  default     = 2

  validation {
    condition     = var.stream_shard_count >= 1 && var.stream_shard_count <= 500
    error_message = "The shard count must be between 1 and 500."
  }
}

variable "stream_retention_hours" {
  description = "Hours Kinesis keeps records: how long the Glue job may be down and still catch up without loss."
  type        = number
  default     = 168

  validation {
    condition     = var.stream_retention_hours >= 24 && var.stream_retention_hours <= 8760
    error_message = "Retention must be between 24 and 8760 hours."
  }
}

variable "model_version" {
  description = "Model version written by `fraudit train` (models/<version>/) and uploaded by `fraudit deploy upload`. Empty: no SageMaker endpoints yet."
  type        = string
  default     = ""

  validation {
    condition     = var.model_version == "" || can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", var.model_version))
    error_message = "The model version must be a directory name written by `fraudit train`."
  }
}

variable "card_model_version" {
  description = "Card-family model version written by `fraudit train --dataset cards` (models/cards/<version>/) and uploaded by `fraudit deploy upload --family cards`. Empty: no card endpoints."
  type        = string
  default     = ""

  validation {
    condition     = var.card_model_version == "" || can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", var.card_model_version))
    error_message = "The card model version must be a directory name written by `fraudit train --dataset cards`."
  }
}

variable "shadow_model_version" {
  description = "A candidate ULB-family model scoring live traffic in shadow (docs/MODELS.md): its scores are recorded on each event and decide nothing. Uploaded by `fraudit deploy upload --shadow`. Empty: no shadow."
  type        = string
  default     = ""

  validation {
    condition     = var.shadow_model_version == "" || can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", var.shadow_model_version))
    error_message = "The shadow model version must be a directory name written by `fraudit train`."
  }
}

variable "card_shadow_model_version" {
  description = "A candidate card model scoring live traffic in shadow (docs/MODELS.md), e.g. one `fraudit train --dataset cards --from-store` wrote. Uploaded by `fraudit deploy upload --family cards --shadow`. Empty: no shadow."
  type        = string
  default     = ""

  validation {
    condition     = var.card_shadow_model_version == "" || can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", var.card_shadow_model_version))
    error_message = "The card shadow model version must be a directory name written by `fraudit train --dataset cards`."
  }
}

variable "endpoints_managed_by" {
  description = "Who owns the SageMaker models, endpoint configurations and endpoints: terraform (from model_version) or deploy (`fraudit deploy endpoints`). One owner, never both."
  type        = string
  default     = "terraform"

  validation {
    condition     = contains(["terraform", "deploy"], var.endpoints_managed_by)
    error_message = "endpoints_managed_by must be terraform or deploy."
  }
}

variable "xgboost_image_tag" {
  description = "Tag of SageMaker's built-in XGBoost image; `fraudit deploy check-model` proves the classifier loads with the xgboost of this tag."
  type        = string
  default     = "3.0-5"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+-[0-9]+$", var.xgboost_image_tag))
    error_message = "The XGBoost image tag looks like 3.0-5."
  }
}

variable "sklearn_image_tag" {
  description = "Tag of SageMaker's scikit-learn image that serves the anomaly detector (its inference.py needs only numpy)."
  type        = string
  default     = "1.4-2"
}

variable "serverless_inference" {
  description = "Serve both models with SageMaker Serverless Inference (pay per request, cold starts) instead of instances."
  type        = bool
  default     = false
}

variable "endpoint_instance_type" {
  description = "Instance type of each endpoint when serverless_inference is false."
  type        = string
  default     = "ml.m5.large"

  validation {
    condition     = startswith(var.endpoint_instance_type, "ml.")
    error_message = "SageMaker instance types start with ml."
  }
}

variable "endpoint_instance_count" {
  description = "Instances per endpoint when serverless_inference is false (2+ spreads them over availability zones)."
  type        = number
  default     = 1

  validation {
    condition     = var.endpoint_instance_count >= 1
    error_message = "At least one instance per endpoint."
  }
}

variable "serverless_memory_mb" {
  description = "Memory of each serverless endpoint (1024-6144, a multiple of 1024)."
  type        = number
  default     = 2048

  validation {
    condition     = var.serverless_memory_mb >= 1024 && var.serverless_memory_mb <= 6144 && var.serverless_memory_mb % 1024 == 0
    error_message = "Serverless memory must be 1024-6144 MB in steps of 1024."
  }
}

variable "serverless_max_concurrency" {
  description = "Concurrent invocations per serverless endpoint."
  type        = number
  default     = 20

  validation {
    condition     = var.serverless_max_concurrency >= 1 && var.serverless_max_concurrency <= 200
    error_message = "Serverless concurrency must be 1-200."
  }
}

variable "db_instance_class" {
  description = "RDS instance class of the PostgreSQL database."
  type        = string
  default     = "db.t4g.medium"

  validation {
    condition     = startswith(var.db_instance_class, "db.")
    error_message = "RDS instance classes start with db."
  }
}

variable "db_engine_version" {
  description = "PostgreSQL major version (14+: the rollups use date_bin)."
  type        = string
  default     = "16"

  validation {
    condition     = tonumber(split(".", var.db_engine_version)[0]) >= 14
    error_message = "fraudit needs PostgreSQL 14 or newer."
  }
}

variable "db_allocated_storage_gb" {
  description = "Initial storage of the database in GB (it grows to 4x by itself)."
  type        = number
  default     = 50

  validation {
    condition     = var.db_allocated_storage_gb >= 20
    error_message = "At least 20 GB."
  }
}

variable "db_multi_az" {
  description = "Keep a standby in a second availability zone (doubles the database cost; survives an AZ outage)."
  type        = bool
  default     = true
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database (turn off only to tear down a test stack)."
  type        = bool
  default     = true
}

variable "glue_worker_type" {
  description = "Glue worker type of the streaming job (G.025X suits low volume streaming; G.1X and up for more)."
  type        = string
  default     = "G.1X"

  validation {
    condition     = contains(["G.025X", "G.1X", "G.2X", "G.4X", "G.8X"], var.glue_worker_type)
    error_message = "Glue worker type must be one of G.025X, G.1X, G.2X, G.4X, G.8X."
  }
}

variable "glue_worker_count" {
  description = "Workers of the streaming job (2 is the minimum: one driver, one executor)."
  type        = number
  default     = 2

  validation {
    condition     = var.glue_worker_count >= 2
    error_message = "A Glue Spark job needs at least 2 workers."
  }
}

variable "glue_backtest_worker_count" {
  description = "Workers of the backtest job (docs/BACKTESTS.md; 1M decisions took minutes on 2 local cores)."
  type        = number
  default     = 2

  validation {
    condition     = var.glue_backtest_worker_count >= 2
    error_message = "A Glue Spark job needs at least 2 workers."
  }
}

variable "label_maturity_days" {
  description = "Days after which an unlabelled approval or review counts as genuine (docs/LABELS.md)."
  type        = number
  default     = 60
}

variable "review_capacity" {
  description = "Cases the team reviews a day: k of card precision at k in backtests."
  type        = number
  default     = 100
}

variable "glue_version" {
  description = "AWS Glue version of the streaming job (5.x: Spark 3.5, Python 3.11, Java 17)."
  type        = string
  default     = "5.0"

  validation {
    condition     = can(regex("^5\\.[0-9]+$", var.glue_version))
    error_message = "fraudit's Glue job targets Glue 5.x."
  }
}

variable "glue_window_size" {
  description = "Micro-batch interval of the Glue job (forEachBatch windowSize)."
  type        = string
  default     = "10 seconds"
}

variable "api_package_s3_key" {
  description = "Key in the artifacts bucket of the zip `chalice package` built (written by `fraudit deploy upload`). Empty: no Lambda and API yet."
  type        = string
  default     = ""
}

variable "ops_package_s3_key" {
  description = "Key in the artifacts bucket of the operations task's zip (`fraudit deploy build --ops`, written by `fraudit deploy upload`). Empty: no operations function yet."
  type        = string
  default     = ""
}

variable "reap_schedule" {
  description = "How often the operations task undoes the counts of card requests that died unanswered (fraudit.online.reaper); an EventBridge schedule expression."
  type        = string
  default     = "rate(5 minutes)"
}

variable "api_reserved_concurrency" {
  description = "Reserved concurrency of the API Lambda (a cap that protects the model endpoints and the stream)."
  type        = number
  default     = 100

  validation {
    condition     = var.api_reserved_concurrency >= 1
    error_message = "Reserved concurrency must be at least 1."
  }
}

variable "api_throttle_rate" {
  description = "Steady requests per second the API usage plan admits per key."
  type        = number
  default     = 500
}

variable "api_throttle_burst" {
  description = "Burst of requests the API usage plan admits per key."
  type        = number
  default     = 1000
}

variable "dashboard_instance_type" {
  description = "EC2 instance type of the dashboard (Streamlit), reached through an SSM port-forward."
  type        = string
  default     = "t4g.small"
}

variable "dashboard_enabled" {
  description = "Run the dashboard instance (it needs the dashboard wheelhouse uploaded by `fraudit deploy upload`)."
  type        = bool
  default     = true
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (empty: subscribe yourself later)."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@ ]+@[^@ ]+\\.[^@ ]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address or empty."
  }
}

variable "iterator_age_alarm_ms" {
  description = "Alarm when the oldest unread record of the stream is older than this (milliseconds): the Glue job is behind or down."
  type        = number
  default     = 300000
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the stack's logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts."
  }
}

variable "manage_api_gateway_account" {
  description = "Set the account's API Gateway CloudWatch role (one per account and region)."
  type        = bool
  default     = true
}

variable "online_store_max_gb" {
  description = "Storage ceiling of the online store (ElastiCache Serverless, Valkey), in GB. docs/FEATURES.md measures about 563 bytes per card transaction kept (30 days plus the allowed lateness) and 469 per idempotency record."
  type        = number
  default     = 5

  validation {
    condition     = var.online_store_max_gb >= 1 && var.online_store_max_gb <= 5000
    error_message = "Between 1 and 5000 GB (ElastiCache Serverless limits)."
  }
}

variable "online_store_max_ecpu_per_second" {
  description = "Compute ceiling of the online store, in ElastiCache Processing Units per second; past it commands are throttled and card requests get 503s. docs/deploy.md gives the sizing rule (ECPUs per card request x peak rate, with headroom)."
  type        = number
  default     = 100000

  validation {
    condition     = var.online_store_max_ecpu_per_second >= 1000 && var.online_store_max_ecpu_per_second <= 15000000
    error_message = "Between 1,000 and 15,000,000 ECPUs per second (ElastiCache Serverless limits)."
  }
}
