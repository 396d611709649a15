"""What a directive handler gets: the parsed directive, an ACCloud client bound to the directive's
deadline, and lazy, cached resolution of the caller and the addressed device."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from skill.alexa.directive import Directive
from skill.alexa.errors import NoSuchEndpoint
from skill.cloud import users
from skill.cloud.contract import CameraCloud, CloudUser, Device
from skill.http import Deadline
from skill.privacy import pseudonyms

CloudFactory = Callable[[Deadline], CameraCloud]

# Alexa gives a stream directive 6 s and any other 8 s; keep a margin for the way back.
STREAM_BUDGET_SECONDS = 5.0
DEFAULT_BUDGET_SECONDS = 7.0
STREAM_NAMESPACES = frozenset({"Alexa.CameraStreamController", "Alexa.RTCSessionController"})


def budget_for(directive: Directive, lambda_remaining_ms: int | None) -> float:
    budget = STREAM_BUDGET_SECONDS if directive.namespace in STREAM_NAMESPACES else DEFAULT_BUDGET_SECONDS
    if lambda_remaining_ms is not None:
        budget = min(budget, lambda_remaining_ms / 1000.0 - 0.5)
    return max(budget, 0.0)


@dataclass
class DirectiveContext:
    directive: Directive
    cloud: CameraCloud
    deadline: Deadline
    _user: CloudUser | None = field(default=None, init=False)
    _device_id: str | None = field(default=None, init=False)

    @property
    def token(self) -> str:
        return self.directive.require_token()

    def user(self) -> CloudUser:
        """The ACCloud user behind the bearer token (cached per warm container)."""
        if self._user is None:
            self._user = users.resolve(self.cloud, self.token)
        return self._user

    def verified_user(self) -> CloudUser:
        """The user behind the token as ACCloud answers now (no container cache): for AcceptGrant."""
        self._user = users.resolve(self.cloud, self.token, verify=True)
        return self._user

    def device_id(self) -> str:
        """The ACCloud device behind the addressed endpointId, if it is the caller's (cached)."""
        if self._device_id is None:
            endpoint = self.directive.require_endpoint()
            try:
                self._device_id = pseudonyms.device_id_for(self.user().user_id, endpoint)
            except pseudonyms.UnknownEndpoint:
                raise NoSuchEndpoint("endpoint unknown for this account") from None
        return self._device_id

    def device(self) -> Device:
        """The addressed device as ACCloud lists it now (one devices call), or NoSuchEndpoint."""
        device_id = self.device_id()
        device = next((d for d in self.cloud.devices(self.token) if d.id == device_id), None)
        if device is None:
            raise NoSuchEndpoint("device no longer on this account")
        return device
