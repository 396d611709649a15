"""Every setting of the backend, read once per container from the environment: one way.

Code calls ``settings()`` where it needs a value; tests change the environment and reset through
``skill.warm``. Each field names its variable and default once. Secrets are never read from here,
only where they live (Secrets Manager ids, the secrets extension's port): ``skill.secrets``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from skill import warm

EVENT_GATEWAY_URLS = {
    "NA": "https://api.amazonalexa.com/v3/events",
    "EU": "https://api.eu.amazonalexa.com/v3/events",
    "FE": "https://api.fe.amazonalexa.com/v3/events",
}
EVENT_GATEWAY_OVERRIDE = "ZOSI_EVENT_GATEWAY_URL_{region}"  # one variable per Alexa region

# AWS region of the Lambda that received a grant -> Alexa region (and so Event Gateway).
AWS_REGION_TO_ALEXA_REGION = {"us-east-1": "NA", "eu-west-1": "EU", "us-west-2": "FE"}

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# SkillAccountLinked follows AcceptGrant within seconds; a day without it means it never came.
UNIDENTIFIED_LINK_GRACE_HOURS = 24
LOCAL_MODE_ON = frozenset({"1", "true", "yes"})


class ConfigError(RuntimeError):
    """A setting is missing or malformed; raised at first use, never with a secret in it."""


def _port(raw: str) -> int | None:
    return int(raw) or None  # 0 = no extension


# How a variable's text becomes a field's value, by the type of its default; ValueError = malformed.
_PARSERS: dict[type, Callable[[str], Any]] = {
    str: str,
    int: int,
    float: float,
    bool: LOCAL_MODE_ON.__contains__,
}
_EXPECTED: dict[Callable[[str], Any], str] = {int: "an integer", _port: "an integer", float: "a number"}


def _setting(env: str, default: Any, parse: Callable[[str], Any] | None = None, *, fallback: str = "") -> Any:
    """A field read from ``env`` (or ``fallback`` when that is unset), parsed as its default's type
    unless ``parse`` says otherwise."""
    names = (env, fallback) if fallback else (env,)
    return field(default=default, metadata={"env": names, "parse": parse or _PARSERS[type(default)]})


@dataclass(frozen=True)
class Settings:
    # ACCloud, ZOSI's camera cloud.
    accloud_base_url: str = _setting("ZOSI_ACCLOUD_BASE_URL", "", lambda raw: raw.rstrip("/"))
    accloud_connect_timeout: float = _setting("ZOSI_ACCLOUD_CONNECT_TIMEOUT", 1.0)
    accloud_read_timeout: float = _setting("ZOSI_ACCLOUD_READ_TIMEOUT", 2.0)
    # Local development: allows plain http, but only to loopback hosts and local_http_host.
    local_mode: bool = _setting("ZOSI_LOCAL_MODE", False)
    # Storage and keys.
    table_name: str = _setting("ZOSI_TABLE_NAME", "zosi-smart")
    kms_key_id: str = _setting("ZOSI_KMS_KEY_ID", "")
    aws_region: str = _setting("AWS_REGION", "us-east-1", fallback="AWS_DEFAULT_REGION")
    # Secrets Manager secret ids (values are fetched by skill.secrets, cached per container).
    pseudonym_secret_id: str = _setting("ZOSI_PSEUDONYM_SECRET_ID", "zosi-smart/pseudonym-keys")
    lwa_secret_id: str = _setting("ZOSI_LWA_SECRET_ID", "zosi-smart/lwa-client")
    webhook_secret_id: str = _setting("ZOSI_WEBHOOK_SECRET_ID", "zosi-smart/accloud-webhook")
    # Alexa.
    skill_id: str = _setting("ZOSI_SKILL_ID", "")
    lwa_token_url: str = _setting("ZOSI_LWA_TOKEN_URL", "https://api.amazon.com/auth/o2/token")
    # Amazon's gateways, each overridden by its EVENT_GATEWAY_OVERRIDE variable (read in load()).
    event_gateway_urls: dict[str, str] = field(default_factory=lambda: dict(EVENT_GATEWAY_URLS))
    # Proactive events.
    event_staleness_seconds: int = _setting("ZOSI_EVENT_STALENESS_SECONDS", 60)
    webhook_max_body_bytes: int = _setting("ZOSI_WEBHOOK_MAX_BODY_BYTES", 65536)
    webhook_signature_tolerance_seconds: int = _setting("ZOSI_WEBHOOK_TOLERANCE_SECONDS", 300)
    # Privacy.
    policy_version: str = _setting("ZOSI_POLICY_VERSION", "2019-06-01")
    policy_url: str = _setting("ZOSI_POLICY_URL", "https://www.zositech.com/privacy-policy")
    inactivity_erase_days: int = _setting("ZOSI_INACTIVITY_ERASE_DAYS", 365)
    # A link no Alexa account was identified for (no SkillAccountLinked) is erased this long after linking.
    unidentified_link_grace_hours: int = _setting(
        "ZOSI_UNIDENTIFIED_LINK_GRACE_HOURS", UNIDENTIFIED_LINK_GRACE_HOURS
    )
    # Logging.
    log_level: str = _setting("ZOSI_LOG_LEVEL", "INFO", str.upper)
    # The AWS Parameters and Secrets Lambda Extension: its localhost port when the function runs
    # with it (template.yaml sets the variable only then), and how long it caches a secret.
    secrets_extension_port: int | None = _setting("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", None, _port)
    secrets_extension_ttl_seconds: float = _setting("SECRETS_MANAGER_TTL", 300.0)
    # The one other host local mode reaches over plain http: where a container finds the local
    # stack (``zosi-skill local up --bind``, ``local env --sam --host``). Ignored outside local mode.
    local_http_host: str = _setting("ZOSI_LOCAL_HTTP_HOST", "", str.lower)

    def require_accloud(self) -> str:
        if not self.accloud_base_url:
            raise ConfigError("ZOSI_ACCLOUD_BASE_URL is not set")
        return self.accloud_base_url

    def gateway_url(self, alexa_region: str) -> str:
        try:
            return self.event_gateway_urls[alexa_region]
        except KeyError as exc:
            raise ConfigError(f"no Event Gateway for region {alexa_region!r}") from exc

    def home_alexa_region(self) -> str:
        """The Alexa region this deployment serves (grants received here belong to it)."""
        return AWS_REGION_TO_ALEXA_REGION.get(self.aws_region, "NA")


def check_outbound_url(url: str, settings: Settings) -> None:
    """Outbound calls are HTTPS only; plain http is allowed in local mode, to loopback and to the
    local stack's configured host (``ZOSI_LOCAL_HTTP_HOST``) only."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and settings.local_mode and parts.hostname:
        host = parts.hostname.lower()
        if host in LOOPBACK_HOSTS or (settings.local_http_host and host == settings.local_http_host):
            return
    raise ConfigError("outbound URL must use https (http only to the local stack in local mode)")


