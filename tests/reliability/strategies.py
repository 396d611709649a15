"""Hypothesis strategies shared by the fuzz suites: odd text, arbitrary JSON values, and depth and
size bombs."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.bombs import nest, nest_text

# Unicode text as users and vendors type it: any letters and marks, controls, format characters,
# odd spaces, symbols, private use; plus huge strings made by repetition (cheap to draw).
unicode_text = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Mn", "So", "Co"]), min_size=1, max_size=40),
    st.builds(lambda unit, times: unit * times, st.text(min_size=1, max_size=4), st.integers(1, 3000)),
)
# ... and lone surrogates too: JSON can escape one ("\ud800") though it is no Unicode text.
odd_text = unicode_text | st.text(st.characters(categories=["Cs", "Ll"]), min_size=1, max_size=20)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    json_scalars | odd_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
    max_leaves=12,
)


def other_json_type(value_now: Any) -> st.SearchStrategy[Any]:
    """Any JSON value of another type than ``value_now``; for an int, anything but a genuine int
    (a JSON true is no number, though Python's bool is an int)."""
    if isinstance(value_now, bool) or not isinstance(value_now, int):
        return json_values.filter(lambda v: type(v) is not type(value_now))
    return json_values.filter(lambda v: type(v) is not int)


# --- depth and size bombs (skill.bounded: 32 levels, 10,000 members) --------------------------------
# Built by loops, never recursion: json.dumps or any recursive builder would itself blow up at the
# depths that matter. Depths just past the limit, around Python's recursion limit and far beyond.
bomb_depths = st.sampled_from([33, 40, 999, 1000, 5000, 20_000]) | st.integers(33, 20_000)


_shapes = st.sampled_from(["array", "object", "mixed"])
_leaves = json_scalars | st.text(max_size=5)
# Decoded structures (what Lambda hands the handler): too deep, or holding too many members.
deep_values = st.builds(nest, bomb_depths, _leaves, _shapes)
huge_values = st.builds(
    lambda count, as_array: [0] * count if as_array else {str(i): 0 for i in range(count)},
    st.integers(10_001, 40_000),
    st.booleans(),
)
bombs = deep_values | huge_values
# JSON text nesting too deep (what a webhook body, a cookie or an upstream answer may carry).
deep_json_text = st.builds(nest_text, bomb_depths, _leaves, _shapes)
