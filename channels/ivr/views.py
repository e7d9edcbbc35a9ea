"""Twilio Voice webhooks: the phone survey.

* ``POST /ivr/voice``: a call starts. Inbound, the survey is the one whose YAML lists the
  called number (``ivr.numbers``), or ``?survey=<id>``; outbound, ``?attempt=<id>`` names
  the call attempt. The caller becomes a contact by ``From``. The language is the
  contact's, else the number's, else the caller picks it from a short menu.
* ``POST /ivr/language``: the caller's choice in that menu.
* ``POST /ivr/answer/<session>?step=&attempt=``: a ``<Gather>`` or ``<Record>`` action
  (also reached through the no-input ``<Redirect>`` with ``&noinput=1``).
* ``POST /ivr/transcription/<session>/<question>``: Twilio's transcription of a recording.
* ``POST /ivr/status``: call status callbacks (``?attempt=<id>`` for outbound calls).

Every webhook checks ``X-Twilio-Signature`` (403, nothing stored, when forged) and never
answers with a 500: an error becomes a short apology in the caller's language and a
hang-up. Each answer is stored when its webhook arrives; a repeated webhook stores nothing
again and gets the same TwiML.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from typing import Any

from babel import Locale, UnknownLocaleError
from flask import Blueprint, current_app, g, request
from twilio.twiml.voice_response import VoiceResponse

from channels.telephony import context_part, public_url, twilio_webhook
from feedback.definition.model import Survey
from feedback.engine import interview as eng
from feedback.engine.prompts import render_text
from feedback.engine.render import spoken
from feedback.errors import FeedbackError, NotFound
from feedback.i18n import N_, babel_locale, tr
from feedback.store import calls
from feedback.store import operations as ops
from feedback.store.models import CallAttempt, Contact, db

from . import outbound, twiml
from .voices import Voice, VoicesError, parse_voices, voice_for

log = logging.getLogger(__name__)
bp = Blueprint("ivr", __name__, url_prefix="/ivr")

#: Tries at the language menu before the survey's default language is used.
MENU_ATTEMPTS = 2
#: A no-input redirect with an attempt number beyond this ends the call whatever happens.
HARD_ATTEMPT_LIMIT = 12
MAX_DIGITS = 32
MAX_SPEECH = 2000

APOLOGY = N_("Sorry, something went wrong on our side. Please try again later. Goodbye.")
NOT_SET_UP = N_("Sorry, this number is not taking surveys at the moment. Goodbye.")
MACHINE_MESSAGE = N_("Hello, we called to ask a few quick questions about your recent experience. Thank you, and goodbye.")


# -- helpers ----------------------------------------------------------------------------------


@bp.record_once
def _check_voices(state: Any) -> None:
    """``IVR_VOICES`` is read once, when the app starts: a wrong table stops the start with
    a message naming the entry, rather than failing calls later."""
    state.app.extensions["ivr_voices"] = parse_voices(state.app.config.get("IVR_VOICES"))


def voices() -> dict[str, Voice]:
    table = current_app.extensions.get("ivr_voices")
    if table is None:  # configuration changed after the start (tests): read it again
        table = parse_voices(current_app.config.get("IVR_VOICES"))
        current_app.extensions["ivr_voices"] = table
    return table


def voice(locale: str | None) -> Voice:
    return voice_for(locale or "en", voices())


def _caller_locale() -> str:
    """The caller's language as far as it is known (for an apology after an error)."""
    known = getattr(g, "ivr_locale", None)
    if known:
        return known
    try:
        from sqlalchemy import select

        from feedback.store.models import Session

        session_id = (request.view_args or {}).get("session_id")
        if session_id:
            found = db.session.scalar(select(Session.locale).where(Session.id == str(session_id)[:64]))
            if found:
                return found
        call_sid = _text(request.form.get("CallSid"), 64)
        if call_sid:
            attempt = calls.find_attempt(call_sid=call_sid)
            if attempt is not None and attempt.locale:
                return attempt.locale
    except Exception:  # noqa: BLE001 - the store may be what failed
        db.session.rollback()
    return "en"


