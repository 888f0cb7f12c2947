"""The online feature store: card history at scoring time, and idempotency records."""
