"""Alexa.DataController (detection history in the Alexa app) through lambda_handler.handler and the
reference ACCloud: ReportData pages, DeleteData, the project schema and what stays unstored.

Every answer is validated against Amazon's schema plus the project schemas (tests/alexa_schema.py).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from tests.alexa_schema import AlexaSchema

NAMESPACE = "Alexa.DataController"
INSTANCE = "Camera.SmartVisionData"
ENDPOINT = "z1_" + "A" * 40
RECORD_ID = "d1_" + "B" * 30
SAMPLED = "2026-12-07T10:00:00.000Z"


def _data_report() -> dict[str, Any]:
    return {
        "event": {
            "header": {
                "namespace": NAMESPACE,
                "name": "DataReport",
                "instance": INSTANCE,
                "payloadVersion": "1.0",
                "messageId": str(uuid.uuid4()),
                "correlationToken": "corr-1",
            },
            "endpoint": {"endpointId": ENDPOINT},
            "payload": {
                "dataRetrievalSchema": {"type": "JSON", "schema": "SmartVisionData"},
                "data": [
                    {"id": RECORD_ID, "timeOfSample": "2026-12-07T10:00:00.000Z", "imageNetClass": "person"}
                ],
                "paginationContext": {"nextToken": "abc_-1"},
            },
        }
    }


# --- the project schema ------------------------------------------------------------------------


def _with(change) -> dict[str, Any]:
    message = _data_report()
    change(message)
    return message


SCHEMA_REFUSES = {
    "an image URI in a record": lambda m: m["event"]["payload"]["data"][0].update(
        frameImageUri="https://x/y.jpg"
    ),
    "a raw ACCloud id": lambda m: m["event"]["payload"]["data"][0].update(id="det_123"),
    "no instance": lambda m: m["event"]["header"].pop("instance"),
    "payloadVersion 3": lambda m: m["event"]["header"].update(payloadVersion="3"),
    "an unknown message name": lambda m: m["event"]["header"].update(name="DataReports"),
    "no correlationToken": lambda m: m["event"]["header"].pop("correlationToken"),
}


def test_the_project_schema_accepts_a_page(alexa_schema: AlexaSchema) -> None:
    alexa_schema.assert_valid(_data_report())


@pytest.mark.parametrize("case", list(SCHEMA_REFUSES), ids=list(SCHEMA_REFUSES))
def test_the_project_schema_refuses(alexa_schema: AlexaSchema, case: str) -> None:
    message = _with(SCHEMA_REFUSES[case])
    assert alexa_schema.errors(message), f"{case} passed the schema"
    assert alexa_schema.errors(copy.deepcopy(_data_report())) == []


# --- page tokens: bound to the user and endpoint, the query inside, expiring ---------------------


def test_a_page_token_opens_only_for_its_user_and_endpoint(aws_env) -> None:
    from skill.privacy import page_tokens

    query = page_tokens.Query("2026-12-07T09:00:00.000Z", None, 10)
    token = page_tokens.seal("usr_alice", ENDPOINT, query, "cur_abc")
    assert page_tokens.open_token("usr_alice", ENDPOINT, token) == ("cur_abc", query)
    for owner, endpoint in [("usr_bob", ENDPOINT), ("usr_alice", ENDPOINT + "B")]:
        with pytest.raises(page_tokens.InvalidPageToken):
            page_tokens.open_token(owner, endpoint, token)
    assert "cur_abc" not in token and "usr_alice" not in token


def test_a_page_token_expires(aws_env) -> None:
    from skill.privacy import page_tokens

    issued = 1_800_000_000.0
    token = page_tokens.seal("usr_alice", ENDPOINT, page_tokens.Query(None, None, 5), "cur_x", now=issued)
    assert (
        page_tokens.open_token("usr_alice", ENDPOINT, token, now=issued + page_tokens.TTL_SECONDS - 1)[0]
        == "cur_x"
    )
    with pytest.raises(page_tokens.InvalidPageToken, match="expired"):
        page_tokens.open_token("usr_alice", ENDPOINT, token, now=issued + page_tokens.TTL_SECONDS)


@pytest.mark.parametrize("token", [None, 7, "", "p1_", "p1_AAAA", "z1_AAAA", "p1_" + "A" * 3000, "p1_AAAA=="])
def test_anything_else_is_no_page_token(aws_env, token: object) -> None:
    from skill.privacy import page_tokens

    with pytest.raises(page_tokens.InvalidPageToken):
        page_tokens.open_token("usr_alice", ENDPOINT, token)


# --- the skill stores nothing about detections -----------------------------------------------------


def _table() -> list[dict[str, Any]]:
    from skill import aws
    from skill.config import settings

    items: list[dict[str, Any]] = aws.client("dynamodb").scan(
        TableName=settings().table_name, ConsistentRead=True
    )["Items"]
    return items


def test_a_full_history_cycle_stores_nothing(accloud, lwa_server, alexa_schema) -> None:
    """A linked account (rows exist) pages through its history and deletes by id and by range;
    the table is the same, row for row and attribute for attribute, before and after."""
    from devstack import demo_data, directives
    from tests.smarthome.conftest import discover, invoke

    token = accloud.issue_token("alice")["access_token"]
    grant = invoke(directives.accept_grant(token, lwa_server.issue_grant_code()), alexa_schema)
    assert grant["event"]["header"]["name"] == "AcceptGrant.Response"
    front = discover(token, alexa_schema)["Front Door"]
    made = [
        accloud.detections.record(demo_data.FRONT_DOOR, occurred_at=1_796_000_000 + 60 * i) for i in range(5)
    ]
    before = _table()
    assert before, "the linked account has rows to compare"

    def ask(name: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer = invoke(directives.data_controller(name, token, front, payload), alexa_schema, "1.0")
        assert answer["event"]["header"]["name"] != "ErrorResponse", answer
        return answer["event"]["payload"]

    seen: list[str] = []
    payload: dict[str, Any] = {"paginationContext": {"maxResults": 2}}
    while True:
        page = ask("ReportData", payload)
        seen += [record["id"] for record in page["data"]]
        if "paginationContext" not in page:
            break
        payload = {
            "paginationContext": {"maxResults": 2, "nextToken": page["paginationContext"]["nextToken"]}
        }
    assert len(seen) == len(set(seen)) == 5
    assert ask("DeleteData", {"identifiers": seen[:2]})["deleted"] == seen[:2]
    everything = {"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}
    assert sorted(ask("DeleteData", {"timeRange": everything})["deleted"]) == sorted(seen[2:])
    assert accloud.detections_held(demo_data.FRONT_DOOR) == [] and len(made) == 5
    assert _table() == before