def _apology(message: str = APOLOGY) -> Any:
    loc = _caller_locale()
    try:
        spoken = voice(loc)
    except VoicesError:  # the apology is said in the built-in voice, never an HTML error
        spoken = voice_for(loc)
    return twiml.xml_response(twiml.say_and_hang_up(tr(loc, message), spoken))


def safe_twiml(view: Callable[..., Any]) -> Callable[..., Any]:
    """Twilio never sees a 500: an error becomes an apology in the caller's language."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except FeedbackError as e:
            db.session.rollback()
            log.warning("IVR webhook %s refused: %s", request.path, e.message)
            return _apology()
        except Exception:  # noqa: BLE001 - logged; the caller hears an apology
            db.session.rollback()
            log.exception("error in the IVR webhook %s", request.path)
            return _apology()

    return wrapped


def safe_callback(view: Callable[..., Any]) -> Callable[..., Any]:
    """Status and transcription callbacks: errors are logged and answered with empty TwiML."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except FeedbackError as e:
            db.session.rollback()
            log.warning("IVR callback %s refused: %s", request.path, e.message)
        except Exception:  # noqa: BLE001
            db.session.rollback()
            log.exception("error in the IVR callback %s", request.path)
        return twiml.xml_response(twiml.empty())

    return wrapped


def _text(value: Any, limit: int = 200) -> str:
    return str(value or "").strip()[:limit]


def _int(value: Any, default: int | None = None) -> int | None:
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return default
    return n if -(2**31) < n < 2**31 else default


def _confidence(value: Any) -> float | None:
    try:
        c = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    if math.isnan(c) or not 0.0 <= c <= 1.0:
        return None
    return c


@functools.lru_cache(maxsize=64)
def language_name(locale: str) -> str:
    """The name of a language in that language: English, 中文."""
    try:
        loc = Locale.parse(babel_locale(locale))
        name = loc.get_language_name(loc) or locale
    except (UnknownLocaleError, ValueError):
        return locale
    return name[:1].upper() + name[1:]


def _supports(survey: Survey, locale: str | None) -> bool:
    if not locale:
        return False
    base = locale.replace("_", "-").split("-")[0].lower()
    return any(loc.split("-")[0].lower() == base for loc in survey.all_locales)


def choose_locale(survey: Survey, *candidates: str | None) -> str | None:
    """The first candidate the survey speaks; else the default when it speaks one language
    (or has no menu); else None: ask the caller."""
    for cand in candidates:
        if _supports(survey, cand):
            return survey.pick_locale(cand)
    if len(survey.all_locales) > 1 and survey.ivr.language_menu:
        return None
    return survey.default_locale


# -- rendering a session ------------------------------------------------------------------------


def _attempt_of(events: list[eng.Event]) -> int:
    for ev in reversed(events):
        if isinstance(ev, eng.Reprompt | eng.QuestionAsked):
            return int(ev.attempt)
    return 0


def render_session(session_id: str, state: eng.State, events: list[eng.Event], step: int, version_id: int) -> Any:
    """TwiML for what the engine said, with the next actions at ``step``."""
    it = ops.interview_for(version_id)
    g.ivr_locale = state.locale
    if not events and not state.finished:
        events = it.ask_again(state)
    turns = spoken(it, state, events)
    asks = [t for t in turns if t.gather or t.record]
    actions = None
    if asks and not state.finished:
        attempt = _attempt_of(events)
        question = asks[-1].question_id
        actions = twiml.Actions(
            answer=public_url("ivr.answer", session_id=session_id, step=step, attempt=attempt),
            no_input=public_url("ivr.answer", session_id=session_id, step=step, attempt=attempt, noinput=1),
            transcription=(
                public_url("ivr.transcription", session_id=session_id, question_id=question)
                if asks[-1].record and question else None
            ),
        )
    transcribe = state.locale.lower().startswith("en")
    return twiml.xml_response(twiml.render_turns(turns, voice(state.locale), actions, transcribe=transcribe))


