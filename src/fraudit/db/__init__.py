"""PostgreSQL: the schema (SQL migrations applied in order) and connections."""
