"""The ACCloud HTTP client (skill/cloud/client.py): where it may connect."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from skill import warm


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The environment to change: the client reads ``settings()``, so the cached settings are
    forgotten before the test and again before monkeypatch restores the variables."""
    warm.reset()
    yield monkeypatch
    warm.reset()


@pytest.mark.parametrize(
    ("url", "local_mode", "allowed"),
    [
        ("https://api.accloud.example", False, True),
        ("http://api.accloud.example", False, False),
        ("http://api.accloud.example", True, False),  # local mode allows loopback only
        ("http://127.0.0.1:8080", True, True),
        ("http://127.0.0.1:8080", False, False),
        ("ftp://api.accloud.example", True, False),
    ],
)
def test_accloud_client_is_https_only_except_loopback_in_local_mode(
    environment, url, local_mode, allowed
) -> None:
    from skill.cloud.client import HttpCameraCloud
    from skill.config import ConfigError

    environment.setenv("ZOSI_ACCLOUD_BASE_URL", url)
    environment.setenv("ZOSI_LOCAL_MODE", "1" if local_mode else "0")
    if allowed:
        HttpCameraCloud()
    else:
        with pytest.raises(ConfigError):
            HttpCameraCloud()