def _render_started(turn: calls.CallTurn) -> Any:
    events = turn.events
    if turn.duplicate:
        events = _replay_events(turn.version_id, turn.state)
    return render_session(turn.session_id, turn.state, events, turn.step, turn.version_id)


def _replay(session_id: str) -> Any:
    return _render_started(calls.CallTurn.of(ops.get_session(session_id), [], duplicate=True))


def _replay_events(version_id: int, state: eng.State) -> list[eng.Event]:
    """What a repeated voice webhook hears: the start again (intro and the first question)
    while nothing was answered, else the current question."""
    if state.finished:
        return []
    it = ops.interview_for(version_id)
    events: list[eng.Event] = []
    if state.step == 0 and it.survey.intro is not None:
        survey = it.survey
        events.append(eng.SurveyStarted(render_text(survey, survey.text(survey.intro, state.locale),
                                                     state.locale, state.scope())))
    return events + it.ask_again(state)


# -- starting a call ----------------------------------------------------------------------------


def _survey_for_call() -> tuple[str | None, int | None, str | None]:
    """(survey id, its version id when known, the called number's locale) for an inbound call."""
    wanted = _text(request.args.get("survey"), 64)
    if wanted:
        return wanted, None, None
    to = _text(request.form.get("To"), 64)
    if not to:
        return None, None, None
    try:
        number = ops.normalize_phone(to)
    except FeedbackError:
        number = to
    found = calls.ivr_numbers().get(number)
    return found if found else (None, None, None)


def _version(attempt: CallAttempt) -> int:
    pinned = calls.pinned_version(attempt)
    if pinned is not None:
        return pinned
    version, _ = ops.current_version(attempt.survey_id)
    return version.id


def _start_or_menu(attempt: CallAttempt, version_id: int, number_locale: str | None) -> Any:
    survey = ops.compiled_version(version_id).survey
    contact = db.session.get(Contact, attempt.contact_id) if attempt.contact_id else None
    ctx_locale = context_part(attempt.context, "contact").get("locale")
    locale = choose_locale(
        survey,
        attempt.locale,
        contact.locale if contact else None,
        ctx_locale if isinstance(ctx_locale, str) else None,
        number_locale,
    )
    if locale is None:
        return _menu(attempt, survey, 0)
    g.ivr_locale = locale
    turn = calls.start_call_session(attempt, version_id=version_id, locale=locale)
    return _render_started(turn)


def _menu(attempt: CallAttempt, survey: Survey, tries: int) -> Any:
    g.ivr_locale = survey.default_locale
    options = [
        (tr(loc, "For %(language)s, press %(n)d.", language=language_name(loc), n=n), voice(loc))
        for n, loc in enumerate(survey.all_locales[:9], start=1)
    ]
    action = public_url("ivr.language", call=attempt.id, attempt=tries)
    no_input = public_url("ivr.language", call=attempt.id, attempt=tries, noinput=1)
    return twiml.xml_response(twiml.language_menu(options, action, no_input, timeout=survey.ivr.timeout))


def _machine_answered(attempt: CallAttempt, survey: Survey) -> Any:
    contact = db.session.get(Contact, attempt.contact_id) if attempt.contact_id else None
    locale = choose_locale(survey, attempt.locale, contact.locale if contact else None) or survey.default_locale
    g.ivr_locale = locale
    if survey.ivr.on_machine != "message":
        log.info("call attempt %s reached an answering machine; hanging up", attempt.id)
        vr = VoiceResponse()
        vr.hangup()
        return twiml.xml_response(vr)
    source = survey.text(survey.ivr.machine_message, locale) if survey.ivr.machine_message else ""
    scope = {
        "contact": {**(contact.as_context() if contact else {}), **context_part(attempt.context, "contact")},
        "event": context_part(attempt.context, "event"), "answers": {}, "channel": "ivr", "locale": locale,
    }
    text = render_text(survey, source, locale, scope) if source else tr(locale, MACHINE_MESSAGE)
    log.info("call attempt %s reached an answering machine; leaving the survey's message", attempt.id)
    return twiml.xml_response(twiml.say_and_hang_up(text, voice(locale)))


