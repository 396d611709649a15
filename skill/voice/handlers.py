"""What the voice model answers, one function per request type or intent (table at the bottom).

Failures are left to the one exception handler in ``skill.voice.dispatch``; the choices worth
knowing (policy notice, answers without a linked account, truthful erasure) are in
docs/architecture.md, "Voice handlers"."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from models import store
from skill import http
from skill.cloud import contract
from skill.config import settings
from skill.privacy import access, erasure
from skill.voice import identity
from skill.voice.cameras import Camera, cameras_of, candidates, dynamic_entities, slot_candidates
from skill.voice.dispatch import ANSWER_MARGIN_SECONDS, ANSWER_SECONDS
from skill.voice.turn import Turn

if TYPE_CHECKING:
    from ask_sdk_model import Response

Handler = Callable[[Turn], "Response"]

CAMERA_SLOT = "camera"
LIST_LIMIT = 5  # names spoken before "and N more"


# --- shared pieces ------------------------------------------------------------------------------


def _intent(turn: Turn) -> Any:
    return getattr(turn.handler_input.request_envelope.request, "intent", None)


def _cameras(turn: Turn) -> list[Camera]:
    return cameras_of(turn.user().user_id, turn.devices())


def link_account(turn: Turn, key: str = "link_account_required") -> Response:
    from ask_sdk_model.ui import LinkAccountCard

    return turn.answer(turn.say(key), card=LinkAccountCard())


def link_again(turn: Turn) -> Response:
    """ACCloud refused the token (expired or revoked): a launch is greeted first, a request told why."""
    request_type = getattr(turn.handler_input.request_envelope.request, "object_type", None)
    return link_account(
        turn, "launch_link_expired" if request_type == "LaunchRequest" else "link_account_required"
    )


def _simple_card(turn: Turn, title_key: str, text: str) -> Any:
    from ask_sdk_model.ui import SimpleCard

    return SimpleCard(title=turn.say(title_key), content=text)


def _ask_which_camera(turn: Turn, cameras: list[Camera], lead_in: str = "", question: str = "") -> Response:
    """Continue with CameraStatus, eliciting its camera slot, with the user's names loaded."""
    from ask_sdk_model import Intent, IntentConfirmationStatus, Slot, SlotConfirmationStatus
    from ask_sdk_model.dialog import ElicitSlotDirective

    question = question or turn.say("camera_status_which")
    status_intent = Intent(
        name="CameraStatus",
        confirmation_status=IntentConfirmationStatus.NONE,
        slots={CAMERA_SLOT: Slot(name=CAMERA_SLOT, confirmation_status=SlotConfirmationStatus.NONE)},
    )
    return turn.answer(
        turn.strings.sentences(lead_in, question),
        reprompt=question,
        directives=[
            *dynamic_entities(cameras, turn.strings.locale),
            ElicitSlotDirective(updated_intent=status_intent, slot_to_elicit=CAMERA_SLOT),
        ],
        end_session=False,
    )


def _camera_status(turn: Turn, camera: Camera) -> Response:
    device = camera.device
    key = (
        "camera_status_offline"
        if not device.online
        else "camera_status_privacy"
        if device.privacy_mode
        else "camera_status_online"
    )
    return turn.answer(turn.say(key, name=camera.name))


def version_is_newer(current: str, accepted: str | None) -> bool:
    """Dates (2019-06-01) and dotted versions (2.1) compare by their numbers; anything else by inequality."""
    if not accepted:
        return True
    current_numbers = [int(n) for n in re.findall(r"\d+", current)]
    accepted_numbers = [int(n) for n in re.findall(r"\d+", accepted)]
    if current_numbers and accepted_numbers:
        return current_numbers > accepted_numbers
    return current != accepted


