"""The table's key scheme: sort-key prefixes and the TTL attribute, importable without pynamodb.

``models.items`` builds the item kinds on these; ``models.endpoint_index`` reads the endpoint
index with them on discovery's hot path, where importing pynamodb would cost cold-start time.
"""

from __future__ import annotations

TTL_ATTRIBUTE = "expires_at"
ALEXA_USER_INDEX = "by_alexa_user"

PROFILE_SK = "profile"
LINK_PREFIX = "link#"
ENDPOINT_PREFIX = "ep#"
DEDUPE_PREFIX = "dedupe#"
DEDUPE_SK = "dedupe"
FENCE_PREFIX = "fence#"
FENCE_SK = "fence"

# Attribute names of EndpointEntry that the pynamodb-free reader projects.
CAPABILITY_DIGEST = "capability_digest"
