"""The inactivity job (skill/privacy/retention.py): accounts without activity for
``ZOSI_INACTIVITY_ERASE_DAYS`` (default 365) are erased, with a DeleteReport first and an erasure
record; active accounts stay. Also: which requests count as activity. Privacy policy I (least
enough: nothing is kept "just in case") and V.2 (deletion), on the embedded stack.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import lambda_handler
from devstack import directives
from devstack.demo_data import FRONT_DOOR
from models import store
from skill import warm
from skill.config import settings
from skill.privacy import pseudonyms, retention
from tests.privacy.conftest import Local
from tests.privacy.localstack import (
    Alexa,
    partition,
    wipe_table,
)

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def alexa(local: Local, monkeypatch: pytest.MonkeyPatch) -> Alexa:
    """alice and bob fully set up (profile, link with grant, endpoint index); stand-ins and logs cleared."""
    monkeypatch.delenv("ZOSI_INACTIVITY_ERASE_DAYS", raising=False)
    warm.reset()
    wipe_table()
    alexa = Alexa(local.stack)
    for username in ("alice", "bob"):
        alexa.fully_linked(username)
    local.stack.gateway.clear()
    local.capture.clear()
    return alexa


def last_active(alexa: Alexa, username: str) -> datetime:
    profile = store.get_profile(alexa.user_key(username))
    assert profile is not None
    return profile.last_active_at


def idle_since(alexa: Alexa, username: str, days: float) -> None:
    store.touch_profile(alexa.user_key(username), now=NOW - timedelta(days=days))


def test_the_default_window_is_365_days(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZOSI_INACTIVITY_ERASE_DAYS", raising=False)
    warm.reset()
    assert settings().inactivity_erase_days == 365
    monkeypatch.setenv("ZOSI_INACTIVITY_ERASE_DAYS", "30")
    warm.reset()
    assert settings().inactivity_erase_days == 30
    warm.reset()


def test_an_inactive_account_is_erased_and_an_active_one_kept(
    alexa: Alexa, local: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = alexa.user_key("alice"), alexa.user_key("bob")
    idle_since(alexa, "alice", 366)
    idle_since(alexa, "bob", 364)
    alice_before, bob_before = partition(alice), partition(bob)

    result = retention.run({}, None, now=NOW)

    assert result == {
        "accounts_erased": 1,
        "unidentified_links_erased": 0,
        "items_erased": len(alice_before),
        "failures": 0,
    }
    assert partition(alice) == []
    assert partition(bob) == bob_before
    # No DeleteReport: the cameras stay in Alexa, and live view needs nothing stored.
    assert local.stack.gateway.received() == []
    (record,) = local.capture.erasure_records()
    assert record["trigger"] == "inactivity" and record["scope"] == "account"
    assert record["user"] == pseudonyms.log_key(alice) and record["items"] == len(alice_before)
    assert record["delete_report"] is None


def test_the_window_follows_the_setting_and_its_edge_is_kept(
    alexa: Alexa, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOSI_INACTIVITY_ERASE_DAYS", "30")
    warm.reset()
    store.touch_profile(alexa.user_key("alice"), now=NOW - timedelta(days=30, seconds=1))
    store.touch_profile(alexa.user_key("bob"), now=NOW - timedelta(days=30))  # exactly at the cutoff
    assert retention.run(now=NOW)["accounts_erased"] == 1
    assert partition(alexa.user_key("alice")) == []
    assert partition(alexa.user_key("bob")) != []


def test_the_lambda_entry_point_runs_the_job(alexa: Alexa) -> None:
    idle_since(alexa, "alice", 400)
    assert lambda_handler.retention({"source": "aws.events"}, None)["accounts_erased"] == 1
    assert partition(alexa.user_key("alice")) == []


def test_nothing_to_do_erases_nothing(alexa: Alexa) -> None:
    assert retention.run(now=NOW) == {
        "accounts_erased": 0,
        "unidentified_links_erased": 0,
        "items_erased": 0,
        "failures": 0,
    }
    assert partition(alexa.user_key("alice")) and partition(alexa.user_key("bob"))


# --- what counts as activity ---------------------------------------------------------------------


def _accept_grant(alexa: Alexa) -> Any:
    return alexa.accept_grant("alice")


def _launch(alexa: Alexa) -> Any:
    return alexa.launch("alice")


def _doorbell(alexa: Alexa) -> Any:
    return alexa.webhook("doorbell.pressed", "alice", FRONT_DOOR)


def _camera_renamed(alexa: Alexa) -> Any:
    alexa.stack.accloud.rename_device(FRONT_DOOR, "Front Gate")
    return alexa.webhook("device.updated", "alice", FRONT_DOOR)


def _live_view(alexa: Alexa) -> Any:
    endpoint_id = pseudonyms.endpoint_id(alexa.user_id("alice"), FRONT_DOOR)
    answer = alexa.directive(
        "Alexa.CameraStreamController",
        "InitializeCameraStreams",
        "alice",
        endpoint_id=endpoint_id,
        payload=directives.one_rtsp_stream(),
    )
    assert answer["event"]["header"]["name"] == "Response"
    return answer


# (what the user did, whether it counts as activity). Live view deliberately writes nothing:
# the stream path has no database access at all (architecture principle 5).
ACTIVITY: dict[str, tuple[Callable[[Alexa], Any], bool]] = {
    "accept-grant": (_accept_grant, True),
    "voice-launch": (_launch, True),
    "webhook-doorbell-press": (_doorbell, True),
    "webhook-camera-renamed": (_camera_renamed, True),
    "live-view": (_live_view, False),
}


@pytest.mark.parametrize("what", ACTIVITY)
def test_what_counts_as_activity(alexa: Alexa, what: str) -> None:
    action, counts = ACTIVITY[what]
    idle_since(alexa, "alice", 10)
    before = last_active(alexa, "alice")

    action(alexa)

    after = last_active(alexa, "alice")
    if counts:
        assert abs(after - datetime.now(UTC)) < timedelta(minutes=1)
    else:
        assert after == before
    assert (retention.run(now=NOW + timedelta(days=360))["accounts_erased"] == 1) is not counts
