"""The table's base model and the binding of every model to the configured table.

All item kinds live in one DynamoDB table keyed by ``pk`` (partition: one user, or one global
short-lived row) and ``sk`` (item kind plus id). Tables are never created by the Lambda:
the SAM template owns the table; ``models.store.create_table_for_local`` serves the local stack
and tests only.
"""

from __future__ import annotations

import threading
from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from skill.config import Settings, settings

# pynamodb's defaults (15 s connect, 30 s read, 3 retries) would outlive a Lambda invocation.
CONNECT_TIMEOUT_SECONDS = 1
READ_TIMEOUT_SECONDS = 2
MAX_RETRY_ATTEMPTS = 2


class TableModel(Model):
    """Base of every item kind; all live in one table (``ZOSI_TABLE_NAME``)."""

    class Meta:
        abstract = True

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


_lock = threading.Lock()
_bound_to: tuple[Settings, Any] | None = None


def bind_table() -> None:
    """Point every model at the configured table and region, dropping cached connections.

    All models share the DynamoDB client of ``skill.aws`` (one botocore session per container
    instead of pynamodb's own: ~50 ms less cold start). ``AWS_ENDPOINT_URL`` (botocore's own
    setting) points it at the local stack.
    """
    global _bound_to
    from skill import aws

    with _lock:
        s = settings()
        client = aws.client("dynamodb")
        for model in all_models():
            meta: Any = model.Meta
            meta.table_name = s.table_name
            meta.region = s.aws_region
            meta.connect_timeout_seconds = CONNECT_TIMEOUT_SECONDS
            meta.read_timeout_seconds = READ_TIMEOUT_SECONDS
            meta.max_retry_attempts = MAX_RETRY_ATTEMPTS
            model._connection = None
            # pynamodb 6.1 keeps its botocore client in Connection._client and re-creates it only
            # if that client lost its credentials; tests/models/test_store.py checks the sharing.
            model._get_connection().connection._client = client
        _bound_to = (s, client)


def ensure_bound() -> None:
    """Bind once per settings object and client (cheap; tests and the CLI reset them between runs)."""
    from skill import aws

    bound = _bound_to
    if bound is None or bound[0] is not settings() or bound[1] is not aws.client("dynamodb"):
        bind_table()


def all_models() -> list[type[TableModel]]:
    """Every concrete item kind (subclasses of TableModel that are not abstract)."""
    import models.items  # noqa: F401 - defines the item kinds; imported here so the list is complete

    return [cls for cls in _subclasses(TableModel) if _is_concrete(cls)]


def _is_concrete(cls: type) -> bool:
    own_meta = cls.__dict__.get("Meta")  # an inherited Meta would be shared with the parent
    return own_meta is not None and not own_meta.__dict__.get("abstract", False)


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    sub: type
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found