def policy_notice(user_key: str) -> str | None:
    """The policy version to announce now (and record as accepted), or None. Records activity on the profile;
    a user without a profile gets no notice and nothing stored."""
    profile = store.get_profile(user_key)
    if profile is None:
        return None
    current = settings().policy_version
    now = datetime.now(UTC)
    if not version_is_newer(current, profile.accepted_policy_version):
        store.touch_profile(user_key, now=now)
        return None
    store.put_profile(
        user_key,
        consented_at=profile.consented_at,
        linked_at=profile.linked_at,
        accepted_policy_version=current,
        last_active_at=now,
        consent_withdrawn_at=profile.consent_withdrawn_at,  # a policy notice is no consent to events
    )
    return current


def delete_report_sender() -> erasure.Notifier:
    """Tell Alexa the cameras are gone before erasing (the skill stays enabled)."""
    from skill.amazon.delete_report import send_delete_report

    return send_delete_report


# --- request types ----------------------------------------------------------------------------


def launch(turn: Turn) -> Response:
    if not turn.linked:
        return link_account(turn, "launch_unlinked")
    cameras = _cameras(turn)
    parts, card = [], None
    announced = policy_notice(turn.user_key())
    if announced is not None:
        parts.append(turn.say("policy_updated", version=announced))
        card = _simple_card(
            turn, "policy_card_title", turn.say("policy_card_text", url=settings().policy_url)
        )
    if not cameras:
        parts.append(turn.say("launch_no_cameras"))
        return turn.answer(turn.strings.sentences(*parts), card=card)
    parts.append(turn.strings.count("launch_linked", len(cameras)))
    return turn.answer(
        turn.strings.sentences(*parts),
        reprompt=turn.say("reprompt"),
        card=card,
        directives=dynamic_entities(cameras, turn.strings.locale),
    )


def session_ended(turn: Turn) -> Response:
    return turn.handler_input.response_builder.response


# --- intents ------------------------------------------------------------------------------------


def list_cameras(turn: Turn) -> Response:
    if not turn.linked:
        return link_account(turn)
    cameras = _cameras(turn)
    if not cameras:
        return turn.answer(turn.say("list_cameras_none"))
    names = [camera.name for camera in cameras]
    if len(names) > LIST_LIMIT:
        text = turn.say(
            "list_cameras_many",
            count=len(names),
            names=turn.strings.names(names[:LIST_LIMIT]),
            more=len(names) - LIST_LIMIT,
        )
    else:
        text = turn.strings.count("list_cameras", len(names), names=turn.strings.names(names))
    if len(cameras) == 1:
        return turn.answer(text)
    return _ask_which_camera(turn, cameras, lead_in=text)


def camera_status(turn: Turn) -> Response:
    if not turn.linked:
        return link_account(turn)
    cameras = _cameras(turn)
    slots = getattr(_intent(turn), "slots", None) or {}
    heard = slot_candidates(slots.get(CAMERA_SLOT))
    if not any(heard):
        if not cameras:
            return turn.answer(turn.say("list_cameras_none"))
        if len(cameras) == 1:
            return _camera_status(turn, cameras[0])
        return _ask_which_camera(turn, cameras)
    found = candidates(cameras, heard)
    if len(found) > 1:
        names = turn.strings.names([camera.name for camera in found[:LIST_LIMIT]])
        return _ask_which_camera(turn, cameras, question=turn.say("camera_status_which_of", names=names))
    if not found:
        return turn.answer(
            turn.say("camera_status_unknown_camera"),
            reprompt=turn.say("reprompt"),
            directives=dynamic_entities(cameras, turn.strings.locale),
        )
    return _camera_status(turn, found[0])


def how_to_view(turn: Turn) -> Response:
    example = ""
    if turn.linked:
        try:
            example = next((camera.spoken_name for camera in _cameras(turn) if camera.spoken_name), "")
        except contract.CloudError:
            example = ""  # the generic explanation is just as true
    if example:
        return turn.answer(turn.say("how_to_view", example_name=example))
    return turn.answer(turn.say("how_to_view_generic"))


