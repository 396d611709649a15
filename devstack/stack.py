"""The embedded local stack: everything the skill talks to, on 127.0.0.1 (or ``bind``), no AWS account.

moto's server, the extension stand-in, the reference ACCloud, the LWA and Event Gateway stand-ins
and the webhook front. ``LocalStack.env()`` is the environment a client needs; ``bind`` moves the
services the function calls to another address, for ``sam local invoke``.
Details: docs/local-stack.md, "The embedded stack".
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.http_server import LOOPBACK, url_host
from skill import warm

if TYPE_CHECKING:
    from devstack.demo_data import Seed

ENV_FILE = ".zosi-local.env"
LOCAL_SKILL_ID = "amzn1.ask.skill.00000000-0000-0000-0000-000000000000"
TABLE_NAME = "zosi-smart-local"
REGION = "us-east-1"
SECRET_IDS = {
    "ZOSI_PSEUDONYM_SECRET_ID": "zosi-smart/pseudonym-keys",
    "ZOSI_LWA_SECRET_ID": "zosi-smart/lwa-client",
    "ZOSI_WEBHOOK_SECRET_ID": "zosi-smart/accloud-webhook",
}
# Never real: these only let botocore sign requests to moto.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def apply_env(env: dict[str, str]) -> dict[str, str | None]:
    """Make this process a client of the stack described by ``env`` (and forget cached state).

    Returns the previous values, for ``restore_env``."""
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    warm.reset()
    return previous


def restore_env(previous: dict[str, str | None]) -> None:
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    warm.reset()


def _reset_moto(host: str, port: int) -> None:
    """Empty moto's backends: they are process-wide, so a stack started after another one in the same
    process (a test session) would otherwise find its secrets and table already there."""
    import urllib3

    answer = urllib3.PoolManager(retries=False).request(
        "POST", f"http://{host}:{port}/moto-api/reset", timeout=5.0
    )
    if answer.status != 200:
        raise RuntimeError(f"moto reset answered {answer.status}")


def read_env_file(path: str | Path = ENV_FILE) -> dict[str, str] | None:
    file = Path(path)
    if not file.is_file():
        return None
    env = {}
    for line in file.read_text().splitlines():
        if line.strip() and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    return env


class LocalStack:
    """Starts, wires and stops the local services. A context manager."""

    def __init__(
        self,
        handler: Callable[[dict[str, Any], Any], Any] | None = None,
        *,
        webrtc: bool = True,
        seed: Seed | None = None,
        secrets_extension: bool = True,
        bind: str = LOOPBACK,
    ) -> None:
        """``seed``: the reference ACCloud's accounts (default ``demo_seed()``, e.g. ``canary_seed()``)."""
        self.bind = bind
        self._handler = handler
        self._webrtc = webrtc
        self._seed = seed
        self._with_extension = secrets_extension
        self.extension: Any = None
        self._env: dict[str, str] = {}
        self.moto: Any = None
        self.accloud: Any = None
        self.lwa: Any = None
        self.gateway: Any = None
        self.front: Any = None
        self.peer: Any = None
        self.kms_key_arn = ""
        self._previous_env: dict[str, str | None] = {}
        self.webhook_secret = secrets.token_hex(32)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> LocalStack:
        import logging

        from moto.server import ThreadedMotoServer

        from devstack.accloud import AccloudServer
        from devstack.demo_data import demo_seed
        from devstack.gateway_server import GatewayServer
        from devstack.lwa_server import LwaServer
        from devstack.webhook_front import WebhookFront

        for chatty in ("werkzeug", "aiortc", "aioice"):  # request lines; SDP and addresses at DEBUG
            logging.getLogger(chatty).setLevel(logging.WARNING)
        self.moto = ThreadedMotoServer(ip_address=self.bind, port=0, verbose=False)
        self.moto.start()
        host, port = url_host(self.bind), self.moto.get_host_and_port()[1]
        _reset_moto(host, port)
        self.lwa = LwaServer(host=self.bind).start()
        self.gateway = GatewayServer(self.lwa.is_valid_access_token, host=self.bind).start()
        if self._webrtc:
            from devstack.webrtc_peer import WebRTCPeerHost

            self.peer = WebRTCPeerHost()
        self.accloud = AccloudServer(self._seed or demo_seed(), webrtc=self.peer, host=self.bind).start()
        self._env = {
            **FAKE_AWS,
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "ZOSI_LOCAL_MODE": "1",
            "ZOSI_ACCLOUD_BASE_URL": self.accloud.base_url,
            "ZOSI_TABLE_NAME": TABLE_NAME,
            "ZOSI_SKILL_ID": LOCAL_SKILL_ID,
            "ZOSI_LWA_TOKEN_URL": self.lwa.token_url,
            **SECRET_IDS,
            **self.gateway.environment(),
        }
        if host != LOOPBACK:
            self._env["ZOSI_LOCAL_HTTP_HOST"] = host  # plain http to the bind address too (skill/config.py)
        self._env["ZOSI_KMS_KEY_ID"] = ""  # known once moto made the key
        self._previous_env = apply_env(self._env)
        self._provision_aws()
        self._env["ZOSI_KMS_KEY_ID"] = self.kms_key_arn
        os.environ["ZOSI_KMS_KEY_ID"] = self.kms_key_arn
        if self._with_extension:
            self.extension = self._start_extension(f"http://{host}:{port}")
            self._env.update(self.extension.environment())
            os.environ.update(self.extension.environment())
        warm.reset()
        import lambda_handler

        self.front = WebhookFront(self._handler or lambda_handler.handler).start()
        self.accloud.configure_webhook(self.front.url, self.webhook_secret)
        self._env["ZOSI_LOCAL_WEBHOOK_URL"] = self.front.url
        self._env["ZOSI_LOCAL_LWA_ADMIN_URL"] = self.lwa.token_url.rsplit("/auth/", 1)[0]
        self._env["ZOSI_LOCAL_GATEWAY_URL"] = self.gateway.base_url
        return self

    def stop(self) -> None:
        for service in (self.front, self.accloud, self.gateway, self.lwa, self.extension):
            if service is not None:
                service.stop()
        if self.peer is not None:
            self.peer.shutdown()
        if self.moto is not None:
            self.moto.stop()
        restore_env(self._previous_env)  # this process is no longer a client of the stack

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- AWS resources in moto ---------------------------------------------------------------

    def _provision_aws(self) -> None:
        from models.store import create_table_for_local
        from skill import aws

        kms = aws.client("kms")
        self.kms_key_arn = kms.create_key(Description="zosi-smart local envelope key")["KeyMetadata"]["Arn"]
        sm = aws.client("secretsmanager")
        values = {
            "ZOSI_PSEUDONYM_SECRET_ID": {
                "user_hash_key": base64.b64encode(os.urandom(32)).decode(),
                "endpoint_key": base64.b64encode(os.urandom(64)).decode(),
            },
            "ZOSI_LWA_SECRET_ID": {"client_id": self.lwa.client_id, "client_secret": self.lwa.client_secret},
            "ZOSI_WEBHOOK_SECRET_ID": {"signing_secret": self.webhook_secret},
        }
        for variable, secret_id in SECRET_IDS.items():
            sm.create_secret(Name=secret_id, SecretString=json.dumps(values[variable]))
        create_table_for_local(TABLE_NAME)

    def _start_extension(self, moto_url: str) -> Any:
        """The extension stand-in, reading Secrets Manager with a client of its own (as the real
        extension does with the function's role), so the skill's own clients stay untouched."""
        import botocore.session

        from devstack.secrets_extension import SecretsExtensionStandIn

        client = botocore.session.get_session().create_client(
            "secretsmanager",
            region_name=REGION,
            endpoint_url=moto_url,
            aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_AWS["AWS_SESSION_TOKEN"],
        )

        def read_secret(secret_id: str) -> dict[str, Any]:
            found: dict[str, Any] = client.get_secret_value(SecretId=secret_id)
            return found

        # The TTL template.yaml sets (SecretsManagerTtl): the skill keeps a value for the rest of
        # its 300 s, so rotation takes effect as documented.
        return SecretsExtensionStandIn(read_secret, FAKE_AWS["AWS_SESSION_TOKEN"], ttl_seconds=60).start()

    # --- for clients ---------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return dict(self._env)

    def write_env_file(self, path: str | Path = ENV_FILE) -> Path:
        file = Path(path)
        lines = ["# Written by `zosi-skill local up`; removed when it stops. Fake credentials only."]
        lines += [f"{k}={v}" for k, v in sorted(self._env.items())]
        file.write_text("\n".join(lines) + "\n")
        return file
