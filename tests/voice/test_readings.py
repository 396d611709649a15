"""skill/voice/readings.py: katakana readings of Latin camera names come from the reviewed table only."""

from __future__ import annotations

import re

import pytest

from skill.voice.readings import LOANWORDS, katakana

KATAKANA_WORD = re.compile(r"[\u30a1-\u30fa\u30fc]+")  # katakana letters and the long-vowel mark


@pytest.mark.parametrize(
    ("name", "reading"),
    [
        ("Garage", "ガレージ"),
        ("Front Door", "フロントドア"),  # a compound is written without a space, as Alexa transcribes it
        ("back yard", "バックヤード"),
        ("SIDE GATE", "サイドゲート"),
        ("Nursery", "ナーサリー"),
        ("Kids  Room", "キッズルーム"),  # runs of spaces are one word break
    ],
)
def test_known_names_read_word_by_word(name: str, reading: str) -> None:
    assert katakana(name) == reading


@pytest.mark.parametrize(
    "name",
    [
        "Shedd",  # a near miss of "shed": no fuzzy guess
        "Garage Zeta",  # one unknown word spoils the whole name
        "Oma's Room",
        "Garage 2",  # digits: 「ガレージ2」 or 「ガレージツー」 would both be guesses
        "Café",  # not plain ASCII letters
        "Front-Door",
        "ガレージ",  # already Japanese: nothing to read
        "玄関 Door",  # mixed scripts
        "",
        "   ",
    ],
)
def test_a_name_outside_the_table_gets_no_reading(name: str) -> None:
    assert katakana(name) is None


def test_the_table_is_lowercase_latin_words_to_katakana() -> None:
    for word, reading in LOANWORDS.items():
        assert re.fullmatch(r"[a-z]+", word), word
        assert KATAKANA_WORD.fullmatch(reading), f"{word}: {reading!r} is not katakana"
