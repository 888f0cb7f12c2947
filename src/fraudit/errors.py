"""The errors a user can act on, which every command reports as one line: light on purpose,
so the command line can catch them without importing numpy or xgboost."""

from __future__ import annotations


class DatasetError(ValueError):
    """The file is not a dataset fraudit can use; the message says where and why."""


class ArtifactError(RuntimeError):
    """No usable model bundle where one was expected."""
