"""`fraudit deploy`: put fraudit's artifacts where the Terraform stack (devops/infra)
expects them and drive what Terraform does not: SageMaker endpoint roll-outs (when the
deploy tool owns them), the Glue job's runs, the stack's .env.

plan.py is pure (what to do, from what is wanted and what is there); aws.py is the one
typed wrapper around boto3; commands.py executes a plan, or only prints it (--dry-run).
"""
