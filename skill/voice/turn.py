"""One voice request ("turn"): its locale strings, its ACCloud user and devices, and the answer.

A request interceptor attaches a ``Turn`` (``request_attributes["turn"]``) and its ``LocaleStrings``
(``request_attributes["strings"]``) to every custom request. The turn resolves the ACCloud user
and devices at most once per request and builds every response, so the SSML escaping of
user-chosen names lives in exactly one place (``Turn.answer``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from skill.cloud import contract, users
from skill.cloud.client import Deadline, HttpCameraCloud
from skill.privacy import pseudonyms
from skill.voice import strings

if TYPE_CHECKING:
    from ask_sdk_core.handler_input import HandlerInput
    from ask_sdk_model import Response
    from ask_sdk_model.ui import Card

TURN_ATTRIBUTE = "turn"
STRINGS_ATTRIBUTE = "strings"
# Alexa waits 8 s for a custom-skill answer; ACCloud gets at most this, less when Lambda has less left.
ACCLOUD_BUDGET_SECONDS = 4.0
LAMBDA_MARGIN_SECONDS = 1.0
SPACELESS_LANGUAGES = ("ja",)  # written without spaces between sentences
# Alexa refuses a response whose outputSpeech or reprompt SSML is longer, <speak></speak> included.
MAX_SPEECH_CHARACTERS = 8000
_SPEAK_TAGS = len("<speak></speak>")
_ELLIPSIS = "…"
# Characters XML 1.0 does not allow at all (escaping cannot help): C0 controls but tab, LF, CR;
# lone surrogates; U+FFFE/U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# Builds the turn's ACCloud client; the same signature as skill.smarthome's CloudFactory.
CloudFactory = Callable[[Deadline], contract.CameraCloud]


def default_cloud(deadline: Deadline) -> contract.CameraCloud:
    return HttpCameraCloud(deadline)


@dataclass(frozen=True)
class LocaleStrings:
    """The string catalog of one request's locale (plain text; ``Turn.answer`` escapes it)."""

    locale: str

    def text(self, key: str, **values: object) -> str:
        return strings.render(self.locale, key, **values)

    def count(self, key: str, count: int, **values: object) -> str:
        return strings.render_count(self.locale, key, count, **values)

    def names(self, names: Sequence[str]) -> str:
        return strings.join_names(self.locale, names)

    def sentences(self, *parts: str) -> str:
        """Sentences one after another: Japanese runs them together, the other locales put a space."""
        joiner = "" if self.locale.startswith(SPACELESS_LANGUAGES) else " "
        return joiner.join(part for part in parts if part)


def ssml(text: str) -> str:
    """Plain text made safe inside ``<speak>`` and within Alexa's length limit.

    Camera names reach speech through ``endpoints.friendly_name`` (letters, digits, spaces, at most
    128 characters) and lists are capped, so no answer comes near the limit; this is the one place
    that guarantees it whatever a template or name holds: characters XML forbids are dropped, the
    rest escaped, and an overlong text cut at a word with an ellipsis (never inside an entity).
    """
    escaped = escape(_NOT_XML.sub("", text))
    budget = MAX_SPEECH_CHARACTERS - _SPEAK_TAGS
    if len(escaped) <= budget:
        return escaped
    cut = escaped[: budget - len(_ELLIPSIS)]
    entity = cut.rfind("&")
    if entity > cut.rfind(";"):  # the cut fell inside "&amp;" or the like
        cut = cut[:entity]
    word = cut.rfind(" ")
    return (cut[:word] if word > 0 else cut) + _ELLIPSIS


