"""The operations task: steps that need both the online store and PostgreSQL, run inside
the stack's VPC (docs/deploy.md, "The operations task")."""
