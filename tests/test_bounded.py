"""skill.bounded: depth and size limits for untrusted JSON, decoded or not, and the Lambda entry
point's handling of events that nest too deep for any side."""

from __future__ import annotations

import json
from typing import Any

import pytest

from skill import bounded
from tests.bombs import nest


def test_the_limit_depth_is_accepted_one_more_is_not() -> None:
    at_limit = "[" * bounded.MAX_DEPTH + "]" * bounded.MAX_DEPTH
    assert bounded.loads(at_limit, max_bytes=1000) == json.loads(at_limit)
    with pytest.raises(bounded.OutOfBounds) as caught:
        bounded.loads("[" + at_limit + "]", max_bytes=1000)
    assert caught.value.reason == "too_deep"


@pytest.mark.parametrize("depth", [40, 900, 20_000])
def test_depth_bombs_are_out_of_bounds_not_recursion_errors(depth: int) -> None:
    """20,000 levels is a RecursionError in json.loads; 900 decodes, but no later walk should see it."""
    for raw in ("[" * depth + "]" * depth, ('{"a":' * depth + "0" + "}" * depth).encode()):
        with pytest.raises(bounded.OutOfBounds) as caught:
            bounded.loads(raw, max_bytes=len(raw))
        assert caught.value.reason == "too_deep"


def test_brackets_inside_strings_are_no_nesting() -> None:
    raw = json.dumps({"note": "[" * 5000, "list": [1, [2, [3]]]})
    assert bounded.loads(raw, max_bytes=len(raw))["note"] == "[" * 5000


def test_size_is_counted_in_bytes_before_decoding() -> None:
    with pytest.raises(bounded.OutOfBounds) as caught:
        bounded.loads(b"[" + b"0," * 600 + b"0]", max_bytes=1000)
    assert caught.value.reason == "too_large"
    two_bytes_each = json.dumps("é" * 400, ensure_ascii=False)  # 402 characters, 802 bytes
    assert bounded.loads(two_bytes_each, max_bytes=802) == "é" * 400
    with pytest.raises(bounded.OutOfBounds):
        bounded.loads(two_bytes_each, max_bytes=801)


def test_malformed_json_stays_a_plain_value_error() -> None:
    with pytest.raises(ValueError) as caught:
        bounded.loads(b"{not json", max_bytes=100)
    assert not isinstance(caught.value, bounded.OutOfBounds)
    assert issubclass(bounded.OutOfBounds, ValueError)  # callers catching ValueError cover the bounds


def test_the_walk_never_recurses() -> None:
    """A structure 100,000 deep (as a caller could build it; Lambda's decoder stops nearer 1,000)."""
    with pytest.raises(bounded.OutOfBounds) as caught:
        bounded.check(nest(100_000, 0, "mixed"))
    assert caught.value.reason == "too_deep"
    bounded.check(nest(bounded.MAX_DEPTH, 0, "mixed"))
    bounded.check("a scalar is no container")


def test_the_walk_counts_members_of_every_container() -> None:
    bounded.check({"a": [0] * 5000, "b": {str(i): i for i in range(4998)}})  # 2 + 5000 + 4998 members
    with pytest.raises(bounded.OutOfBounds) as caught:
        bounded.check({"a": [0] * 5000, "b": {str(i): i for i in range(4999)}})
    assert caught.value.reason == "too_large"
    with pytest.raises(bounded.OutOfBounds):
        bounded.check([[0] * 100 for _ in range(101)])  # many small containers add up


@pytest.mark.parametrize(
    "event",
    [nest(5000), {"unknown": nest(5000)}, {"requestContext": nest(5000)}],
    ids=["a deep list", "a deep unknown event", "a deep requestContext"],
)
def test_the_entry_point_classifies_deep_events_without_walking_them(event: Any) -> None:
    import lambda_handler

    answer = lambda_handler.handler(event, None)
    assert answer == {"error": "unsupported event", "accepted": ["directive", "request", "http"]}
