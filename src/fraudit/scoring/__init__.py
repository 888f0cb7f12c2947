"""Scoring: the decision policy (pure) and, later, the Scorer implementations."""
