"""skill/config.py: an empty variable is an unset one, and local mode's plain-http rule is narrow.

template.yaml declares the local-only variables with empty values (so ``sam local invoke
--env-vars`` may set them); a deployed function must then behave as if they did not exist.
"""

from __future__ import annotations

import pytest

from skill import config
from skill.config import ConfigError, check_outbound_url

LOCAL_ONLY_DEFAULTS = {
    "ZOSI_LOCAL_MODE": ("local_mode", False),
    "ZOSI_LWA_TOKEN_URL": ("lwa_token_url", "https://api.amazon.com/auth/o2/token"),
    "ZOSI_LOCAL_HTTP_HOST": ("local_http_host", ""),
    "ZOSI_TABLE_NAME": ("table_name", "zosi-smart"),
    "ZOSI_LWA_SECRET_ID": ("lwa_secret_id", "zosi-smart/lwa-client"),
}


@pytest.mark.parametrize("variable", sorted(LOCAL_ONLY_DEFAULTS))
def test_an_empty_variable_gives_the_default(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "")
    attribute, default = LOCAL_ONLY_DEFAULTS[variable]
    assert getattr(config.load(), attribute) == default


@pytest.mark.parametrize("region", sorted(config.EVENT_GATEWAY_URLS))
def test_an_empty_event_gateway_override_keeps_amazons_gateway(
    monkeypatch: pytest.MonkeyPatch, region: str
) -> None:
    monkeypatch.setenv(f"ZOSI_EVENT_GATEWAY_URL_{region}", "")
    assert config.load().gateway_url(region) == config.EVENT_GATEWAY_URLS[region]


def test_an_empty_aws_endpoint_url_leaves_botocore_on_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.session

    monkeypatch.setenv("AWS_ENDPOINT_URL", "")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = botocore.session.get_session().create_client("dynamodb", region_name="eu-west-1")
    assert client.meta.endpoint_url == "https://dynamodb.eu-west-1.amazonaws.com"


def _settings(monkeypatch: pytest.MonkeyPatch, local_mode: str, http_host: str) -> config.Settings:
    monkeypatch.setenv("ZOSI_LOCAL_MODE", local_mode)
    monkeypatch.setenv("ZOSI_LOCAL_HTTP_HOST", http_host)
    return config.load()


@pytest.mark.parametrize(
    ("local_mode", "http_host", "url", "allowed"),
    [
        ("1", "", "http://127.0.0.1:9000/x", True),
        ("1", "172.17.0.1", "http://172.17.0.1:9000/x", True),  # the configured bind address
        ("1", "host.docker.internal", "http://HOST.docker.internal:9000/x", True),
        ("1", "172.17.0.1", "http://172.17.0.2:9000/x", False),  # any other host stays refused
        ("1", "172.17.0.1", "http://accloud.example/x", False),
        ("1", "", "http://172.17.0.1:9000/x", False),
        ("", "172.17.0.1", "http://172.17.0.1:9000/x", False),  # outside local mode: https only
        ("", "", "http://127.0.0.1:9000/x", False),
        ("1", "172.17.0.1", "ftp://172.17.0.1/x", False),
        ("", "", "https://api.amazon.com/auth/o2/token", True),
    ],
)
def test_plain_http_only_to_loopback_or_the_configured_host_in_local_mode(
    monkeypatch: pytest.MonkeyPatch, local_mode: str, http_host: str, url: str, allowed: bool
) -> None:
    settings = _settings(monkeypatch, local_mode, http_host)
    if allowed:
        check_outbound_url(url, settings)
    else:
        with pytest.raises(ConfigError, match="must use https"):
            check_outbound_url(url, settings)
