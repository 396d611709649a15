"""The item kinds of the single table.

Everything about a user sits under ``pk = pseudonyms.user_key(accloud_user_id)``; the sort key
names the kind. Only the short-lived kinds may carry the TTL attribute ``expires_at``, and readers
treat an expired row as absent (DynamoDB deletes late). Every attribute is declared in
``models.inventory``. Details: docs/architecture.md, "Storage"; docs/privacy.md, "Retention".
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from models.base import TableModel
from models.keys import (
    ALEXA_USER_INDEX,
    DEDUPE_PREFIX,
    DEDUPE_SK,
    ENDPOINT_PREFIX,
    FENCE_PREFIX,
    FENCE_SK,
    LINK_PREFIX,
    PROFILE_SK,
    TTL_ATTRIBUTE,
)

__all__ = [
    "ALEXA_USER_INDEX",
    "DEDUPE_PREFIX",
    "DEDUPE_SK",
    "ENDPOINT_PREFIX",
    "FENCE_PREFIX",
    "FENCE_SK",
    "LINK_PREFIX",
    "PROFILE_SK",
    "TTL_ATTRIBUTE",
    "AccountLink",
    "AccountProfile",
    "ByAlexaUser",
    "EndpointEntry",
    "ErasureFence",
    "WebhookDedupe",
    "is_live",
    "kind_of",
]


class AccountProfile(TableModel):
    """One per user: consent and activity times and the accepted privacy-policy version."""

    class Meta:
        table_name = "unbound"  # models.base.bind_table sets the configured name

    consented_at = UTCDateTimeAttribute()
    linked_at = UTCDateTimeAttribute(null=True)
    accepted_policy_version = UnicodeAttribute()
    last_active_at = UTCDateTimeAttribute()
    # Set by ACCloud's account.consent_withdrawn, removed by account.consent_given (policy V.3).
    consent_withdrawn_at = UTCDateTimeAttribute(null=True)

    @staticmethod
    def sort_key() -> str:
        return PROFILE_SK


class ByAlexaUser(GlobalSecondaryIndex["AccountLink"]):
    """Sparse, keys-only: which links belong to an Alexa user (skill events carry only the userId)."""

    class Meta:
        index_name = ALEXA_USER_INDEX
        projection = KeysOnlyProjection()

    alexa_user_key = UnicodeAttribute(hash_key=True)


class AccountLink(TableModel):
    """One per ACCloud account link (one Alexa account linked to the ZOSI account).

    Holds the Login-with-Amazon grant for the Event Gateway, envelope-encrypted
    (``skill.privacy.envelope``), and the refresh lease that serializes refreshes across containers.
    """

    class Meta:
        table_name = "unbound"

    alexa_user_key = UnicodeAttribute(null=True)  # absent until a skill event names the Alexa user
    region = UnicodeAttribute()  # Event Gateway region: "NA" | "EU" | "FE"
    linked_at = UTCDateTimeAttribute()
    events_permitted = BooleanAttribute(default=False)
    grant_ciphertext = BinaryAttribute(null=True, legacy_encoding=False)
    grant_expires_at = UTCDateTimeAttribute(null=True)
    refresh_lease_owner = UnicodeAttribute(null=True)
    refresh_lease_until = UTCDateTimeAttribute(null=True)
    version = VersionAttribute()

    by_alexa_user = ByAlexaUser()

    @staticmethod
    def sort_key(link_key: str) -> str:
        return LINK_PREFIX + link_key

    @property
    def link_key(self) -> str:
        return self.sk[len(LINK_PREFIX) :]

    @property
    def has_grant(self) -> bool:
        return self.grant_ciphertext is not None


class EndpointEntry(TableModel):
    """One per endpoint reported to Alexa: enough to compute AddOrUpdate/Delete diffs."""

    class Meta:
        table_name = "unbound"

    categories = ListAttribute(of=UnicodeAttribute, default=list)
    capability_digest = UnicodeAttribute()  # models.keys.CAPABILITY_DIGEST: projected by endpoint_index
    interfaces = ListAttribute(of=UnicodeAttribute, null=True)  # absent on rows written before it

    @staticmethod
    def sort_key(endpoint_id: str) -> str:
        return ENDPOINT_PREFIX + endpoint_id

    @property
    def endpoint_id(self) -> str:
        return self.sk[len(ENDPOINT_PREFIX) :]


class WebhookDedupe(TableModel):
    """A processed ACCloud webhook event id (keyed hash), so a redelivery is not sent to Alexa twice."""

    class Meta:
        table_name = "unbound"

    expires_at = TTLAttribute()

    @staticmethod
    def partition_key(event_hash: str) -> str:
        return DEDUPE_PREFIX + event_hash


class ErasureFence(TableModel):
    """Raised by an account erasure before it deletes anything (``models.fence``): create-writes of
    requests that began before the erasure completed are refused.

    Outside every user's partition: ``pk`` is a keyed hash of the user's partition key in its own
    domain, so the row neither holds nor reveals the erased key. Times only; gone by TTL.
    """

    class Meta:
        table_name = "unbound"

    state = UnicodeAttribute()  # models.fence.ERASING | ERASED
    started_at = UTCDateTimeAttribute()
    completed_at = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute()

    @staticmethod
    def partition_key(fence_hash: str) -> str:
        return FENCE_PREFIX + fence_hash

    @staticmethod
    def sort_key() -> str:
        return FENCE_SK


# Sort-key prefix -> item kind, for code that reads a whole partition (export).
KIND_BY_SK_PREFIX: tuple[tuple[str, type[TableModel]], ...] = (
    (PROFILE_SK, AccountProfile),
    (LINK_PREFIX, AccountLink),
    (ENDPOINT_PREFIX, EndpointEntry),
    (DEDUPE_SK, WebhookDedupe),
    (FENCE_SK, ErasureFence),
)


def kind_of(sort_key: str) -> type[TableModel] | None:
    for prefix, model in KIND_BY_SK_PREFIX:
        if sort_key.startswith(prefix):
            return model
    return None


def is_live(expires_at: datetime | None, now: datetime) -> bool:
    """A TTL row counts only until its expiry (DynamoDB deletes late; moto never does)."""
    return expires_at is not None and expires_at > now
