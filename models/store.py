"""The table's public surface: every operation on DynamoDB, re-exported from its aggregate's module.

Callers use ``from models import store`` and one name per operation; the code lives by aggregate
(profiles, links, endpoints, accounts, erasure, retention, dedupe) over the shared plumbing in
``models.table``. No module outside ``models`` queries DynamoDB. Each function documents its round
trips (tests/models/test_store.py counts them); docs/architecture.md ("Storage") has the layout.
"""

from __future__ import annotations

from models.accounts import AccountView, account_view
from models.dedupe import claim_event, release_event
from models.endpoints import EndpointRecord, apply_endpoint_diff, endpoint_index
from models.erasure import begin_erasure, complete_erasure, erase_user, export_user
from models.errors import ErasedDuringRequest, StoreUnavailable
from models.links import (
    LinkRef,
    acquire_refresh_lease,
    clear_grant,
    delete_link,
    find_links_by_alexa_user,
    finish_refresh,
    get_link,
    links_of,
    release_refresh_lease,
    save_grant,
    set_events_permitted,
    upsert_link,
)
from models.profiles import get_profile, put_profile, set_consent_withdrawn, touch_profile
from models.retention import RetentionCensus, inactive_users, retention_census
from models.table import (
    BATCH_WRITE_LIMIT,
    FENCED_WRITES_PER_TRANSACTION,
    TABLE_DEFINITION,
    TRANSACTION_LIMIT,
    create_table_for_local,
    fence_allows,
)

__all__ = [
    "BATCH_WRITE_LIMIT",
    "FENCED_WRITES_PER_TRANSACTION",
    "TABLE_DEFINITION",
    "TRANSACTION_LIMIT",
    "AccountView",
    "EndpointRecord",
    "ErasedDuringRequest",
    "LinkRef",
    "RetentionCensus",
    "StoreUnavailable",
    "account_view",
    "acquire_refresh_lease",
    "apply_endpoint_diff",
    "begin_erasure",
    "claim_event",
    "clear_grant",
    "complete_erasure",
    "create_table_for_local",
    "delete_link",
    "endpoint_index",
    "erase_user",
    "export_user",
    "fence_allows",
    "find_links_by_alexa_user",
    "finish_refresh",
    "get_link",
    "get_profile",
    "inactive_users",
    "links_of",
    "put_profile",
    "release_event",
    "release_refresh_lease",
    "retention_census",
    "save_grant",
    "set_consent_withdrawn",
    "set_events_permitted",
    "touch_profile",
    "upsert_link",
]
