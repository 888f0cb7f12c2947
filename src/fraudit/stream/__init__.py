"""Streaming jobs: Kinesis -> transform -> PostgreSQL, locally and on AWS Glue."""