def privacy_info(turn: Turn) -> Response:
    links = identity.links_of_alexa_user(
        turn.alexa_user_id, turn.token, turn.cloud() if turn.linked else None
    )
    summaries = [access.summary(user_key) for user_key in sorted({ref.user_key for ref in links})]
    stored = [summary for summary in summaries if summary["stored"]]
    if not stored:
        return turn.answer(turn.say("privacy_info_nothing"))
    version = next((s["accepted_policy_version"] for s in stored if s["accepted_policy_version"]), None)
    return turn.answer(
        turn.say(
            "privacy_info",
            links=sum(s["links"] for s in stored),
            endpoints=sum(s["endpoints"] for s in stored),
            grant_state=turn.say(
                "privacy_grant_yes" if any(s["grant"] for s in stored) else "privacy_grant_no"
            ),
            version=version or turn.say("privacy_version_unknown"),
        )
    )


def delete_my_data(turn: Turn) -> Response:
    intent = _intent(turn)
    status = getattr(intent.confirmation_status, "value", intent.confirmation_status)
    if status == "DENIED":
        return turn.answer(turn.say("delete_cancelled"))
    if status != "CONFIRMED":
        # Alexa confirms this intent itself (auto-delegation); if it did not, ask before erasing anything.
        from ask_sdk_model.dialog import ConfirmIntentDirective

        question = turn.say("delete_confirm")
        return turn.answer(
            question,
            reprompt=question,
            directives=[ConfirmIntentDirective(updated_intent=intent)],
            end_session=False,
        )
    links = identity.links_of_alexa_user(
        turn.alexa_user_id, turn.token, turn.cloud() if turn.linked else None
    )
    if not links:
        return turn.answer(turn.say("delete_nothing"))
    sender = delete_report_sender()
    records = erasure.within(
        _erasure_budget(),
        lambda: erasure.erase_links(links, erasure.Trigger.VOICE_DELETE_REQUEST, notify_alexa=sender),
    )
    return _erasure_answer(turn, records)


def _erasure_budget() -> float:
    """Seconds the erasure may take before the answer must go: what the request's deadline has left
    (``skill.voice.dispatch.answer_deadline``: Alexa's 8 s or Lambda's time, less the answer's margin)."""
    return http.time_left(ANSWER_SECONDS - ANSWER_MARGIN_SECONDS)


def _erasure_answer(turn: Turn, records: list[erasure.ErasureRecord] | None) -> Response:
    """Say what the erasure did: all of it, this link only (and what stays for whom), or still running."""
    if records is not None and all(record.scope == "account" for record in records):
        card = _simple_card(turn, "delete_card_title", turn.say("delete_card_text"))
        return turn.answer(turn.say("delete_confirmed"), card=card)
    key = "delete_started" if records is None else "delete_partly"
    others = sum(record.links_staying for record in records or ())
    return turn.answer(
        turn.say(key, others=others),
        card=_simple_card(turn, f"{key}_card_title", turn.say(f"{key}_card_text", others=others)),
    )


def help_(turn: Turn) -> Response:
    return turn.answer(turn.say("help"), reprompt=turn.say("reprompt"))


def fallback(turn: Turn) -> Response:
    return turn.answer(turn.say("fallback"), reprompt=turn.say("reprompt"))


def goodbye(turn: Turn) -> Response:
    return turn.answer(turn.say("goodbye"))


REQUEST_TYPES: dict[str, Handler] = {
    "LaunchRequest": launch,
    "SessionEndedRequest": session_ended,
    # Alexa reports a failed earlier response; it must not be answered with speech.
    "System.ExceptionEncountered": session_ended,
}

INTENTS: dict[str, Handler] = {
    "ListCameras": list_cameras,
    "CameraStatus": camera_status,
    "HowToView": how_to_view,
    "PrivacyInfo": privacy_info,
    "DeleteMyData": delete_my_data,
    "AMAZON.HelpIntent": help_,
    "AMAZON.FallbackIntent": fallback,
    "AMAZON.StopIntent": goodbye,
    "AMAZON.CancelIntent": goodbye,
    "AMAZON.NavigateHomeIntent": goodbye,
}

# An intent this code does not know (a model newer than the code) is answered like the fallback.
UNKNOWN_INTENT: Handler = fallback
