"""Shared ELT: schema, pure transform and validation, PostgreSQL loader."""
