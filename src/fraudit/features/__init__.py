"""Card-transaction features: one declaration (definitions.py), several engines."""
