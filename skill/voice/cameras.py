"""The user's cameras in the voice model: per-user slot values and matching what was said.

Dynamic entities give the ``CAMERA_NAME`` slot the user's own camera names for the session.
Their ids are the opaque endpointIds Alexa already knows from discovery, never ACCloud device
ids. A spoken value is matched in this order: the dynamic authority's ids, the static
authority's canonical values, then the words Alexa heard, each compared case- and
diacritics-insensitively; a match must be unique.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from skill.alexa.endpoints import UndescribableDevice, fallback_names, friendly_name
from skill.cloud.contract import Device
from skill.privacy import pseudonyms

SLOT_TYPE = "CAMERA_NAME"
MAX_DYNAMIC_ENTITIES = 100  # Alexa's limit per Dialog.UpdateDynamicEntities
DYNAMIC_AUTHORITY_MARK = ".er-authority.echo-sdk.dynamic."
_NON_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Camera:
    """A device as the voice side needs it: the spoken name and the opaque endpointId."""

    device: Device
    endpoint_id: str
    # What discovery reported to Alexa (``endpoints.friendly_name``: letters, digits and single
    # spaces, at most 128 characters), or the fallback it gave a name with nothing to say
    # ("ZOSI Camera 2"). Speech uses only this: the raw ZOSI name may hold control characters
    # (ill-formed SSML) or run to any length (over Alexa's speech limit).
    spoken_name: str

    @property
    def name(self) -> str:
        """The name Alexa knows the camera by, the one the Alexa app shows."""
        return self.spoken_name


def cameras_of(owner_user_id: str, devices: Iterable[Device]) -> list[Camera]:
    devices = list(devices)
    fallbacks = fallback_names(devices)  # the names discovery gives devices without one
    found = []
    for device in devices:
        endpoint_id = pseudonyms.endpoint_id(owner_user_id, device.id)
        try:
            found.append(Camera(device, endpoint_id, friendly_name(device.name)))
        except UndescribableDevice:
            found.append(Camera(device, endpoint_id, fallbacks[device.id]))
    return found


def normalize(text: str) -> str:
    """Casefolded, without diacritics or punctuation, single spaces ("Cámara-Jardín" -> "camara jardin")."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", bare.casefold()).strip()


def match(
    cameras: Sequence[Camera], *, ids: Iterable[str] = (), phrases: Iterable[str] = ()
) -> Camera | None:
    """The one camera the slot means, or None if none or several fit."""
    by_endpoint = {camera.endpoint_id: camera for camera in cameras}
    for entity_id in ids:
        if entity_id in by_endpoint:
            return by_endpoint[entity_id]
    for phrase in phrases:
        found = _by_phrase(cameras, normalize(phrase))
        if found is not None:
            return found
    return None


def _by_phrase(cameras: Sequence[Camera], said: str) -> Camera | None:
    if not said:
        return None
    names = [
        (camera, {normalize(camera.device.name), normalize(camera.spoken_name)} - {""}) for camera in cameras
    ]
    exact = [camera for camera, forms in names if said in forms]
    if len(exact) == 1:
        return exact[0]
    if exact:
        return None
    said_words = set(said.split())

    def overlaps(form: str) -> bool:
        words = set(form.split())
        # "garage" for "Garage Cam", "the garage camera" for "Garage".
        if words <= said_words or said_words <= words:
            return True
        # Scripts written without spaces (ja-JP): "ガレージのカメラ" for "ガレージ".
        spaceless = " " not in form and " " not in said
        return spaceless and (form in said or said in form)

    partial = [camera for camera, forms in names if any(overlaps(form) for form in forms)]
    return partial[0] if len(partial) == 1 else None


def slot_candidates(slot: Any) -> tuple[list[str], list[str]]:
    """(dynamic entity ids, phrases) of an ask-sdk Slot: resolved ids, then canonical and heard words."""
    if slot is None:
        return [], []
    ids: list[str] = []
    phrases: list[str] = []
    resolutions = getattr(slot, "resolutions", None)
    for authority in getattr(resolutions, "resolutions_per_authority", None) or []:
        status = getattr(getattr(authority, "status", None), "code", None)
        if getattr(status, "value", status) != "ER_SUCCESS_MATCH":
            continue
        dynamic = DYNAMIC_AUTHORITY_MARK in (authority.authority or "")
        for wrapper in authority.values or []:
            value = wrapper.value
            if value is None:
                continue
            if dynamic and value.id:
                ids.append(value.id)
            if value.name:
                phrases.append(value.name)
    if getattr(slot, "value", None):
        phrases.append(slot.value)
    return ids, phrases


def dynamic_entities(cameras: Sequence[Camera]) -> list[Any]:
    """``[Dialog.UpdateDynamicEntities]`` (REPLACE) with the camera names; ``[]`` if none is speakable."""
    from ask_sdk_model.dialog import DynamicEntitiesDirective
    from ask_sdk_model.er.dynamic import Entity, EntityListItem, EntityValueAndSynonyms, UpdateBehavior

    values = [
        Entity(id=camera.endpoint_id, name=EntityValueAndSynonyms(value=camera.spoken_name))
        for camera in cameras
        if camera.spoken_name
    ][:MAX_DYNAMIC_ENTITIES]
    if not values:
        return []
    return [
        DynamicEntitiesDirective(
            update_behavior=UpdateBehavior.REPLACE, types=[EntityListItem(name=SLOT_TYPE, values=values)]
        )
    ]
