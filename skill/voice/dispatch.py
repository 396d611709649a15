"""The custom side of the Lambda: voice requests (ask-sdk-core) and Alexa Skill Events.

The skill id is checked before anything is read; skill events are answered without loading ask-sdk;
voice requests go through one ask-sdk-core skill built on first use, under the request's deadline,
and never raise after the skill-id check. Details: docs/architecture.md, "Voice dispatch".
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from skill import bounded, http, warm
from skill.config import settings
from skill.privacy.logs import correlation_id, log, log_failure
from skill.voice import skill_events

if TYPE_CHECKING:
    from ask_sdk_core.handler_input import HandlerInput
    from ask_sdk_model import Response

    from skill.voice.turn import CloudFactory

_log = logging.getLogger(__name__)

# Alexa drops a custom skill's answer after 8 s; the last second is kept for building and returning it.
ANSWER_SECONDS = 8.0
ANSWER_MARGIN_SECONDS = 1.0

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]

_lock = threading.Lock()
_skill: LambdaHandler | None = None
# The factory handle() was given, for the turn of the request it is answering (None: the default).
_cloud_factory: contextvars.ContextVar[CloudFactory | None] = contextvars.ContextVar(
    "voice_cloud_factory", default=None
)


class RequestRefused(Exception):
    """The envelope is not for this skill (or the skill id is not configured); nothing was processed."""


def handle(
    event: dict[str, Any], context: Any = None, cloud_factory: CloudFactory | None = None
) -> dict[str, Any]:
    started = time.perf_counter()
    raw_request = event.get("request")
    request: dict[str, Any] = raw_request if isinstance(raw_request, dict) else {}
    request_id = request.get("requestId")
    correlation_id.set(request_id if isinstance(request_id, str) and len(request_id) <= 256 else None)
    verify_skill_id(event)
    try:
        bounded.check(event)
    except bounded.OutOfBounds as exc:
        # Before anything walks it (str() below, ask-sdk's deserializer): both recurse per level.
        log(_log, logging.WARNING, "voice request refused", reason=exc.reason)
        return generic_error_answer(request.get("locale"))
    request_type = str(request.get("type", ""))[:80]
    if skill_events.is_skill_event(request_type):
        try:
            return skill_events.handle(event)
        except Exception as exc:
            # Raised so the invocation fails and a redelivery can retry; the message names no data.
            log_failure(
                _log,
                logging.ERROR,
                "skill event failed",
                exc,
                event_name=request_type,
                error_code=type(exc).__name__,
            )
            raise
    factory_set = _cloud_factory.set(cloud_factory)
    try:
        with http.bounded_by(answer_deadline(context)):  # DynamoDB and KMS keep to it, not only ACCloud
            answer = voice_skill()(event, context)
    except Exception as exc:
        # ask-sdk could not read the envelope (or failed outside its handlers): still an answer.
        log_failure(
            _log,
            logging.ERROR,
            "voice request failed outside the skill",
            exc,
            request_type=request_type,
            error_code=type(exc).__name__,
        )
        answer = generic_error_answer(request.get("locale"))
    finally:
        _cloud_factory.reset(factory_set)
    log(
        _log,
        logging.INFO,
        "voice request handled",
        request_type=request_type,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return answer


def answer_deadline(context: Any) -> http.Deadline:
    """The time a voice request has for its work: Alexa's wait or Lambda's, less the answer's margin."""
    budget = ANSWER_SECONDS - ANSWER_MARGIN_SECONDS
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        budget = min(budget, remaining_ms() / 1000 - ANSWER_MARGIN_SECONDS)
    return http.Deadline(max(0.0, budget))


def generic_error_answer(locale: Any) -> dict[str, Any]:
    """``error_generic`` in the request's language, built without ask-sdk (which may be what failed)."""
    from xml.sax.saxutils import escape

    from skill.voice import strings

    text = strings.render(locale if isinstance(locale, str) else None, "error_generic")
    return {
        "version": "1.0",
        "response": {
            "outputSpeech": {"type": "SSML", "ssml": f"<speak>{escape(text)}</speak>"},
            "shouldEndSession": True,
        },
    }


def verify_skill_id(event: dict[str, Any]) -> None:
    """Refuse unless every application id in the envelope equals the configured skill id."""
    expected = settings().skill_id
    if not expected:
        log(_log, logging.ERROR, "custom request refused: ZOSI_SKILL_ID is not configured")
        raise RequestRefused("skill id not configured")
    system_app = _dig(event, "context", "System", "application", "applicationId")
    session_app = _dig(event, "session", "application", "applicationId")
    presented = [value for value in (system_app, session_app) if value is not None]
    if not presented or any(value != expected for value in presented):
        log(_log, logging.WARNING, "custom request refused: not for this skill", presented=len(presented))
        raise RequestRefused("request is not for this skill")


