"""The wire formats' schema versions, written once: the API stamps them on answers and
events, the stream job accepts exactly these. Light: the Lambda and the Glue job import it."""

from __future__ import annotations

SCHEMA_VERSION = 1  # a ULB vector's request, answer and event
CARD_SCHEMA_VERSION = 2  # a card transaction's: the event also carries its card and features
SUPPORTED_SCHEMA_VERSIONS = (SCHEMA_VERSION, CARD_SCHEMA_VERSION)