def _env(name: str) -> str:
    """An empty variable counts as unset: template.yaml declares the local-only ones empty, so that
    ``sam local invoke --env-vars`` may set them (SAM passes only declared variables)."""
    return os.environ.get(name, "").strip()


def _first_set(names: tuple[str, ...]) -> tuple[str, str]:
    for name in names:
        if raw := _env(name):
            return name, raw
    return "", ""


def variables() -> dict[str, Any]:
    """Every variable the settings read -> its default (what README's configuration table lists)."""
    found: dict[str, Any] = {
        EVENT_GATEWAY_OVERRIDE.format(region=region): url for region, url in EVENT_GATEWAY_URLS.items()
    }
    for setting in fields(Settings):
        for name in setting.metadata.get("env", ()):
            found[name] = setting.default
    return found


def load() -> Settings:
    values: dict[str, Any] = {}
    for setting in fields(Settings):
        name, raw = _first_set(setting.metadata.get("env", ()))
        if not raw:
            continue  # unset or empty: the field's default
        parse = setting.metadata["parse"]
        try:
            values[setting.name] = parse(raw)
        except ValueError:
            # The name only: a malformed value may be a pasted secret, and it would reach the logs.
            raise ConfigError(f"{name} must be {_EXPECTED.get(parse, 'valid')}") from None
    gateway = {
        region: _env(EVENT_GATEWAY_OVERRIDE.format(region=region)) or url
        for region, url in EVENT_GATEWAY_URLS.items()
    }
    return Settings(event_gateway_urls=gateway, **values)


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The settings of this container, read once."""
    return load()


@warm.register
def reset() -> None:
    """Forget the cached settings (tests and the local CLI change the environment)."""
    settings.cache_clear()