@bp.post("/voice")
@twilio_webhook
@safe_twiml
def voice_webhook() -> Any:
    form = request.form
    call_sid = _text(form.get("CallSid"), 64)
    if not call_sid:
        return _apology()
    attempt_id = _int(request.args.get("attempt"))
    number_locale: str | None = None
    if attempt_id is not None:
        attempt = calls.find_attempt(attempt_id=attempt_id, call_sid=call_sid)
        if attempt is None or attempt.direction != "outbound":
            log.warning("voice webhook for unknown call attempt %s (CallSid %s)", attempt_id, call_sid)
            return _apology()
        g.ivr_locale = attempt.locale
        if attempt.session_id:
            return _replay(attempt.session_id)
        version_id = _version(attempt)
        answered_by = _text(form.get("AnsweredBy"), 32) or None
        calls.answer_outbound_call(attempt, call_sid=call_sid, answered_by=answered_by, version_id=version_id)
        if calls.is_machine(answered_by):
            return _machine_answered(attempt, ops.compiled_version(version_id).survey)
    else:
        attempt = calls.find_attempt(call_sid=call_sid) if calls.call_recorded(call_sid) else None
        if attempt is None:
            return _new_inbound_call(call_sid)
        if attempt.session_id:
            return _replay(attempt.session_id)
        number_locale = (attempt.meta or {}).get("number_locale")
        version_id = _version(attempt)
    return _start_or_menu(attempt, version_id, number_locale)


def _new_inbound_call(call_sid: str) -> Any:
    """The first webhook of an inbound call: record it, and start the survey at once
    unless the caller must pick a language."""
    form = request.form
    survey_id, version_id, number_locale = _survey_for_call()
    if not survey_id:
        log.warning("inbound call %s to %s: no survey uses this number", call_sid, form.get("To"))
        return _apology(NOT_SET_UP)
    if version_id is None:
        try:
            version, compiled = ops.current_version(survey_id)
        except NotFound:
            log.warning("inbound call %s asked for unknown survey %r", call_sid, survey_id)
            return _apology(NOT_SET_UP)
        version_id = version.id
    survey = ops.compiled_version(version_id).survey
    g.ivr_locale = number_locale or survey.default_locale
    if "ivr" not in survey.channels:
        log.warning("inbound call %s: survey %s is not offered on the phone", call_sid, survey_id)
        return _apology(NOT_SET_UP)

    def pick(contact: Contact | None) -> str | None:
        return choose_locale(survey, contact.locale if contact else None, number_locale)

    attempt, turn = calls.start_inbound_call(
        call_sid=call_sid, survey_id=survey_id, version_id=version_id,
        from_number=_text(form.get("From"), 64) or None, to_number=_text(form.get("To"), 64) or None,
        number_locale=number_locale, pick_locale=pick,
    )
    if turn is not None:
        return _render_started(turn)
    if attempt is None:  # stored just now by the same webhook's twin
        attempt = calls.find_attempt(call_sid=call_sid)
        if attempt is None:
            return _apology()
        if attempt.session_id:
            return _replay(attempt.session_id)
    return _menu(attempt, survey, 0)


@bp.post("/language")
@twilio_webhook
@safe_twiml
def language() -> Any:
    form = request.form
    call_sid = _text(form.get("CallSid"), 64)
    attempt = calls.find_attempt(attempt_id=_int(request.args.get("call")), call_sid=call_sid or None)
    if attempt is None or not call_sid or attempt.call_sid != call_sid:
        return _apology()
    if attempt.session_id:
        return _replay(attempt.session_id)
    version_id = _version(attempt)
    survey = ops.compiled_version(version_id).survey
    g.ivr_locale = survey.default_locale
    tries = max(0, _int(request.args.get("attempt"), 0) or 0)
    digits = _text(form.get("Digits"), MAX_DIGITS).rstrip("#")
    locales = survey.all_locales[:9]
    chosen: str | None = None
    if not request.args.get("noinput") and digits.isdigit() and 1 <= int(digits) <= len(locales):
        chosen = locales[int(digits) - 1]
    if chosen is None:
        if digits == "*" and tries < HARD_ATTEMPT_LIMIT:
            return _menu(attempt, survey, tries)
        if tries + 1 < MENU_ATTEMPTS:
            return _menu(attempt, survey, tries + 1)
        chosen = survey.default_locale
        remember = False
    else:
        remember = True
    g.ivr_locale = chosen
    turn = calls.start_call_session(attempt, version_id=version_id, locale=chosen, remember_locale=remember)
    return _render_started(turn)


