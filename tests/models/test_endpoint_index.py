"""models.endpoint_index (discovery's pynamodb-free read) and skill.aws's lazy service names."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from botocore.exceptions import UnknownServiceError

from models import store
from models.endpoint_index import read_digests
from models.store import EndpointRecord
from skill import aws, warm
from skill.privacy import pseudonyms

CAMERA = EndpointRecord(("CAMERA",), "c4a3e1d2b5f60718")
DOORBELL = EndpointRecord(("CAMERA", "DOORBELL"), "0f9e8d7c6b5a4132")


@pytest.fixture
def queries(aws_stack: object) -> Iterator[list[str]]:
    """DynamoDB operations made through the shared botocore client."""
    seen: list[str] = []

    def record(model: object = None, **_: object) -> None:
        seen.append(getattr(model, "name", "?"))

    events = aws.client("dynamodb").meta.events
    events.register("before-call.dynamodb", record)
    yield seen
    events.unregister("before-call.dynamodb", record)


def test_an_unlinked_user_reads_as_unlinked_with_no_digests(queries: list[str]) -> None:
    assert read_digests(pseudonyms.user_key("usr_nobody")) == (False, {})
    assert queries == ["Query"]


def test_digests_match_the_index_pynamodb_reads(queries: list[str]) -> None:
    user = pseudonyms.user_key("usr_1")
    store.upsert_link(user, pseudonyms.link_key("lnk_1"), region="NA")
    store.put_profile(user, consented_at=datetime.now(UTC), accepted_policy_version="v1")
    store.apply_endpoint_diff(user, upserts={"z1_a": CAMERA, "z1_b": DOORBELL})
    store.apply_endpoint_diff(pseudonyms.user_key("usr_2"), upserts={"z1_c": CAMERA})
    queries.clear()
    view = read_digests(user)
    assert queries == ["Query"]
    assert view.linked
    assert view.digests == {k: r.capability_digest for k, r in store.endpoint_index(user).items()}
    assert view.digests == {"z1_a": CAMERA.capability_digest, "z1_b": DOORBELL.capability_digest}


def test_every_page_is_read(queries: list[str]) -> None:
    user = pseudonyms.user_key("usr_4")
    store.upsert_link(user, pseudonyms.link_key("lnk_4"), region="EU")
    store.apply_endpoint_diff(user, upserts={f"z1_{n}": CAMERA for n in range(5)})
    queries.clear()
    view = read_digests(user, page_size=2)
    assert view == (True, {f"z1_{n}": CAMERA.capability_digest for n in range(5)})
    assert set(queries) == {"Query"} and len(queries) >= 3  # 6 items, 2 per page


def test_pynamodb_queries_on_the_shared_client_are_parsed_as_ever(aws_stack: object) -> None:
    """The raw-items hook is registered on the client pynamodb shares, but acts only inside read_digests."""
    user = pseudonyms.user_key("usr_5")
    store.upsert_link(user, pseudonyms.link_key("lnk_5"), region="NA")
    store.apply_endpoint_diff(user, upserts={"z1_a": DOORBELL})
    read_digests(user)
    assert store.endpoint_index(user) == {"z1_a": DOORBELL}
    assert [link.link_key for link in store.links_of(user)] == [pseudonyms.link_key("lnk_5")]


def test_the_raw_items_hook_is_registered_once_per_client(
    aws_stack: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore's register inspects the handler on every call even when unique_id makes it a
    no-op; each client gets the hook once, and a client made later (a reset container) gets it too."""
    from botocore.hooks import EventAliaser

    from skill import warm

    registered: list[object] = []
    original = EventAliaser.register

    def spy(
        self: EventAliaser, event_name: str, handler: object, unique_id: object = None, **kw: object
    ) -> None:
        if unique_id == "ZosiRawItems":
            registered.append(self)
        original(self, event_name, handler, unique_id, **kw)

    monkeypatch.setattr(EventAliaser, "register", spy)
    user = pseudonyms.user_key("usr_6")
    store.upsert_link(user, pseudonyms.link_key("lnk_6"), region="NA")
    store.apply_endpoint_diff(user, upserts={"z1_a": CAMERA})
    for _ in range(3):
        assert read_digests(user) == (True, {"z1_a": CAMERA.capability_digest})
    assert len(registered) == 1
    warm.reset()
    for _ in range(2):
        assert read_digests(user) == (True, {"z1_a": CAMERA.capability_digest})
    assert len(registered) == 2


def test_an_index_without_a_link_is_reported_as_unlinked(aws_stack: object) -> None:
    user = pseudonyms.user_key("usr_3")
    store.apply_endpoint_diff(user, upserts={"z1_a": CAMERA})
    assert read_digests(user) == (False, {"z1_a": CAMERA.capability_digest})


def test_read_failures_are_store_unavailable(aws_stack: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOSI_TABLE_NAME", "no-such-table")

    warm.reset()
    with pytest.raises(store.StoreUnavailable, match="read_digests failed: ResourceNotFoundException"):
        read_digests(pseudonyms.user_key("usr_1"))


def test_the_session_knows_services_without_listing_them_all(aws_stack: object) -> None:
    loader = aws.session().get_component("data_loader")
    names = loader.list_available_services("service-2")
    assert all(service in names for service in ("dynamodb", "kms", "secretsmanager"))
    assert "no-such-service" not in names
    assert "dynamodb" in list(names) and len(names) > 100  # iterating still lists every service
    with pytest.raises(UnknownServiceError):
        aws.session().create_client("no-such-service", region_name="us-east-1")
