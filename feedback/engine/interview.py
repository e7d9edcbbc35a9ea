"""The interview engine: a pure state machine that runs one survey on any channel.

``start(survey, context)`` and ``resume(survey, state, input)`` return the new
state and a list of events (``QuestionAsked``, ``Reprompt``, ``AnswerAccepted``,
``SurveyCompleted`` ...). Channels feed it typed inputs (keypad digits, speech,
free text, web form values, no-input, hang-up) and render the events. The state
is plain JSON so a phone or SMS webhook can resume it later, and it carries the
survey version it started on.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from feedback.definition.loader import CompiledSurvey
from feedback.definition.model import Question
from feedback.definition.templates import strip_unsafe
from feedback.errors import EngineError, StateMismatch

from . import prompts
from .understanding import (
    Command,
    NeedsConfirmation,
    NotUnderstood,
    Understood,
    understand,
    understand_command,
    understand_yes_no,
)

STATE_FORMAT = 1
Status = Literal["active", "complete", "partial", "abandoned"]


# -- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Digits:
    """Keys pressed on a phone keypad (``*`` asks for a repeat)."""

    digits: str


@dataclass(frozen=True)
class Speech:
    transcript: str
    confidence: float | None = None


@dataclass(frozen=True)
class Text:
    """A free-text reply: an SMS, a chat message, a typed line."""

    text: str


@dataclass(frozen=True)
class FormValues:
    """Values posted by a web form (or an email link), keyed by question id."""

    values: Mapping[str, Any]
    modality: Literal["web", "email"] = "web"


@dataclass(frozen=True)
class Recording:
    """A recorded spoken answer to an open question (IVR ``<Record>``)."""

    url: str
    duration: int | None = None
    transcript: str | None = None


@dataclass(frozen=True)
class NoInput:
    """The respondent said nothing before the timeout."""


@dataclass(frozen=True)
class Back:
    """Go back to the previous question (web)."""


@dataclass(frozen=True)
class HangUp:
    """The respondent left: hung up, closed the conversation, or the session expired."""

    reason: str = "hangup"


Input = Digits | Speech | Text | FormValues | Recording | NoInput | Back | HangUp


# -- events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    def to_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, **asdict(self)}


@dataclass(frozen=True)
class SurveyStarted(Event):
    intro: str


@dataclass(frozen=True)
class QuestionAsked(Event):
    question_id: str
    text: str
    attempt: int = 0
    repeat: bool = False
    choice_order: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Reprompt(Event):
    question_id: str
    reason: str  # no_input | unrecognised | ambiguous | out_of_range | too_long | empty | required | too_few | too_many | not_confirmed
    hint: str
    attempt: int


@dataclass(frozen=True)
class ConfirmationRequested(Event):
    question_id: str
    value: Any
    text: str


@dataclass(frozen=True)
class AnswerAccepted(Event):
    question_id: str
    value: Any
    raw: str
    modality: str
    step: int
    confidence: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QuestionSkipped(Event):
    question_id: str
    reason: str  # condition | skipped | max_attempts


@dataclass(frozen=True)
class SurveyCompleted(Event):
    outro: str


@dataclass(frozen=True)
class SurveyEnded(Event):
    status: str  # partial | abandoned
    reason: str


# -- state -------------------------------------------------------------------------------


@dataclass
class State:
    survey_id: str
    version: str
    channel: str
    locale: str
    seed: int
    context: dict[str, Any] = field(default_factory=dict)
    status: Status = "active"
    current: str | None = None
    attempts: int = 0
    step: int = 0
    answers: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    path: list[str] = field(default_factory=list)
    pending: dict[str, Any] | None = None
    format: int = STATE_FORMAT

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON data: a deep copy that shares nothing with this object."""
        return {name: _copy_json(getattr(self, name)) for name in _STATE_FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, copy: bool = True) -> State:
        """The state in ``data`` (checked; EngineError when it is corrupt). The state shares
        nothing with ``data`` unless ``copy`` is false."""
        if not isinstance(data, Mapping):
            raise EngineError("interview state must be an object")
        take = _copy_json if copy else (lambda v: v)
        try:
            state = cls(**{k: take(data[k]) for k in cls.__dataclass_fields__ if k in data})
        except TypeError as e:
            raise EngineError(f"interview state is incomplete: {e}") from None
        if state.format != STATE_FORMAT:
            raise EngineError(f"unknown interview state format {state.format}")
        if state.status not in ("active", "complete", "partial", "abandoned"):
            raise EngineError(f"unknown interview status {state.status!r}")
        for name, kind in _STATE_TYPES.items():
            value = getattr(state, name)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise EngineError(f"interview state field '{name}' has the wrong type")
        if not all(isinstance(x, str) for x in state.skipped + state.path):
            raise EngineError("interview state lists question ids that are not text")
        if state.pending is not None and "value" not in state.pending:
            raise EngineError("interview state has a pending confirmation without a value")
        return state

    @property
    def finished(self) -> bool:
        return self.status != "active"

    def scope(self) -> dict[str, Any]:
        ctx = self.context or {}
        return {
            "answers": dict(self.answers),
            "contact": dict(ctx.get("contact") or {}),
            "event": dict(ctx.get("event") or {}),
            "channel": self.channel,
            "locale": self.locale,
        }


