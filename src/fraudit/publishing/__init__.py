"""Publishing scored events to Kinesis without losing or silently dropping any."""

from fraudit.publishing.kinesis_producer import KinesisPublisher, PublishError, PublishOutcome

__all__ = ["KinesisPublisher", "PublishError", "PublishOutcome"]
