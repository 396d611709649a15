"""The data inventory: why every stored attribute exists, how long it lives, which policy clause covers it.

Machine-readable: ``INVENTORY[model name][attribute name] = {"purpose", "retention", "clause"}``.
tests/models/test_inventory.py fails on a stored attribute without a declaration and on a
declaration without an attribute, so nothing is stored "just in case". Clauses refer to
shared/policy/privacy-policy.txt (section numbers as in the policy).
"""

from __future__ import annotations

from typing import Final, TypedDict


class AttributeUse(TypedDict):
    purpose: str
    retention: str
    clause: str


# Retention rules, named once so the privacy map reads consistently.
UNTIL_ERASURE: Final = (
    "until the user's partition is erased: SkillDisabled, ACCloud account.deleted, the voice request "
    "'delete my data', operator erasure, or ZOSI_INACTIVITY_ERASE_DAYS without activity; "
    "point-in-time backups age out within 35 days"
)
UNTIL_GRANT_ENDS: Final = (
    "until the Alexa Events permission is withdrawn, LWA answers invalid_grant, the Event Gateway reports "
    "the skill disabled, or the partition is erased (whichever comes first)"
)
WHILE_REFRESHING: Final = "only while a token refresh is in flight (seconds); cleared when it completes"
SHORT_TTL: Final = "TTL attribute expires_at (minutes to a day); treated as absent once passed"

LEAST_ENOUGH: Final = "I (principle of clear purpose, principle of least enough)"
ENCRYPTION: Final = "III.2-3 (encryption protection of personal data)"
SHARING: Final = "IV.1 (share only what the service requires)"
DELETION: Final = "V.2, V.4 (delete your personal data, cancel the account)"
CONSENT: Final = "V.3 (change the scope of your authorization)"
REVISION: Final = "VII (revision and update of this policy)"


def _use(purpose: str, retention: str, clause: str) -> AttributeUse:
    return {"purpose": purpose, "retention": retention, "clause": clause}


_USER_PARTITION = _use(
    "partition key: keyed hash of the ACCloud user id, so all data of a user is found and erased together",
    UNTIL_ERASURE,
    f"{LEAST_ENOUGH}; {DELETION}",
)