_STATE_FIELDS = tuple(State.__dataclass_fields__)


def _copy_json(value: Any) -> Any:
    """A deep copy of JSON data (much faster than copy.deepcopy / dataclasses.asdict)."""
    if isinstance(value, dict):
        return {k: v if type(v) in _SCALARS else _copy_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [v if type(v) in _SCALARS else _copy_json(v) for v in value]
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})


_STATE_TYPES: dict[str, type | tuple[type, ...]] = {
    "survey_id": str,
    "version": str,
    "channel": str,
    "locale": str,
    "seed": int,
    "context": dict,
    "current": (str, type(None)),
    "attempts": int,
    "step": int,
    "answers": dict,
    "skipped": list,
    "path": list,
    "pending": (dict, type(None)),
}


def choice_order(state: State, q: Question) -> list[str]:
    """The order choices are shown in: the survey's, or shuffled stably within one session."""
    codes = q.choice_codes
    if q.randomize and codes:
        rng = random.Random(f"{state.seed}:{q.id}")
        rng.shuffle(codes)
    return codes


# -- the engine --------------------------------------------------------------------------


class Interview:
    """Runs one compiled survey. Stateless: every call takes and returns a State."""

    def __init__(self, survey: CompiledSurvey) -> None:
        self.cs = survey
        self.survey = survey.survey
        self._index = {q.id: i for i, q in enumerate(self.survey.questions)}

    # public API -----------------------------------------------------------------------
    def start(
        self,
        context: Mapping[str, Any] | None = None,
        *,
        channel: str = "web",
        locale: str | None = None,
        seed: int | None = None,
    ) -> tuple[State, list[Event]]:
        ctx = _clean_context(context)
        wanted = locale or (ctx.get("contact") or {}).get("locale")
        state = State(
            survey_id=self.survey.id,
            version=self.survey.version,
            channel=channel,
            locale=self.survey.pick_locale(wanted if isinstance(wanted, str) else None),
            seed=seed if seed is not None else random.SystemRandom().randrange(2**31),
            context=ctx,
        )
        events: list[Event] = []
        intro = self.survey.intro
        if intro is not None:
            text = prompts.render_text(self.survey, self.survey.text(intro, state.locale), state.locale, state.scope())
            events.append(SurveyStarted(text))
        else:
            events.append(SurveyStarted(""))
        self._advance(state, events, after=None)
        return state, events

    def resume(self, state: State | Mapping[str, Any], inp: Input) -> tuple[State, list[Event]]:
        # Work on a copy: the caller's state (object or JSON data) is never changed.
        st = State.from_dict(state.to_dict(), copy=False) if isinstance(state, State) else State.from_dict(state)
        if st.survey_id != self.survey.id or st.version != self.survey.version:
            raise StateMismatch(
                f"this interview belongs to {st.survey_id}@{st.version}, not "
                f"{self.survey.id}@{self.survey.version}"
            )
        if st.finished:
            raise EngineError("this interview has already ended")
        if st.current is None or st.current not in self._index:
            raise EngineError("the interview state has no current question")
        events: list[Event] = []
        st.step += 1
        if isinstance(inp, HangUp):
            self._end(st, events, reason=inp.reason)
        elif isinstance(inp, Back):
            self._back(st, events)
        elif isinstance(inp, FormValues):
            self._form(st, inp, events)
        else:
            self._one(st, inp, events)
        return st, events

    def ask_again(self, state: State) -> list[Event]:
        """The events that put the current question again (e.g. a respondent comes back)."""
        if state.finished or state.current is None:
            return []
        q = self.question(state.current)
        if state.pending is not None:
            return [self._confirmation(state, q, state.pending["value"])]
        return [self._asked(state, q, attempt=state.attempts, repeat=True)]

    def question(self, qid: str) -> Question:
        index = self._index.get(qid)
        if index is None:
            raise KeyError(qid)
        return self.survey.questions[index]

    def progress(self, state: State) -> tuple[int, int]:
        """(questions behind, questions in the survey) for a progress bar."""
        total = len(self.survey.questions)
        if state.status == "complete":
            return total, total
        if state.current is None:
            return 0, total
        return self._index[state.current], total

    # steps ------------------------------------------------------------------------------
    def _one(self, st: State, inp: Input, events: list[Event]) -> None:
        q = self.question(st.current or "")
        if isinstance(inp, NoInput):
            st.pending = None  # an unanswered "did you say 8?" is not a yes
            self._failed(st, q, "no_input", events)
            return
        raw, modality, confidence = _raw_of(inp)
        if st.pending is not None:
            if not isinstance(inp, Recording):
                self._confirm(st, q, raw, modality, events)
                return
            st.pending = None
        if isinstance(inp, Recording):
            if q.type != "text":
                self._failed(st, q, "unrecognised", events)
                return
            extra = {"recording_url": inp.url, "recording_duration": inp.duration}
            transcript = strip_unsafe(inp.transcript or "") if isinstance(inp.transcript, str) else ""
            self._accept(st, q, transcript, inp.url, "speech", None, events, extra)
            return
        result = understand(
            q,
            raw,
            modality=modality,  # type: ignore[arg-type]
            locale=st.locale,
            default_locale=self.survey.default_locale,
            choice_order=choice_order(st, q),
            confidence=confidence,
            min_confidence=self.survey.ivr.min_confidence,
        )
        self._apply(st, q, result, raw, modality, confidence, events)

    def _apply(
        self,
        st: State,
        q: Question,
        result: Any,
        raw: str,
        modality: str,
        confidence: float | None,
        events: list[Event],
    ) -> None:
        if isinstance(result, Understood):
            self._accept(st, q, result.value, raw, modality, confidence, events)
        elif isinstance(result, Command):
            if result.name == "repeat":
                events.append(self._asked(st, q, attempt=st.attempts, repeat=True))
            elif result.name == "skip":
                if q.required:
                    self._failed(st, q, "required", events)
                else:
                    self._skip(st, q, "skipped", events)
            else:
                self._back(st, events)
        elif isinstance(result, NeedsConfirmation):
            st.pending = {"value": result.value, "raw": raw, "modality": modality, "confidence": confidence}
            events.append(self._confirmation(st, q, result.value))
        elif isinstance(result, NotUnderstood):
            self._failed(st, q, result.reason, events)
        else:  # pragma: no cover - understanding returns one of the four
            raise EngineError(f"unexpected understanding result {result!r}")

    def _confirm(self, st: State, q: Question, raw: str, modality: str, events: list[Event]) -> None:
        pending = st.pending or {}
        said = raw.strip()
        if modality == "keypad":
            keys = said.rstrip("#")
            if keys == "*":
                events.append(self._confirmation(st, q, pending.get("value")))
                return
            yes = True if keys == "1" else False if keys == "2" else None
        else:
            command = understand_command(said)
            if command == "repeat":
                events.append(self._confirmation(st, q, pending.get("value")))
                return
            yes = understand_yes_no(said, st.locale)
        if yes is True:
            st.pending = None
            self._accept(
                st, q, pending.get("value"), pending.get("raw", ""), pending.get("modality", modality),
                pending.get("confidence"), events,
            )
        elif yes is False:
            st.pending = None
            self._failed(st, q, "not_confirmed", events)
        else:
            # Not a yes or a no: maybe the caller simply answered again.
            st.pending = None
            result = understand(
                q, raw, modality=modality, locale=st.locale,  # type: ignore[arg-type]
                default_locale=self.survey.default_locale, choice_order=choice_order(st, q),
            )
            if isinstance(result, Understood):
                self._accept(st, q, result.value, raw, modality, None, events)
            else:
                self._failed(st, q, "not_confirmed", events)

    def _form(self, st: State, inp: FormValues, events: list[Event]) -> None:
        """Web forms: answer the current question, and following ones present in the form."""
        if not isinstance(inp.values, Mapping):
            raise EngineError("form values must be a mapping of question id to value")
        while st.status == "active" and st.current is not None:
            q = self.question(st.current)
            if q.id not in inp.values:
                if not events:
                    self._failed(st, q, "required" if q.required else "empty", events)
                return
            value = inp.values[q.id]
            empty = value is None or value == "" or value == [] or (isinstance(value, str) and not value.strip())
            if empty:
                if q.required:
                    self._failed(st, q, "required", events)
                    return
                self._skip(st, q, "skipped", events)
                continue
            result = understand(
                q, value, modality=inp.modality, locale=st.locale,
                default_locale=self.survey.default_locale, choice_order=choice_order(st, q),
            )
            if isinstance(result, Command) and result.name != "skip":
                result = NotUnderstood("unrecognised")
            raw = strip_unsafe(",".join(map(str, value)) if isinstance(value, list | tuple) else str(value))
            before = len(events)
            self._apply(st, q, result, raw, inp.modality, None, events)
            if any(isinstance(e, Reprompt) for e in events[before:]):
                return

    def _accept(
        self,
        st: State,
        q: Question,
        value: Any,
        raw: str,
        modality: str,
        confidence: float | None,
        events: list[Event],
        extra: dict[str, Any] | None = None,
    ) -> None:
        st.answers[q.id] = value
        if q.id in st.skipped:
            st.skipped.remove(q.id)
        if q.id not in st.path:
            st.path.append(q.id)
        events.append(AnswerAccepted(q.id, value, raw, modality, st.step, confidence, extra or {}))
        self._advance(st, events, after=q.id)

    def _skip(self, st: State, q: Question, reason: str, events: list[Event]) -> None:
        st.answers.pop(q.id, None)
        if q.id not in st.skipped:
            st.skipped.append(q.id)
        if reason != "condition" and q.id not in st.path:
            st.path.append(q.id)
        events.append(QuestionSkipped(q.id, reason))
        self._advance(st, events, after=q.id)

    def _failed(self, st: State, q: Question, reason: str, events: list[Event]) -> None:
        st.attempts += 1
        limited = st.channel not in ("web", "email")
        if limited and st.attempts > q.max_attempts_for(st.channel):
            if q.required:
                st.status = "partial" if st.answers else "abandoned"
                st.current = None
                events.append(SurveyEnded(st.status, "max_attempts"))
            else:
                self._skip(st, q, "max_attempts", events)
            return
        events.append(
            Reprompt(q.id, reason, prompts.hint(self.survey, q, reason, st.channel, st.locale), st.attempts)
        )

    def _back(self, st: State, events: list[Event]) -> None:
        st.pending = None
        st.attempts = 0
        current = st.current
        if not st.path:
            q = self.question(current or "")
            events.append(self._asked(st, q, attempt=0, repeat=True))
            return
        prev = st.path.pop()
        st.current = prev
        events.append(self._asked(st, self.question(prev), attempt=0))

    def _end(self, st: State, events: list[Event], reason: str) -> None:
        st.status = "partial" if st.answers else "abandoned"
        st.current = None
        st.pending = None
        events.append(SurveyEnded(st.status, reason))

    def _advance(self, st: State, events: list[Event], after: str | None) -> None:
        st.attempts = 0
        st.pending = None
        questions = self.survey.questions
        start = 0 if after is None else self._index[after] + 1
        # Questions already answered after a "back" keep their answers only while they
        # are still shown; the next unanswered (or re-shown) question is asked.
        for q in questions[start:]:
            cond = self.cs.condition(q.id)
            if cond is not None and not cond.test(st.scope()):
                st.answers.pop(q.id, None)
                if q.id not in st.skipped:
                    st.skipped.append(q.id)
                if q.id in st.path:
                    st.path.remove(q.id)
                events.append(QuestionSkipped(q.id, "condition"))
                continue
            if q.id in st.path:
                # Answered before the respondent went back: keep it, but let them see it
                # again only if they go back further. Move on.
                continue
            st.current = q.id
            events.append(self._asked(st, q, attempt=0))
            return
        st.current = None
        st.status = "complete"
        outro = self.survey.outro
        text = (
            prompts.render_text(self.survey, self.survey.text(outro, st.locale), st.locale, st.scope())
            if outro is not None
            else ""
        )
        events.append(SurveyCompleted(text))

    def _asked(self, st: State, q: Question, *, attempt: int, repeat: bool = False) -> QuestionAsked:
        text = prompts.question_text(self.survey, q, st.channel, st.locale, st.scope())
        return QuestionAsked(q.id, text, attempt, repeat, choice_order(st, q) if q.choices else [])

    def _confirmation(self, st: State, q: Question, value: Any) -> ConfirmationRequested:
        return ConfirmationRequested(q.id, value, prompts.confirmation(self.survey, q, value, st.locale))


