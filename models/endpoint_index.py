"""The endpoint index as discovery reads it: one projected Query through botocore, no pynamodb.

A cold discovery skips the pynamodb import, and a ``before-parse`` hook hands DynamoDB's items
over as sent, sparing botocore's per-value shape walk (a third of a 300-endpoint discovery's CPU).
The diff is written by ``models.store.apply_endpoint_diff`` as ever.
Details: docs/architecture.md, "Discovery's read of the endpoint index".
"""

from __future__ import annotations

import contextvars
import json
import weakref
from typing import Any, NamedTuple

from models.errors import StoreUnavailable
from models.keys import CAPABILITY_DIGEST, ENDPOINT_PREFIX, LINK_PREFIX

_RAW_ITEMS = "ZosiRawItems"
_RAW_NEXT = "ZosiRawLastEvaluatedKey"
_taking_raw: contextvars.ContextVar[bool] = contextvars.ContextVar("zosi_raw_query", default=False)
# Clients that carry the hook already: botocore's register checks the handler's signature on
# every call (~35 µs here), even when unique_id makes it a no-op.
_hooked: weakref.WeakSet[Any] = weakref.WeakSet()


class DigestView(NamedTuple):
    """Whether the user has an account link, and endpointId -> last reported capability digest."""

    linked: bool
    digests: dict[str, str]


def read_digests(user_key: str, *, page_size: int | None = None) -> DigestView:
    """Round trips: 1 Query (consistent; one more per 1 MB page, far beyond 300 endpoints).

    ``page_size`` (tests): items per Query page.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from skill import aws
    from skill.config import settings

    request: dict[str, Any] = {
        "TableName": settings().table_name,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": user_key}},
        "ProjectionExpression": f"sk, {CAPABILITY_DIGEST}",
        "ConsistentRead": True,
    }
    if page_size is not None:
        request["Limit"] = page_size
    linked = False
    digests: dict[str, str] = {}
    token = _taking_raw.set(True)
    try:
        client = aws.client("dynamodb")
        if client not in _hooked:
            client.meta.events.register("before-parse.dynamodb.Query", _keep_raw_items, unique_id=_RAW_ITEMS)
            _hooked.add(client)
        while True:
            page = client.query(**request)
            items = page[_RAW_ITEMS] if _RAW_ITEMS in page else page.get("Items", ())
            for item in items:
                sort_key = item["sk"]["S"]
                if sort_key.startswith(ENDPOINT_PREFIX):
                    digest = item.get(CAPABILITY_DIGEST, {}).get("S")
                    if digest is not None:
                        digests[sort_key[len(ENDPOINT_PREFIX) :]] = digest
                elif sort_key.startswith(LINK_PREFIX):
                    linked = True
            following = page.get(_RAW_NEXT, page.get("LastEvaluatedKey"))
            if not following:
                return DigestView(linked, digests)
            request["ExclusiveStartKey"] = following
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        raise StoreUnavailable(f"read_digests failed: {code}") from None
    except BotoCoreError as exc:
        raise StoreUnavailable(f"read_digests failed: {type(exc).__name__}") from None
    finally:
        _taking_raw.reset(token)


def _keep_raw_items(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], operation_model: Any, **_: Any
) -> None:
    """botocore ``before-parse`` hook for Query: see the module docstring. A no-op outside
    ``read_digests`` (pynamodb shares the client) and for anything but a 200 JSON answer."""
    if not _taking_raw.get() or response_dict.get("status_code") != 200:
        return
    if operation_model.service_model.protocol != "json":
        return
    try:
        body = json.loads(response_dict["body"])
    except (KeyError, TypeError, ValueError):
        return  # botocore reports it as it would have
    if not isinstance(body, dict) or not isinstance(body.get("Items", []), list):
        return
    customized_response_dict[_RAW_ITEMS] = body.get("Items", [])
    if body.get("LastEvaluatedKey"):
        customized_response_dict[_RAW_NEXT] = body["LastEvaluatedKey"]
    response_dict["body"] = b"{}"
