"""The ACCloud HTTP client (skill/cloud/client.py): where it may connect."""

from __future__ import annotations

import pytest


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
    monkeypatch, url, local_mode, allowed
) -> None:
    from skill.cloud.client import HttpCameraCloud
    from skill.config import ConfigError, load

    monkeypatch.setenv("ZOSI_ACCLOUD_BASE_URL", url)
    monkeypatch.setenv("ZOSI_LOCAL_MODE", "1" if local_mode else "0")
    if allowed:
        HttpCameraCloud(load())
    else:
        with pytest.raises(ConfigError):
            HttpCameraCloud(load())
