"""The storage layer's failure types, importable without pynamodb."""

from __future__ import annotations


class StoreUnavailable(RuntimeError):
    """DynamoDB failed or could not be reached. The message names the operation and AWS error code only."""


class ErasedDuringRequest(StoreUnavailable):
    """A create-write was refused: the user's data was erased after this request began.

    Writing would bring erased data back (``models.fence``). Nothing was stored; the caller answers
    as for a failed write, except where the request's outcome needs no storage (discovery).
    A subclass of ``StoreUnavailable`` so that a caller unaware of erasure never reports success.
    """