INVENTORY: Final[dict[str, dict[str, AttributeUse]]] = {
    "AccountProfile": {
        "pk": _USER_PARTITION,
        "sk": _use("item kind marker 'profile'", UNTIL_ERASURE, LEAST_ENOUGH),
        "consented_at": _use(
            "when the user consented (linked the account), as evidence that processing was lawful",
            UNTIL_ERASURE,
            f"{CONSENT}; V.3 (earlier processing stays lawful)",
        ),
        "linked_at": _use("when the first account link was made", UNTIL_ERASURE, LEAST_ENOUGH),
        "accepted_policy_version": _use(
            "privacy-policy version the user accepted, to announce a newer one at the next launch",
            UNTIL_ERASURE,
            REVISION,
        ),
        "last_active_at": _use(
            "last use of the skill, so inactive users are erased after ZOSI_INACTIVITY_ERASE_DAYS",
            UNTIL_ERASURE,
            f"{LEAST_ENOUGH}; {DELETION}",
        ),
        "consent_withdrawn_at": _use(
            "when the user withdrew consent in the ZOSI app: no proactive events until ACCloud reports "
            "consent given again, whatever grant Alexa hands over meanwhile",
            "until ACCloud's account.consent_given, or the partition is erased",
            CONSENT,
        ),
    },
    "AccountLink": {
        "pk": _USER_PARTITION,
        "sk": _use(
            "'link#' + keyed hash of ACCloud's link id: one row per Alexa account linked to the ZOSI account",
            UNTIL_ERASURE,
            LEAST_ENOUGH,
        ),
        "alexa_user_key": _use(
            "keyed hash of the Alexa userId, to find the link when a skill event arrives (SkillDisabled)",
            UNTIL_ERASURE,
            f"{LEAST_ENOUGH}; {DELETION}",
        ),
        "region": _use(
            "Alexa Event Gateway region (NA/EU/FE) the grant belongs to", UNTIL_ERASURE, f"{SHARING}"
        ),
        "linked_at": _use("when this Alexa account was linked", UNTIL_ERASURE, LEAST_ENOUGH),
        "events_permitted": _use(
            "whether the user currently allows 'Send Alexa Events'; proactive events stop when withdrawn",
            UNTIL_ERASURE,
            CONSENT,
        ),
        "grant_ciphertext": _use(
            "Login-with-Amazon access and refresh token, envelope-encrypted, to send proactive events",
            UNTIL_GRANT_ENDS,
            f"{ENCRYPTION}; {CONSENT}",
        ),
        "grant_expires_at": _use(
            "expiry of the stored access token, to refresh it before use", UNTIL_GRANT_ENDS, LEAST_ENOUGH
        ),
        "refresh_lease_owner": _use(
            "random id of the container refreshing the grant, so only one refresh runs at a time",
            WHILE_REFRESHING,
            ENCRYPTION,
        ),
        "refresh_lease_until": _use(
            "when an abandoned refresh lease may be taken over", WHILE_REFRESHING, ENCRYPTION
        ),
        "version": _use(
            "optimistic-locking counter, so concurrent writers never store a stale grant",
            UNTIL_ERASURE,
            ENCRYPTION,
        ),
    },
    "EndpointEntry": {
        "pk": _USER_PARTITION,
        "sk": _use(
            "'ep#' + opaque endpointId reported to Alexa (encrypted device reference, no serial or MAC)",
            UNTIL_ERASURE,
            f"{SHARING}; {DELETION}",
        ),
        "categories": _use(
            "display categories reported to Alexa, to detect changed endpoints", UNTIL_ERASURE, SHARING
        ),
        "capability_digest": _use(
            "short hash of the reported capabilities, to send AddOrUpdateReport only on change",
            UNTIL_ERASURE,
            SHARING,
        ),
        "interfaces": _use(
            "names of the Alexa interfaces reported, so an event goes only where its interface was",
            UNTIL_ERASURE,
            SHARING,
        ),
    },
    "WebhookDedupe": {
        "pk": _use(
            "'dedupe#' + keyed hash of an ACCloud webhook event id (no user id)", SHORT_TTL, LEAST_ENOUGH
        ),
        "sk": _use("item kind marker 'dedupe'", SHORT_TTL, LEAST_ENOUGH),
        "expires_at": _use("TTL: forget the event id after the redelivery window", SHORT_TTL, DELETION),
    },
    "ErasureFence": {
        "pk": _use(
            "'fence#' + keyed hash of an erased user's partition key in its own domain (no user id, "
            "not the partition key): requests that began before the erasure must not write the user back",
            SHORT_TTL,
            f"{DELETION}; {LEAST_ENOUGH}",
        ),
        "sk": _use("item kind marker 'fence'", SHORT_TTL, LEAST_ENOUGH),
        "state": _use(
            "whether the erasure is still running ('erasing') or done ('erased')", SHORT_TTL, DELETION
        ),
        "started_at": _use(
            "when the erasure began, so only the latest of overlapping erasures completes the fence",
            SHORT_TTL,
            DELETION,
        ),
        "completed_at": _use(
            "when the erasure finished: only requests that began later may store data for the user again",
            SHORT_TTL,
            DELETION,
        ),
        "expires_at": _use(
            "TTL: the fence goes 20 minutes after the erasure, longer than any request can still run",
            SHORT_TTL,
            DELETION,
        ),
    },
}


def declaration(model_name: str, attribute: str) -> AttributeUse:
    """The declared use of one stored attribute (KeyError if undeclared)."""
    return INVENTORY[model_name][attribute]