@dataclass
class Turn:
    handler_input: HandlerInput
    strings: LocaleStrings
    token: str | None
    alexa_user_id: str | None
    api_endpoint: str | None
    cloud_factory: CloudFactory = field(default=default_cloud, repr=False)
    _cloud: contract.CameraCloud | None = field(default=None, repr=False)
    _user: contract.CloudUser | None = field(default=None, repr=False)
    _devices: list[contract.Device] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, handler_input: HandlerInput, cloud_factory: CloudFactory | None = None) -> Turn:
        """The turn attached by the interceptor (or a fresh one, e.g. when the interceptor itself failed)."""
        attributes = handler_input.attributes_manager.request_attributes
        attached = attributes.get(TURN_ATTRIBUTE)
        if isinstance(attached, Turn):
            return attached
        turn = cls.start(handler_input, cloud_factory)
        attributes[TURN_ATTRIBUTE] = turn
        attributes[STRINGS_ATTRIBUTE] = turn.strings
        return turn

    @classmethod
    def start(cls, handler_input: HandlerInput, cloud_factory: CloudFactory | None = None) -> Turn:
        envelope = handler_input.request_envelope
        system = envelope.context.system if envelope.context is not None else None
        user = system.user if system is not None else None
        token = user.access_token if user is not None else None
        if not token and envelope.session is not None and envelope.session.user is not None:
            token = envelope.session.user.access_token
        return cls(
            handler_input=handler_input,
            strings=LocaleStrings(strings.resolve_locale(getattr(envelope.request, "locale", None))),
            token=token or None,
            alexa_user_id=(user.user_id if user is not None else None) or None,
            api_endpoint=system.api_endpoint if system is not None else None,
            cloud_factory=cloud_factory or default_cloud,
        )

    # --- who is asking ------------------------------------------------------------------------

    @property
    def linked(self) -> bool:
        return self.token is not None

    def cloud(self) -> contract.CameraCloud:
        """Built on first use: a turn that never needs ACCloud never builds a client."""
        if self._cloud is None:
            self._cloud = self.cloud_factory(Deadline(self._budget()))
        return self._cloud

    def user(self) -> contract.CloudUser:
        """The ACCloud user behind the access token (cached per container by ``users``)."""
        if self.token is None:
            raise contract.InvalidToken("no access token")
        if self._user is None:
            self._user = users.resolve(self.cloud(), self.token)
        return self._user

    def user_key(self) -> str:
        return pseudonyms.user_key(self.user().user_id)

    def link_key(self) -> str:
        return pseudonyms.link_key(self.user().link_id)

    def alexa_user_key(self) -> str | None:
        return pseudonyms.alexa_user_key(self.alexa_user_id) if self.alexa_user_id else None

    def devices(self) -> list[contract.Device]:
        if self._devices is None:
            self.user()  # an unknown token fails here (and is then known), before a second call
            self._devices = self.cloud().devices(self.token or "")
        return self._devices

    def _budget(self) -> float:
        lambda_context = self.handler_input.context
        remaining_ms = None
        if lambda_context is not None and hasattr(lambda_context, "get_remaining_time_in_millis"):
            remaining_ms = lambda_context.get_remaining_time_in_millis()
        if remaining_ms is None:
            return ACCLOUD_BUDGET_SECONDS
        return max(0.0, min(ACCLOUD_BUDGET_SECONDS, remaining_ms / 1000 - LAMBDA_MARGIN_SECONDS))

    # --- the answer -----------------------------------------------------------------------------

    def answer(
        self,
        speech: str,
        *,
        reprompt: str | None = None,
        card: Card | None = None,
        directives: Sequence[Any] = (),
        end_session: bool | None = None,
    ) -> Response:
        """Build the response. Texts are plain (rendered strings, names) and escaped here.

        With a reprompt the session stays open; without one it ends unless ``end_session`` says
        otherwise (Dialog directives keep it open themselves).
        """
        builder = self.handler_input.response_builder
        builder.speak(ssml(speech))
        if reprompt is not None:
            builder.ask(ssml(reprompt))
        if card is not None:
            builder.set_card(card)
        for directive in directives:
            builder.add_directive(directive)
        if end_session is None:
            end_session = reprompt is None
        builder.set_should_end_session(end_session)
        return builder.response

    def say(self, key: str, **values: object) -> str:
        return self.strings.text(key, **values)
