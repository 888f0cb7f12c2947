"""Spark streaming sources fraudit brings for local runs (Glue has its own Kinesis source)."""