# -- answers ------------------------------------------------------------------------------------


def _caller_input(form: Any, no_input: bool) -> eng.Input:
    if no_input:
        return eng.NoInput()
    recording = _text(form.get("RecordingUrl"), 1000)
    if recording:
        duration = _int(form.get("RecordingDuration"))
        if duration is not None and duration <= 0:
            return eng.NoInput()
        return eng.Recording(recording, duration=duration)
    digits = _text(form.get("Digits"), MAX_DIGITS)
    if digits and digits.lower() != "hangup":
        return eng.Digits(digits)
    speech = _text(form.get("SpeechResult"), MAX_SPEECH)
    if speech:
        return eng.Speech(speech, _confidence(form.get("Confidence")))
    return eng.NoInput()


@bp.post("/answer/<session_id>")
@twilio_webhook
@safe_twiml
def answer(session_id: str) -> Any:
    form = request.form
    step = _int(request.args.get("step"))
    if step is None or step < 0 or len(session_id) > 64:
        return _apology()
    no_input = bool(request.args.get("noinput"))
    inp = _caller_input(form, no_input)
    tries = _int(request.args.get("attempt"), 0) or 0
    call_sid = _text(form.get("CallSid"), 64) or None
    if no_input and tries > HARD_ATTEMPT_LIMIT:
        inp = eng.HangUp("max_attempts")
    turn = calls.apply_call_input(session_id, inp, step=step, call_sid=call_sid)
    g.ivr_locale = turn.state.locale
    # A repeated request gets the reply of the first time, with that time's next step.
    next_step = step + 1 if turn.duplicate and turn.events else turn.step
    return render_session(turn.session_id, turn.state, turn.events, next_step, turn.version_id)


@bp.post("/transcription/<session_id>/<question_id>")
@twilio_webhook
@safe_callback
def transcription(session_id: str, question_id: str) -> Any:
    form = request.form
    calls.record_transcription(
        session_id[:64],
        question_id[:64],
        call_sid=_text(form.get("CallSid"), 64) or None,
        text=_text(form.get("TranscriptionText"), 20000),
        status=_text(form.get("TranscriptionStatus"), 32).lower() or "completed",
        recording_url=_text(form.get("RecordingUrl"), 1000) or None,
    )
    return twiml.xml_response(twiml.empty())


@bp.post("/status")
@twilio_webhook
@safe_callback
def status() -> Any:
    form = request.form
    call_sid = _text(form.get("CallSid"), 64) or None
    attempt_id = _int(request.args.get("attempt"))
    call_status = _text(form.get("CallStatus"), 32).lower()
    if not call_status or (call_sid is None and attempt_id is None):
        return twiml.xml_response(twiml.empty())
    duration = _int(form.get("CallDuration"))
    code = _text(form.get("ErrorCode"), 16)
    message = _text(form.get("ErrorMessage"), 500)
    error = f"Twilio error {code}: {message}".strip().rstrip(":") if code else None
    calls.record_call_status(
        call_sid=call_sid,
        status=call_status,
        attempt_id=attempt_id,
        duration=duration if duration is not None and duration >= 0 else None,
        answered_by=_text(form.get("AnsweredBy"), 32) or None,
        error=error,
        plan_retry=outbound.plan_retry,
    )
    return twiml.xml_response(twiml.empty())