def _raw_of(inp: Input) -> tuple[str, str, float | None]:
    if isinstance(inp, Digits):
        raw, modality, confidence = inp.digits, "keypad", None
    elif isinstance(inp, Speech):
        raw, modality, confidence = inp.transcript, "speech", inp.confidence
        if confidence is not None and (
            isinstance(confidence, bool) or not isinstance(confidence, int | float)
        ):
            raise EngineError("speech confidence must be a number from 0 to 1")
    elif isinstance(inp, Text):
        raw, modality, confidence = inp.text, "text", None
    elif isinstance(inp, Recording):
        raw, modality, confidence = inp.url, "speech", None
    else:
        raise EngineError(f"unsupported input {type(inp).__name__}")
    if not isinstance(raw, str):
        raise EngineError(f"{type(inp).__name__} input must carry text")
    # Control characters, NUL and lone surrogates are no part of an answer, and no channel
    # document or database column can hold them.
    return strip_unsafe(raw), modality, confidence


def _clean_context(context: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{"contact": {...}, "event": {...}}`` as plain JSON data (it is kept in the state)."""
    if context is None:
        return {"contact": {}, "event": {}}
    if not isinstance(context, Mapping):
        raise EngineError("context must be an object with 'contact' and 'event'")
    out: dict[str, Any] = {}
    for key in ("contact", "event"):
        part = context.get(key) or {}
        if not isinstance(part, Mapping):
            raise EngineError(f"context.{key} must be an object")
        out[key] = _json_data(dict(part), f"context.{key}")
    return out


def _json_data(value: Any, where: str, depth: int = 0) -> Any:
    """``value`` as JSON data (str keys; str, number, bool, null, list, object)."""
    if depth > 20:
        raise EngineError(f"{where} is nested too deeply")
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise EngineError(f"{where} holds a number JSON cannot represent")
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_data(v, f"{where}.{k}", depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_data(v, where, depth + 1) for v in value]
    raise EngineError(f"{where} holds a {type(value).__name__}, which is not JSON data")


def start(
    survey: CompiledSurvey,
    context: Mapping[str, Any] | None = None,
    *,
    channel: str = "web",
    locale: str | None = None,
    seed: int | None = None,
) -> tuple[State, list[Event]]:
    return Interview(survey).start(context, channel=channel, locale=locale, seed=seed)


def resume(survey: CompiledSurvey, state: State | Mapping[str, Any], inp: Input) -> tuple[State, list[Event]]:
    return Interview(survey).resume(state, inp)
