"""Client of the AWS Parameters and Secrets Lambda Extension: one GET on localhost, no botocore.

Over ``skill.http``, so neither urllib3 nor botocore (~0.25-0.4 s of a cold start) is imported
by a container that only streams. Details: docs/deploy.md, "6.4 Secrets extension".
"""

from __future__ import annotations

import json
import os
from urllib.parse import quote

from skill import http, warm

TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"  # noqa: S105  (a header name)
ERROR_TYPE_HEADER = "X-Amzn-Errortype"
# On a cache miss the extension calls Secrets Manager itself; a hung extension must leave time
# for the botocore fallback within a stream directive's 5 s (connecting to localhost is at once).
TIMEOUT = 1.5
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


_pool = http.Pool(num_pools=1, maxsize=1)  # secrets are read once per cache period anyway
warm.register(_pool.reset, name=f"{__name__}._pool")


def _get(port: int, path: str, token: str) -> tuple[int, str, bytes]:
    """(status, X-Amzn-Errortype, body) of one GET, on a kept-alive connection to localhost."""
    try:
        reply = http.request(
            _pool, "GET", f"http://localhost:{port}{path}", deadline=http.Deadline(TIMEOUT),
            connect_timeout=TIMEOUT, read_timeout=TIMEOUT, headers={TOKEN_HEADER: token},
            max_bytes=MAX_BODY_BYTES + 1,
        )  # fmt: skip
    except http.Unreachable as exc:
        raise ExtensionUnavailable(f"no answer ({exc})") from None
    return reply.status, reply.headers.get(ERROR_TYPE_HEADER) or "", reply.data


def secret_string(secret_id: str, port: int) -> str:
    """The SecretString of ``secret_id`` as the extension on ``port`` serves it."""
    token = os.environ.get("AWS_SESSION_TOKEN", "")
    if not token:
        raise ExtensionUnavailable("no AWS_SESSION_TOKEN to present to the extension")
    status, error_type, body = _get(port, "/secretsmanager/get?secretId=" + quote(secret_id, safe=""), token)
    if status != 200:
        if status == 400 and error_type in SECRET_ERRORS:
            raise SecretError(error_type)
        raise ExtensionUnavailable(f"HTTP {status} {error_type}".rstrip())
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
