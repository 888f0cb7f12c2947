"""fraudit: real-time card-fraud scoring on AWS or on one laptop."""

__version__ = "0.1.0"
