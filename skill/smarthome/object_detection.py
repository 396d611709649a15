"""Alexa.SmartVision.ObjectDetectionSensor: SetObjectDetectionClasses. ACCloud cannot choose what a
camera detects and nothing is stored per device, so the classes in effect are always the ones the
camera detects; why and how it answers: docs/architecture.md, "Object detection classes".
"""

from __future__ import annotations

import re
from typing import Any

from skill.alexa import capabilities, messages
from skill.alexa.errors import InvalidDirective, ObjectClassesNotEnabled
from skill.smarthome.context import DirectiveContext
from skill.smarthome.registry import handles

SENSOR = capabilities.OBJECT_DETECTION_SENSOR
NAMESPACE = SENSOR.interface
MAX_REQUESTED_CLASSES = 64  # ImageNet-style labels; Alexa offers a handful
# The project schema's objectClass (skill/alexa/schemas/smartvision.schema.json).
_OBJECT_CLASS = re.compile(r"[a-z][a-z0-9 _-]{0,63}")


def requested_classes(payload: dict[str, Any]) -> list[str]:
    """``payload.objectDetectionClasses`` as lower-case class names, de-duplicated, in order."""
    entries = payload.get("objectDetectionClasses")
    if not isinstance(entries, list) or len(entries) > MAX_REQUESTED_CLASSES:
        raise InvalidDirective("objectDetectionClasses missing or malformed")
    classes: list[str] = []
    for entry in entries:
        name = entry.get("imageNetClass") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not _OBJECT_CLASS.fullmatch(name.lower()):
            raise InvalidDirective("objectDetectionClasses entry malformed")
        if name.lower() not in classes:
            classes.append(name.lower())
    return classes


@handles(NAMESPACE, "SetObjectDetectionClasses")
def set_object_detection_classes(ctx: DirectiveContext) -> dict[str, Any]:
    requested = requested_classes(ctx.directive.payload)
    in_effect = SENSOR.classes_for(ctx.device())
    refused = [c for c in requested if c not in in_effect]
    if refused:
        raise ObjectClassesNotEnabled(
            "requested object class not detected by this camera", rejected=refused, in_effect=list(in_effect)
        )
    return messages.response(
        ctx.directive, properties=[SENSOR.classes_property(in_effect, messages.utc_now())]
    )
