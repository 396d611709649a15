"""Typed Alexa errors. Each knows its error type; ``skill.smarthome.dispatch`` turns them into
``Alexa.ErrorResponse`` (or the namespace's own ErrorResponse) in one place.

``message`` is not shown to the customer but is kept by Alexa: it never carries user data.
"""

from __future__ import annotations

from typing import Any

from skill.alexa.capabilities import DataController, ObjectDetectionSensor
from skill.alexa.messages import PAYLOAD_VERSION
from skill.cloud import contract


class AlexaError(Exception):
    namespace = "Alexa"
    error_type = "INTERNAL_ERROR"
    payload_version = PAYLOAD_VERSION
    # Alexa.ErrorResponse names the endpoint; Alexa.Authorization's ErrorResponse has none.
    echo_endpoint = True

    def __init__(self, message: str = "", **payload: Any) -> None:
        super().__init__(message or self.error_type)
        self.message = message or self.error_type.replace("_", " ").lower()
        self.extra_payload = payload

    def payload(self) -> dict[str, Any]:
        return {"type": self.error_type, "message": self.message, **self.extra_payload}


class InvalidDirective(AlexaError):
    error_type = "INVALID_DIRECTIVE"


class InvalidValue(AlexaError):
    error_type = "INVALID_VALUE"


class NoSuchEndpoint(AlexaError):
    error_type = "NO_SUCH_ENDPOINT"


class EndpointUnreachable(AlexaError):
    error_type = "ENDPOINT_UNREACHABLE"


class BridgeUnreachable(AlexaError):
    error_type = "BRIDGE_UNREACHABLE"


class InvalidAuthorizationCredential(AlexaError):
    error_type = "INVALID_AUTHORIZATION_CREDENTIAL"


class ExpiredAuthorizationCredential(AlexaError):
    error_type = "EXPIRED_AUTHORIZATION_CREDENTIAL"


class NotSupportedInCurrentMode(AlexaError):
    error_type = "NOT_SUPPORTED_IN_CURRENT_MODE"

    def __init__(self, message: str = "", mode: str = "OTHER") -> None:
        super().__init__(message, currentDeviceMode=mode)


class InternalError(AlexaError):
    error_type = "INTERNAL_ERROR"


class AcceptGrantFailed(AlexaError):
    namespace = "Alexa.Authorization"
    error_type = "ACCEPT_GRANT_FAILED"
    echo_endpoint = False


class ObjectClassesNotEnabled(AlexaError):
    """The SmartVision interface's own ErrorResponse, INVALID_VALUE (its payloadVersion): a
    requested object class the camera cannot detect. The payload names those classes
    (``errorClasses``) and the classes in effect after all (``objectDetectionClasses``)."""

    namespace = ObjectDetectionSensor.interface
    error_type = "INVALID_VALUE"
    payload_version = ObjectDetectionSensor.version

    def __init__(self, message: str, *, rejected: list[str], in_effect: list[str]) -> None:
        super().__init__(
            message,
            errorClasses=[{"imageNetClass": c} for c in rejected],
            objectDetectionClasses=[{"imageNetClass": c} for c in in_effect],
        )


class DataControllerError(AlexaError):
    """Alexa.DataController.ErrorResponse (payloadVersion "1.0"): every failure of a DataController
    directive, with the interface's own types or Alexa's (payload: type and message only)."""

    namespace = "Alexa.DataController"
    payload_version = DataController.version

    def __init__(self, error_type: str, message: str) -> None:
        self.error_type = error_type
        super().__init__(message)

    @classmethod
    def of(cls, error: AlexaError) -> DataControllerError:
        """``error`` as this interface answers it: same type and message, no extra payload."""
        return error if isinstance(error, DataControllerError) else cls(error.error_type, error.message)


def from_cloud(exc: contract.CloudError) -> AlexaError:
    """The one mapping of ACCloud failures to Alexa errors.

    Only real auth failures become auth errors: Alexa unlinks the user on those, so a
    timeout or a 5xx must never look like one. ACCloud is the bridge between Alexa and the
    camera, so its being unreachable is BRIDGE_UNREACHABLE.
    """
    mapping: dict[type[contract.CloudError], AlexaError] = {
        contract.InvalidToken: InvalidAuthorizationCredential("ACCloud rejected the token"),
        contract.ExpiredToken: ExpiredAuthorizationCredential("ACCloud token expired"),
        contract.NotFound: NoSuchEndpoint("no such endpoint for this account"),
        contract.DeviceOffline: EndpointUnreachable("camera is offline"),
        contract.BridgeOffline: BridgeUnreachable("the NVR of this channel is offline"),
        contract.PrivacyMode: NotSupportedInCurrentMode("camera is in privacy mode", mode="OTHER"),
        contract.UnsupportedStream: InvalidValue("camera cannot stream the requested configuration"),
        contract.Transient: BridgeUnreachable("camera cloud unreachable, try again"),
    }
    for kind, error in mapping.items():
        if isinstance(exc, kind):
            return error
    return InternalError("unexpected camera cloud failure")
