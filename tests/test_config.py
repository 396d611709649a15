"""skill/config.py: each variable and default written once and documented, an empty variable is an
unset one, a malformed one is named without its value, and local mode's plain-http rule is narrow.

template.yaml declares the local-only variables with empty values (so ``sam local invoke
--env-vars`` may set them); a deployed function must then behave as if they did not exist.
"""

from __future__ import annotations

import ast
import re
import traceback
from pathlib import Path
from typing import Any

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


@pytest.mark.parametrize("variable", sorted(config.variables()))
def test_every_variable_set_empty_reads_as_unset(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.delenv(variable, raising=False)
    unset = config.load()
    monkeypatch.setenv(variable, " ")
    assert config.load() == unset


ROOT = Path(__file__).resolve().parents[1]
# Documented beside the settings, read by botocore, not by skill/config.py.
NOT_SETTINGS = {"AWS_ENDPOINT_URL"}


def readme_configuration() -> dict[str, str]:
    """README's configuration table: each variable named in a row's first cell -> its default cell."""
    section = (ROOT / "README.md").read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    documented = {}
    for row in re.findall(r"^\| (`[^|]+) \| ([^|]+) \|", section, flags=re.MULTILINE):
        for name in re.findall(r"`([A-Z0-9_]+)`", row[0]):
            documented[name] = row[1].strip()
    return documented


def documented_default(default: Any) -> str:
    if default is False:
        return "off"
    if default in ("", None):
        return "—"
    return f"`{default}`"


def test_readme_documents_every_variable_with_its_default_and_no_other() -> None:
    documented = readme_configuration()
    assert set(documented) - NOT_SETTINGS == set(config.variables())
    wrong = {
        name: (documented[name], default)
        for name, default in config.variables().items()
        if not documented[name].startswith(documented_default(default))
    }
    assert wrong == {}, "README's default differs from skill/config.py's"


@pytest.mark.parametrize(
    ("variable", "kind"),
    [
        ("ZOSI_EVENT_STALENESS_SECONDS", "an integer"),
        ("ZOSI_INACTIVITY_ERASE_DAYS", "an integer"),
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "an integer"),
        ("ZOSI_ACCLOUD_READ_TIMEOUT", "a number"),
        ("SECRETS_MANAGER_TTL", "a number"),
    ],
)
def test_a_malformed_number_names_the_variable_and_never_its_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, kind: str
) -> None:
    pasted = "s3cr3t-Pasted-By-Mistake"
    monkeypatch.setenv(variable, pasted)
    with pytest.raises(ConfigError) as raised:
        config.load()
    assert str(raised.value) == f"{variable} must be {kind}"
    # Not in the chained ValueError either: a logged traceback would carry it.
    assert pasted not in "".join(traceback.format_exception(raised.value))


def test_no_dataclass_in_skill_carries_settings() -> None:
    """One way: code calls ``settings()``; no context or other record hands a Settings around."""
    carriers = []
    for path in sorted((ROOT / "skill").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                carriers += [
                    f"{path.relative_to(ROOT)}:{item.lineno}"
                    for item in node.body
                    if isinstance(item, ast.AnnAssign) and "Settings" in ast.unparse(item.annotation)
                ]
    assert carriers == []


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
