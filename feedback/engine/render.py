"""Turn engine events into what a channel sends: text messages or spoken turns.

The SMS and chat channels and ``feedback simulate`` share :func:`messages`; the
IVR channel and the simulator share :func:`spoken` (the channel turns it into
TwiML). Keeping this in one place is what makes the simulator show exactly what
the real channel would say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from feedback.definition.fit import ivr_input
from feedback.definition.segments import count_segments
from feedback.i18n import tr

from . import prompts
from .interview import (
    ConfirmationRequested,
    Event,
    Interview,
    QuestionAsked,
    Reprompt,
    State,
    SurveyCompleted,
    SurveyEnded,
    SurveyStarted,
)


@dataclass
class Message:
    text: str
    question_id: str | None = None
    quick_replies: list[dict[str, str]] = field(default_factory=list)
    kind: str = "text"  # intro | question | reprompt | confirm | outro | end
    segments: int = 1
    encoding: str = "GSM-7"

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "kind": self.kind,
            "question_id": self.question_id,
            "quick_replies": self.quick_replies,
            "segments": self.segments,
            "encoding": self.encoding,
        }


def messages(interview: Interview, state: State, events: list[Event], channel: str) -> list[Message]:
    """Messages for SMS or chat. On SMS the intro rides with the first question."""
    survey = interview.survey
    loc = state.locale
    out: list[Message] = []
    pending_intro = ""
    for ev in events:
        if isinstance(ev, SurveyStarted):
            if ev.intro:
                if channel == "sms":
                    pending_intro = ev.intro
                else:
                    out.append(Message(ev.intro, kind="intro"))
        elif isinstance(ev, QuestionAsked):
            q = interview.question(ev.question_id)
            if channel == "sms":
                text = prompts.sms_question_text(survey, q, loc, state.scope(), ev.choice_order)
                replies: list[dict[str, str]] = []
            else:
                text = prompts.question_text(survey, q, channel, loc, state.scope())
                extra = prompts.chat_instructions(survey, q, loc)
                if extra:
                    text = f"{text}\n{extra}"
                replies = [
                    {"label": r.label, "value": r.value}
                    for r in prompts.quick_replies(survey, q, loc, ev.choice_order)
                ]
                if not q.required:
                    replies.append({"label": tr(loc, "Skip"), "value": "skip"})
            if pending_intro:
                text = f"{pending_intro}\n{text}"
                pending_intro = ""
            out.append(Message(text, q.id, replies, kind="question"))
        elif isinstance(ev, Reprompt):
            out.append(Message(ev.hint, ev.question_id, kind="reprompt"))
        elif isinstance(ev, ConfirmationRequested):
            text = prompts.text_confirmation(survey, interview.question(ev.question_id), ev.value, loc)
            replies = [{"label": tr(loc, "Yes"), "value": "yes"}, {"label": tr(loc, "No"), "value": "no"}]
            out.append(Message(text, ev.question_id, replies if channel == "chat" else [], kind="confirm"))
        elif isinstance(ev, SurveyCompleted):
            text = ev.outro or tr(loc, "Thank you!")
            if pending_intro:
                text = f"{pending_intro}\n{text}"
                pending_intro = ""
            out.append(Message(text, kind="outro"))
        elif isinstance(ev, SurveyEnded) and ev.reason == "max_attempts":
            out.append(Message(tr(loc, "Sorry, we could not understand. Thank you for your time."), kind="end"))
    for m in out:
        info = count_segments(m.text)
        m.segments, m.encoding = info.segments, info.encoding
    return out


@dataclass
class Turn:
    """One spoken turn of a phone survey: something said, then (maybe) a gather."""

    say: str
    question_id: str | None = None
    gather: dict[str, Any] | None = None  # input, num_digits, finish_on_key, timeout, hints
    record: dict[str, Any] | None = None  # max_length
    hangup: bool = False
    kind: str = "say"

    def to_dict(self) -> dict[str, Any]:
        return {
            "say": self.say,
            "question_id": self.question_id,
            "gather": self.gather,
            "record": self.record,
            "hangup": self.hangup,
            "kind": self.kind,
        }


def gather_spec(interview: Interview, q_id: str, locale: str) -> dict[str, Any]:
    survey = interview.survey
    q = interview.question(q_id)
    mode = ivr_input(q)
    digits = prompts.keypad_digits(q) if "dtmf" in mode else None
    return {
        "input": mode,
        "num_digits": digits,
        "max_digits": prompts.keypad_max_digits(q) if "dtmf" in mode else None,
        "finish_on_key": "#",
        "timeout": q.ivr.timeout or survey.ivr.timeout,
        "hints": prompts.speech_hints(survey, q, locale),
    }


def spoken(interview: Interview, state: State, events: list[Event]) -> list[Turn]:
    """Spoken turns for the IVR channel (and the IVR simulator)."""
    survey = interview.survey
    loc = state.locale
    turns: list[Turn] = []
    lead = ""
    for ev in events:
        if isinstance(ev, SurveyStarted):
            if ev.intro:
                turns.append(Turn(ev.intro, kind="intro"))
        elif isinstance(ev, QuestionAsked):
            q = interview.question(ev.question_id)
            text = prompts.ivr_prompt(survey, q, loc, state.scope(), ev.choice_order)
            if lead:
                text = prompts.join_sentences(lead, text)
                lead = ""
            if q.type == "text" and q.ivr.record:
                turns.append(Turn(text, q.id, record={"max_length": q.ivr.max_length}, kind="question"))
            else:
                turns.append(Turn(text, q.id, gather=gather_spec(interview, q.id, loc), kind="question"))
        elif isinstance(ev, Reprompt):
            q = interview.question(ev.question_id)
            hint = ev.hint
            if ev.reason in ("no_input", "required", "not_confirmed") or (
                q.type == "text" and ev.reason in ("empty", "unrecognised")
            ):
                # Say the whole question again after what went wrong.
                hint = prompts.join_sentences(
                    prompts.hint_lead(q, ev.reason, "ivr", loc),
                    prompts.ivr_prompt(
                        survey, q, loc, state.scope(), interview_choice_order(interview, state, q.id)
                    ),
                )
            if q.type == "text" and q.ivr.record:
                turns.append(Turn(hint, q.id, record={"max_length": q.ivr.max_length}, kind="reprompt"))
            else:
                turns.append(Turn(hint, q.id, gather=gather_spec(interview, q.id, loc), kind="reprompt"))
        elif isinstance(ev, ConfirmationRequested):
            turns.append(
                Turn(
                    ev.text,
                    ev.question_id,
                    gather={"input": "dtmf speech", "num_digits": 1, "finish_on_key": "#",
                            "timeout": survey.ivr.timeout,
                            "hints": [tr(loc, "yes"), tr(loc, "no")]},
                    kind="confirm",
                )
            )
        elif isinstance(ev, SurveyCompleted):
            turns.append(Turn(ev.outro or tr(loc, "Thank you!"), hangup=True, kind="outro"))
        elif isinstance(ev, SurveyEnded):
            if ev.reason == "max_attempts":
                turns.append(
                    Turn(tr(loc, "Sorry, we could not understand. Thank you for your time. Goodbye."),
                         hangup=True, kind="end")
                )
            else:
                turns.append(Turn("", hangup=True, kind="end"))
    return turns


def interview_choice_order(interview: Interview, state: State, qid: str) -> list[str]:
    from .interview import choice_order

    return choice_order(state, interview.question(qid))
