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
