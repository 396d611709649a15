"""The storage layer's one failure type, importable without pynamodb."""

from __future__ import annotations


class StoreUnavailable(RuntimeError):
    """DynamoDB failed or could not be reached. The message names the operation and AWS error code only."""
