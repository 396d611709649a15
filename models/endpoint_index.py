"""The endpoint index as discovery reads it: one projected Query through botocore, no pynamodb.

Discovery needs two things from the user's partition: whether an account link exists (only linked
users get an index) and the capability digest each endpoint was last reported with. Through
pynamodb (``models.store.account_view``) that costs the pynamodb import on a cold start and a
model object per item on every discovery; here the Query projects ``sk`` and the digest only and
the answer becomes one dict. The diff is written by ``models.store.apply_endpoint_diff`` as ever.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from models.errors import StoreUnavailable
from models.keys import CAPABILITY_DIGEST, ENDPOINT_PREFIX, LINK_PREFIX


class DigestView(NamedTuple):
    """Whether the user has an account link, and endpointId -> last reported capability digest."""

    linked: bool
    digests: dict[str, str]


def read_digests(user_key: str) -> DigestView:
    """Round trips: 1 Query (consistent; one more per 1 MB page, far beyond 300 endpoints)."""
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
    linked = False
    digests: dict[str, str] = {}
    try:
        client = aws.client("dynamodb")
        while True:
            page = client.query(**request)
            for item in page.get("Items", ()):
                sort_key = item["sk"]["S"]
                if sort_key.startswith(ENDPOINT_PREFIX):
                    digest = item.get(CAPABILITY_DIGEST, {}).get("S")
                    if digest is not None:
                        digests[sort_key[len(ENDPOINT_PREFIX) :]] = digest
                elif sort_key.startswith(LINK_PREFIX):
                    linked = True
            if "LastEvaluatedKey" not in page:
                return DigestView(linked, digests)
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        raise StoreUnavailable(f"read_digests failed: {code}") from None
    except BotoCoreError as exc:
        raise StoreUnavailable(f"read_digests failed: {type(exc).__name__}") from None
