"""One class per Alexa interface: whether a device has it, its discovery entry, and the properties
and event payloads it reports (ReportState, ChangeReport, proactive events); ``messages`` wraps them.

Discovery is truthful: one stream configuration per profile ACCloud says the device really streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any, ClassVar, cast

from skill.alexa import messages
from skill.cloud.contract import Device


class Capability:
    interface: ClassVar[str]
    # The interface version; also the payloadVersion of its directives, responses and events.
    version: ClassVar[str] = messages.PAYLOAD_VERSION

    def applies(self, device: Device) -> bool:
        return True

    def discovery(self, device: Device) -> dict[str, Any]:
        return {"type": "AlexaInterface", "interface": self.interface, "version": self.version}

    def state(self, device: Device, sampled_at: datetime) -> list[dict[str, Any]]:
        return []


class Alexa(Capability):
    interface = "Alexa"


class EndpointHealth(Capability):
    interface = "Alexa.EndpointHealth"

    def discovery(self, device: Device) -> dict[str, Any]:
        entry = super().discovery(device)
        entry["properties"] = {
            "supported": [{"name": "connectivity"}],
            "proactivelyReported": True,
            "retrievable": True,
        }
        return entry

    def state(self, device: Device, sampled_at: datetime) -> list[dict[str, Any]]:
        return [self.connectivity(device.online, sampled_at)]

    def connectivity(self, online: bool, sampled_at: datetime) -> dict[str, Any]:
        value = {"value": "OK" if online else "UNREACHABLE"}
        return messages.prop(self.interface, "connectivity", value, sampled_at)


class CameraStreamController(Capability):
    interface = "Alexa.CameraStreamController"

    def applies(self, device: Device) -> bool:
        return bool(device.profiles_for("RTSP"))

    def discovery(self, device: Device) -> dict[str, Any]:
        entry = super().discovery(device)
        entry["cameraStreamConfigurations"] = [
            {
                "protocols": ["RTSP"],
                "resolutions": [{"width": p.width, "height": p.height}],
                "authorizationTypes": ["NONE"],
                "videoCodecs": [p.video_codec],
                "audioCodecs": [p.audio_codec],
            }
            for p in device.profiles_for("RTSP")
        ]
        return entry


class RTCSessionController(Capability):
    interface = "Alexa.RTCSessionController"

    def applies(self, device: Device) -> bool:
        return bool(device.profiles_for("WEBRTC"))

    def discovery(self, device: Device) -> dict[str, Any]:
        entry = super().discovery(device)
        entry["configuration"] = {"isFullDuplexAudioSupported": device.two_way_audio}
        return entry


class DoorbellEventSource(Capability):
    interface = "Alexa.DoorbellEventSource"

    def applies(self, device: Device) -> bool:
        return device.kind == "doorbell"

    def discovery(self, device: Device) -> dict[str, Any]:
        entry = super().discovery(device)
        entry["proactivelyReported"] = True
        return entry

    def press(self, pressed_at: datetime) -> dict[str, Any]:
        """The DoorbellPress payload: a physical press, timestamped in whole seconds (no fraction allowed)."""
        return {"cause": {"type": "PHYSICAL_INTERACTION"}, "timestamp": messages.iso_seconds(pressed_at)}


class MotionSensor(Capability):
    interface = "Alexa.MotionSensor"

    def applies(self, device: Device) -> bool:
        return device.motion_detection

    def discovery(self, device: Device) -> dict[str, Any]:
        entry = super().discovery(device)
        # Motion arrives only as ACCloud webhooks; there is no current state to retrieve.
        entry["properties"] = {
            "supported": [{"name": "detectionState"}],
            "proactivelyReported": True,
            "retrievable": False,
        }
        return entry

    def detection_state(self, detected: bool, sampled_at: datetime) -> dict[str, Any]:
        value = "DETECTED" if detected else "NOT_DETECTED"
        return messages.prop(self.interface, "detectionState", value, sampled_at)


class ObjectDetectionSensor(Capability):
    """Alexa.SmartVision.ObjectDetectionSensor for cameras whose firmware recognises people.

    Only the "person" class is advertised, because that is what ACCloud reports
    (``person.detected``). Detections reach Alexa as ObjectDetection events without any image
    or clip URL (the privacy rules allow no images). Not retrievable: the class list is fixed
    by the camera's capabilities; SetObjectDetectionClasses (skill/smarthome/object_detection.py)
    answers with it.
    """

    interface = "Alexa.SmartVision.ObjectDetectionSensor"
    version = "1.0"  # the one place SmartVision's version is written (directive, errors, events read it)
    OBJECT_CLASSES: ClassVar[tuple[str, ...]] = ("person",)

    def applies(self, device: Device) -> bool:
        return device.person_detection

    def discovery(self, device: Device) -> dict[str, Any]:
        entry = super().discovery(device)
        entry["properties"] = {
            "supported": [{"name": "objectDetectionClasses"}],
            "proactivelyReported": True,
            "retrievable": False,
        }
        entry["configuration"] = {
            "objectDetectionConfiguration": [{"imageNetClass": c} for c in self.OBJECT_CLASSES]
        }
        return entry

    def classes_for(self, device: Device) -> tuple[str, ...]:
        """The object classes this device detects and the skill reports: none without person detection."""
        return self.OBJECT_CLASSES if self.applies(device) else ()

    def classes_property(self, classes: tuple[str, ...], sampled_at: datetime) -> dict[str, Any]:
        """The ``objectDetectionClasses`` context property: the classes in effect."""
        value = [{"imageNetClass": c} for c in classes]
        return messages.prop(self.interface, "objectDetectionClasses", value, sampled_at)

    def detection(self, detection_id: str, detected_at: datetime, object_class: str) -> dict[str, Any]:
        """The ObjectDetection payload. No frameImageUri or clip: images never leave ACCloud."""
        event = {
            "eventIdentifier": detection_id,
            "imageNetClass": object_class,
            "timeOfSample": messages.iso_millis(detected_at),
            "uncertaintyInMilliseconds": 0,
        }
        return {"events": [event]}


ENDPOINT_HEALTH = EndpointHealth()
DOORBELL_EVENT_SOURCE = DoorbellEventSource()
MOTION_SENSOR = MotionSensor()
OBJECT_DETECTION_SENSOR = ObjectDetectionSensor()


class DataController(Capability):
    """Alexa.DataController 1.0 for the detection history of a camera that reports object detection
    (docs/data-controller.md): the Alexa app lists and deletes its detections, which stay in ACCloud.

    Offered exactly where ObjectDetectionSensor has classes in effect (what SetObjectDetectionClasses
    answers); a camera that detects nothing has no history to show.
    """

    interface = "Alexa.DataController"
    version = "1.0"
    instance = "Camera.SmartVisionData"
    # Sent when detections are deleted outside Alexa; the name is the project's choice, unverified
    # (docs/data-controller.md).
    DELETED_EVENT = "DataDeleted"
    RETRIEVAL_SCHEMA: ClassVar[dict[str, str]] = {"type": "JSON", "schema": "SmartVisionData"}
    _SENSOR = ObjectDetectionSensor()

    def applies(self, device: Device) -> bool:
        return bool(self._SENSOR.classes_for(device))

    def discovery(self, device: Device) -> dict[str, Any]:
        entry = super().discovery(device)
        entry["instance"] = self.instance
        entry["configuration"] = {
            "targetCapability": {"name": self._SENSOR.interface, "version": self._SENSOR.version},
            "dataRetrievalSchema": dict(self.RETRIEVAL_SCHEMA),
            "supportedAccess": ["BY_IDENTIFIER", "BY_TIMESTAMP_RANGE"],
        }
        return entry

    def deleted(self, refs: Sequence[str]) -> dict[str, Any]:
        """The DataDeleted payload: the opaque ids (``pseudonyms.detection_ref``) that left the history."""
        return {"deleted": list(refs)}


DATA_CONTROLLER = DataController()


CAPABILITIES: tuple[Capability, ...] = (
    Alexa(),
    CameraStreamController(),
    RTCSessionController(),
    DOORBELL_EVENT_SOURCE,
    MOTION_SENSOR,
    OBJECT_DETECTION_SENSOR,
    DATA_CONTROLLER,
    ENDPOINT_HEALTH,
)


def for_device(device: Device) -> list[Capability]:
    return [c for c in CAPABILITIES if c.applies(device)]


def discovery_entries(device: Device) -> list[dict[str, Any]]:
    """The ``capabilities`` list of the device's discovery endpoint."""
    return [c.discovery(device) for c in CAPABILITIES if c.applies(device)]


# Every Device field the capabilities above read. Devices that agree on these get equal discovery
# entries, so a discovery builds and encodes them once per shape (an NVR's channels, a fleet of one
# camera model). A capability that reads another field must add it here;
# tests/smarthome/test_fast_paths.py varies every other field and fails otherwise.
SHAPE_FIELDS = ("kind", "motion_detection", "person_detection", "two_way_audio", "profiles")
_shape = attrgetter(*SHAPE_FIELDS)


def shape(device: Device) -> tuple[Any, ...]:
    return cast(tuple[Any, ...], _shape(device))
