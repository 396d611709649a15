"""Every setting of the backend, read once from the environment.

Secrets are never read from here: the environment only names where they live
(Secrets Manager secret ids) and how to reach them (the secrets extension's port);
``skill.secrets`` fetches and caches them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

from skill import warm

EVENT_GATEWAY_URLS = {
    "NA": "https://api.amazonalexa.com/v3/events",
    "EU": "https://api.eu.amazonalexa.com/v3/events",
    "FE": "https://api.fe.amazonalexa.com/v3/events",
}

# AWS region of the Lambda that received a grant -> Alexa region (and so Event Gateway).
AWS_REGION_TO_ALEXA_REGION = {"us-east-1": "NA", "eu-west-1": "EU", "us-west-2": "FE"}

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# SkillAccountLinked follows AcceptGrant within seconds; a day without it means it never came.
UNIDENTIFIED_LINK_GRACE_HOURS = 24


class ConfigError(RuntimeError):
    """A setting is missing or malformed; raised at first use, never with a secret in it."""


def _env(name: str, default: str = "") -> str:
    """An empty variable counts as unset: template.yaml declares the local-only ones empty, so that
    ``sam local invoke --env-vars`` may set them (SAM passes only declared variables)."""
    return os.environ.get(name, "").strip() or default


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer") from exc


def _env_float(name: str, default: float) -> float:
    raw = _env(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number") from exc


@dataclass(frozen=True)
class Settings:
    # ACCloud, ZOSI's camera cloud.
    accloud_base_url: str
    accloud_connect_timeout: float
    accloud_read_timeout: float
    # Local development: allows plain http, but only to loopback hosts and local_http_host.
    local_mode: bool
    # Storage and keys.
    table_name: str
    kms_key_id: str
    aws_region: str
    # Secrets Manager secret ids (values are fetched by skill.secrets, cached per container).
    pseudonym_secret_id: str
    lwa_secret_id: str
    webhook_secret_id: str
    # Alexa.
    skill_id: str
    lwa_token_url: str
    event_gateway_urls: dict[str, str] = field(default_factory=dict)
    # Proactive events.
    event_staleness_seconds: int = 60
    webhook_max_body_bytes: int = 65536
    webhook_signature_tolerance_seconds: int = 300
    # Privacy.
    policy_version: str = "2019-06-01"
    policy_url: str = "https://www.zositech.com/privacy-policy"
    inactivity_erase_days: int = 365
    # A link no Alexa account was identified for (no SkillAccountLinked) is erased this long after linking.
    unidentified_link_grace_hours: int = UNIDENTIFIED_LINK_GRACE_HOURS
    # Logging.
    log_level: str = "INFO"
    # The AWS Parameters and Secrets Lambda Extension: its localhost port when the function runs
    # with it (template.yaml sets the variable only then), and how long it caches a secret.
    secrets_extension_port: int | None = None
    secrets_extension_ttl_seconds: float = 300.0
    # The one other host local mode reaches over plain http: where a container finds the local
    # stack (``zosi-skill local up --bind``, ``local env --sam --host``). Ignored outside local mode.
    local_http_host: str = ""

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


def load() -> Settings:
    gateway = dict(EVENT_GATEWAY_URLS)
    for region in gateway:
        override = _env(f"ZOSI_EVENT_GATEWAY_URL_{region}")
        if override:
            gateway[region] = override
    return Settings(
        accloud_base_url=_env("ZOSI_ACCLOUD_BASE_URL").rstrip("/"),
        accloud_connect_timeout=_env_float("ZOSI_ACCLOUD_CONNECT_TIMEOUT", 1.0),
        accloud_read_timeout=_env_float("ZOSI_ACCLOUD_READ_TIMEOUT", 2.0),
        local_mode=_env("ZOSI_LOCAL_MODE") in {"1", "true", "yes"},
        table_name=_env("ZOSI_TABLE_NAME", "zosi-smart"),
        kms_key_id=_env("ZOSI_KMS_KEY_ID"),
        aws_region=_env("AWS_REGION") or _env("AWS_DEFAULT_REGION") or "us-east-1",
        pseudonym_secret_id=_env("ZOSI_PSEUDONYM_SECRET_ID", "zosi-smart/pseudonym-keys"),
        lwa_secret_id=_env("ZOSI_LWA_SECRET_ID", "zosi-smart/lwa-client"),
        webhook_secret_id=_env("ZOSI_WEBHOOK_SECRET_ID", "zosi-smart/accloud-webhook"),
        skill_id=_env("ZOSI_SKILL_ID"),
        lwa_token_url=_env("ZOSI_LWA_TOKEN_URL", "https://api.amazon.com/auth/o2/token"),
        event_gateway_urls=gateway,
        event_staleness_seconds=_env_int("ZOSI_EVENT_STALENESS_SECONDS", 60),
        webhook_max_body_bytes=_env_int("ZOSI_WEBHOOK_MAX_BODY_BYTES", 65536),
        webhook_signature_tolerance_seconds=_env_int("ZOSI_WEBHOOK_TOLERANCE_SECONDS", 300),
        policy_version=_env("ZOSI_POLICY_VERSION", "2019-06-01"),
        policy_url=_env("ZOSI_POLICY_URL", "https://www.zositech.com/privacy-policy"),
        inactivity_erase_days=_env_int("ZOSI_INACTIVITY_ERASE_DAYS", 365),
        unidentified_link_grace_hours=_env_int(
            "ZOSI_UNIDENTIFIED_LINK_GRACE_HOURS", UNIDENTIFIED_LINK_GRACE_HOURS
        ),
        log_level=_env("ZOSI_LOG_LEVEL", "INFO").upper(),
        secrets_extension_port=_env_int("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", 0) or None,
        secrets_extension_ttl_seconds=_env_float("SECRETS_MANAGER_TTL", 300.0),
        local_http_host=_env("ZOSI_LOCAL_HTTP_HOST").lower(),
    )


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The settings of this container, read once."""
    return load()


@warm.register
def reset() -> None:
    """Forget the cached settings (tests and the local CLI change the environment)."""
    settings.cache_clear()