def _dig(tree: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(key)
    return tree


def voice_skill() -> LambdaHandler:
    """The ask-sdk-core skill of this container, built on first use."""
    global _skill
    if _skill is None:
        with _lock:
            if _skill is None:
                _skill = _build()
    return _skill


@warm.register
def reset() -> None:
    """Forget the built skill (tests)."""
    global _skill
    with _lock:
        _skill = None


def _build() -> LambdaHandler:
    from ask_sdk_core.dispatch_components import (
        AbstractExceptionHandler,
        AbstractRequestHandler,
        AbstractRequestInterceptor,
        AbstractResponseInterceptor,
    )
    from ask_sdk_core.skill_builder import SkillBuilder

    from skill.cloud import contract, users
    from skill.voice import handlers
    from skill.voice.turn import STRINGS_ATTRIBUTE, TURN_ATTRIBUTE, Turn

    def request_type_of(handler_input: HandlerInput) -> str:
        return str(getattr(handler_input.request_envelope.request, "object_type", ""))

    def intent_name_of(handler_input: HandlerInput) -> str | None:
        intent = getattr(handler_input.request_envelope.request, "intent", None)
        # Some request types (an APL UserEvent, say) carry ``intent`` as a plain dict, not an Intent.
        name = getattr(intent, "name", None)
        return name if isinstance(name, str) else None

    class Routed(AbstractRequestHandler):
        """One entry of the handler tables; ``intent_name=None`` means any intent (the catch-all)."""

        def __init__(self, request_type: str, intent_name: str | None, function: handlers.Handler) -> None:
            self.request_type, self.intent_name, self.function = request_type, intent_name, function

        def can_handle(self, handler_input: HandlerInput) -> bool:
            if request_type_of(handler_input) != self.request_type:
                return False
            return self.intent_name is None or intent_name_of(handler_input) == self.intent_name

        def handle(self, handler_input: HandlerInput) -> Response:
            return self.function(Turn.of(handler_input, _cloud_factory.get()))

    class AttachTurn(AbstractRequestInterceptor):
        def process(self, handler_input: HandlerInput) -> None:
            turn = Turn.start(handler_input, _cloud_factory.get())
            attributes = handler_input.attributes_manager.request_attributes
            attributes[TURN_ATTRIBUTE] = turn
            attributes[STRINGS_ATTRIBUTE] = turn.strings
            log(
                _log,
                logging.INFO,
                "voice request",
                request_type=request_type_of(handler_input),
                intent_name=intent_name_of(handler_input),
                locale=turn.strings.locale,
                linked=turn.linked,
            )

    class LogResponse(AbstractResponseInterceptor):
        def process(self, handler_input: HandlerInput, response: Response) -> None:
            log(
                _log,
                logging.INFO,
                "voice response",
                intent_name=intent_name_of(handler_input),
                end_session=response.should_end_session if response is not None else None,
                directives=[d.object_type for d in (response.directives or [])]
                if response is not None
                else [],
                card=response.card.object_type
                if response is not None and response.card is not None
                else None,
            )

    class SpeakErrors(AbstractExceptionHandler):
        def can_handle(self, handler_input: HandlerInput, exception: Exception) -> bool:
            return True

        def handle(self, handler_input: HandlerInput, exception: Exception) -> Response:
            expected = isinstance(exception, contract.CloudError)
            log_failure(
                _log,
                logging.WARNING if expected else logging.ERROR,
                "voice request failed",
                None if expected else exception,
                request_type=request_type_of(handler_input),
                intent_name=intent_name_of(handler_input),
                error_code=type(exception).__name__,
            )
            turn = Turn.of(handler_input, _cloud_factory.get())
            if isinstance(exception, contract.InvalidToken | contract.ExpiredToken):
                if turn.token:
                    users.forget(turn.token)
                return handlers.link_again(turn)
            key = "error_cloud_unavailable" if isinstance(exception, contract.CloudError) else "error_generic"
            return turn.answer(turn.say(key))

    builder = SkillBuilder()
    for request_type, function in handlers.REQUEST_TYPES.items():
        builder.add_request_handler(Routed(request_type, None, function))
    for intent_name, function in handlers.INTENTS.items():
        builder.add_request_handler(Routed("IntentRequest", intent_name, function))
    builder.add_request_handler(Routed("IntentRequest", None, handlers.UNKNOWN_INTENT))
    builder.add_global_request_interceptor(AttachTurn())
    builder.add_global_response_interceptor(LogResponse())
    builder.add_exception_handler(SpeakErrors())
    # No builder.skill_id: ``handle`` verifies every envelope against the current settings, skill events
    # included, and a copy frozen into the cached skill could go stale.
    return cast(LambdaHandler, builder.lambda_handler())
