"""The data inventory declares exactly what the models store, and nothing forbidden is stored."""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest
from pynamodb.attributes import TTLAttribute

from models.base import TableModel, all_models
from models.inventory import INVENTORY
from models.items import TTL_ATTRIBUTE, AccountLink, ErasureFence, WebhookDedupe
from models.store import TABLE_DEFINITION

# Words that name data the policy table says is never stored.
FORBIDDEN_WORDS = {
    "name", "nickname", "phone", "email", "avatar", "serial", "mac", "bssid", "ssid", "ip",
    "wifi", "uri", "url", "image", "snapshot", "sdp", "offer", "answer", "location", "device",
}  # fmt: skip


def stored_attributes(model: type[TableModel]) -> set[str]:
    return set(model.get_attributes())


def undeclared(model: type[TableModel], inventory: Mapping[str, Mapping[str, object]]) -> set[str]:
    return stored_attributes(model) - set(inventory.get(model.__name__, {}))


def phantom(inventory: Mapping[str, Mapping[str, object]]) -> set[str]:
    """Declarations (model.attribute) without a stored attribute."""
    models = {m.__name__: m for m in all_models()}
    found = set()
    for name, declared in inventory.items():
        stored = stored_attributes(models[name]) if name in models else set()
        found |= {f"{name}.{attribute}" for attribute in set(declared) - stored}
    return found


def test_every_concrete_model_is_found() -> None:
    names = {m.__name__ for m in all_models()}
    assert names == {
        "AccountProfile",
        "AccountLink",
        "EndpointEntry",
        "WebhookDedupe",
        "ErasureFence",
    }


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.__name__)
def test_every_attribute_is_declared(model: type[TableModel]) -> None:
    assert not undeclared(model, INVENTORY), f"{model.__name__} stores undeclared attributes"


def test_no_declaration_without_an_attribute() -> None:
    assert not phantom(INVENTORY)


def test_the_checks_catch_a_missing_and_a_phantom_declaration() -> None:
    edited = {name: dict(attrs) for name, attrs in INVENTORY.items()}
    del edited["AccountLink"]["region"]
    edited["EndpointEntry"]["device_name"] = edited["EndpointEntry"]["categories"]
    edited["Forgotten"] = {"pk": edited["AccountProfile"]["pk"]}
    assert undeclared(AccountLink, edited) == {"region"}
    assert phantom(edited) == {"EndpointEntry.device_name", "Forgotten.pk"}


@pytest.mark.parametrize(
    ("model", "attribute"),
    [(model, attribute) for model, attrs in INVENTORY.items() for attribute in attrs],
)
def test_declarations_are_complete(model: str, attribute: str) -> None:
    use = INVENTORY[model][attribute]
    assert set(use) == {"purpose", "retention", "clause"}
    assert all(isinstance(v, str) and len(v) >= 10 for v in use.values()), use
    assert re.search(r"\b(I|III|IV|V|VI|VII)\b", use["clause"]), use["clause"]


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.__name__)
def test_no_attribute_names_forbidden_data(model: type[TableModel]) -> None:
    for attribute in stored_attributes(model):
        words = set(attribute.split("_"))
        assert not words & FORBIDDEN_WORDS, f"{model.__name__}.{attribute} looks like forbidden data"


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.__name__)
def test_only_short_lived_kinds_carry_the_ttl_attribute(model: type[TableModel]) -> None:
    # DynamoDB deletes any item whose TTL attribute passed: a long-lived kind must never have it.
    has_ttl = TTL_ATTRIBUTE in stored_attributes(model)
    assert has_ttl == (model in (WebhookDedupe, ErasureFence))
    if has_ttl:
        assert isinstance(model.get_attributes()[TTL_ATTRIBUTE], TTLAttribute)


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.__name__)
def test_models_agree_with_the_table_definition(model: type[TableModel]) -> None:
    schema = model._get_schema()
    assert schema["key_schema"] == [
        {"KeyType": k["KeyType"], "AttributeName": k["AttributeName"]} for k in TABLE_DEFINITION["KeySchema"]
    ]
    defined = {d["AttributeName"]: d["AttributeType"] for d in TABLE_DEFINITION["AttributeDefinitions"]}
    for definition in schema["attribute_definitions"]:
        assert defined[definition["AttributeName"]] == definition["AttributeType"]
    table_indexes = {g["IndexName"]: g for g in TABLE_DEFINITION["GlobalSecondaryIndexes"]}
    for index in schema["global_secondary_indexes"]:
        table_index = table_indexes[index["index_name"]]
        assert table_index["KeySchema"] == index["key_schema"]
        assert table_index["Projection"] == index["projection"]
