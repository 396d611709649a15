"""Katakana readings of Latin-script camera names, for ja-JP.

Japanese speech is transcribed in katakana, so a camera named "Garage" in the ZOSI app is heard as
「ガレージ」. A reviewed table of the English words people name cameras with gives the reading; a
name with any word outside the table gets none (a guessed reading would resolve the wrong camera).
Standard loanword spellings (外来語表記), one per word; compounds are written without a space, as
Alexa transcribes them (「フロントドア」).
"""

from __future__ import annotations

import re

LOANWORDS = {
    "attic": "アティック",
    "baby": "ベビー",
    "back": "バック",
    "balcony": "バルコニー",
    "barn": "バーン",
    "basement": "ベースメント",
    "bath": "バス",
    "bathroom": "バスルーム",
    "bed": "ベッド",
    "bedroom": "ベッドルーム",
    "camera": "カメラ",
    "cam": "カム",
    "car": "カー",
    "carport": "カーポート",
    "deck": "デッキ",
    "den": "デン",
    "dining": "ダイニング",
    "door": "ドア",
    "doorbell": "ドアベル",
    "drive": "ドライブ",
    "driveway": "ドライブウェイ",
    "east": "イースト",
    "entrance": "エントランス",
    "front": "フロント",
    "garage": "ガレージ",
    "garden": "ガーデン",
    "gate": "ゲート",
    "guest": "ゲスト",
    "hall": "ホール",
    "hallway": "ホールウェイ",
    "home": "ホーム",
    "house": "ハウス",
    "kids": "キッズ",
    "kitchen": "キッチン",
    "living": "リビング",
    "lobby": "ロビー",
    "main": "メイン",
    "north": "ノース",
    "nursery": "ナーサリー",
    "office": "オフィス",
    "outdoor": "アウトドア",
    "parking": "パーキング",
    "patio": "パティオ",
    "pool": "プール",
    "porch": "ポーチ",
    "rear": "リア",
    "room": "ルーム",
    "shed": "シェッド",
    "shop": "ショップ",
    "side": "サイド",
    "south": "サウス",
    "stairs": "ステアーズ",
    "street": "ストリート",
    "studio": "スタジオ",
    "terrace": "テラス",
    "top": "トップ",
    "west": "ウェスト",
    "window": "ウィンドウ",
    "workshop": "ワークショップ",
    "yard": "ヤード",
}
_LATIN_WORD = re.compile(r"[a-z]+")


def katakana(name: str) -> str | None:
    """「フロントドア」 for "Front Door"; None unless every word of the name is in the table."""
    words = name.casefold().split()
    if not words or not all(_LATIN_WORD.fullmatch(word) for word in words):
        return None
    readings = [LOANWORDS.get(word) for word in words]
    if any(reading is None for reading in readings):
        return None
    return "".join(reading for reading in readings if reading)
