"""Client of the AWS Parameters and Secrets Lambda Extension: one GET on localhost, no botocore.

With the extension's layer attached, Lambda runs it beside the function; it serves
``GET /secretsmanager/get?secretId=<id>`` on ``localhost:<PARAMETERS_SECRETS_EXTENSION_HTTP_PORT>``
(default 2773) to callers that send the container's session token in
``X-Aws-Parameters-Secrets-Token``, and answers with Secrets Manager's GetSecretValue JSON, from a
cache it keeps for ``SECRETS_MANAGER_TTL`` seconds. Errors carry their type in ``X-Amzn-Errortype``.

urllib3 is what the ACCloud client already imports on every directive, so this costs no import;
botocore (~0.4 s of a cold start) stays out of a container that only streams.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"  # noqa: S105  (a header name)
ERROR_TYPE_HEADER = "X-Amzn-Errortype"
# On a cache miss the extension calls Secrets Manager itself; a hung extension must leave time
# for the botocore fallback within a stream directive's 5 s.
CONNECT_TIMEOUT = 0.25
READ_TIMEOUT = 1.5
MAX_BODY_BYTES = 256 * 1024  # Secrets Manager's limit is 64 KiB per value, plus the JSON around it

# Secrets Manager's own answers about the secret, passed on by the extension: reading it through
# the API would answer the same, so these are final.
SECRET_ERRORS = frozenset(
    {"ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure", "InvalidRequestException"}
)


class ExtensionUnavailable(RuntimeError):
    """The extension did not answer usefully (absent, not ready, refused the token, failed).
    The message names the reason only, never a value."""


class SecretError(RuntimeError):
    """The extension answered with Secrets Manager's error for this secret (its type is the message)."""


_pools: dict[int, Any] = {}


def _pool(port: int) -> Any:
    found = _pools.get(port)
    if found is None:
        import urllib3

        found = urllib3.HTTPConnectionPool(
            "localhost",
            port,
            maxsize=2,
            retries=False,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
        )
        _pools[port] = found
    return found


def secret_string(secret_id: str, port: int) -> str:
    """The SecretString of ``secret_id`` as the extension on ``port`` serves it."""
    token = os.environ.get("AWS_SESSION_TOKEN", "")
    if not token:
        raise ExtensionUnavailable("no AWS_SESSION_TOKEN to present to the extension")
    import urllib3

    try:
        answer = _pool(port).request(
            "GET",
            "/secretsmanager/get?secretId=" + quote(secret_id, safe=""),
            headers={TOKEN_HEADER: token},
            preload_content=False,
        )
        try:
            body = answer.read(MAX_BODY_BYTES + 1)
        finally:
            answer.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise ExtensionUnavailable(f"no answer ({type(exc).__name__})") from None
    error_type = answer.headers.get(ERROR_TYPE_HEADER, "")
    if answer.status != 200:
        if answer.status == 400 and error_type in SECRET_ERRORS:
            raise SecretError(error_type)
        raise ExtensionUnavailable(f"HTTP {answer.status} {error_type}".rstrip())
    if len(body) > MAX_BODY_BYTES:
        raise ExtensionUnavailable("answer too large")
    try:
        document = json.loads(body)
        value = document["SecretString"]
    except (ValueError, KeyError, TypeError):
        raise ExtensionUnavailable("answer is not GetSecretValue JSON with a SecretString") from None
    if not isinstance(value, str):
        raise ExtensionUnavailable("SecretString is not a string")
    return value


def reset() -> None:
    """Drop the connection pools (tests start and stop stand-ins on new ports)."""
    for pool in _pools.values():
        pool.close()
    _pools.clear()
