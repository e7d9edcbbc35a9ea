"""Channel fit: each question must work on each channel its survey declares.

Errors make the survey invalid (a keypad menu of twelve options cannot be
answered); warnings point at things that work but cost the respondent (an SMS
prompt that runs over several segments).
"""

from __future__ import annotations

from typing import Any

from .model import CHOICE_TYPES, Question, Survey
from .segments import count_segments

#: Whole-message words the SMS channel keeps for opt-out, opt-in and help.
RESERVED_SMS_WORDS = frozenset(
    {
        "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT",
        "START", "UNSTOP", "HELP", "INFO", "退订", "TD",
    }
)
EMBEDDABLE_TYPES = ("nps", "csat", "ces", "rating", "yes_no", "single_choice")
MAX_KEYPAD_CHOICES = 9


def ivr_input(question: Question) -> str:
    """The IVR input mode of a question: its override, or a sensible default per type."""
    if question.ivr.input:
        return question.ivr.input
    if question.type == "text":
        return "speech"
    return "dtmf speech"


#: Channels whose per-question overrides apply when the survey declares the key channel: an
#: email survey continues on the web pages, so ``web:`` overrides apply to it too.
_OVERRIDE_APPLIES = {
    "ivr": ("ivr",), "sms": ("sms",), "chat": ("chat",), "web": ("web", "email"), "email": ("email",),
}


def check_channel_fit(survey: Survey, report: Any) -> None:
    channels = set(survey.channels)
    for i, q in enumerate(survey.questions):
        base: list[Any] = ["questions", i]
        for key, used_on in _OVERRIDE_APPLIES.items():
            if key in q.model_fields_set and not channels.intersection(used_on):
                report.warning(
                    base + [key],
                    f"{key}: these settings have no effect, '{key}' is not in channels "
                    f"({', '.join(survey.channels)})",
                )
        if "ivr" in channels:
            _fit_ivr(q, base, report)
        if "sms" in channels:
            _fit_sms(survey, q, base, report, with_intro=i == 0)
    if "email" in channels and survey.email.embed_first_question:
        first = survey.questions[0]
        if first.type not in EMBEDDABLE_TYPES:
            report.warning(
                ["questions", 0, "type"],
                f"email: a {first.type} question cannot be embedded in the invitation; "
                "the email will carry a link to the survey instead",
            )


def _fit_ivr(q: Question, base: list[Any], report: Any) -> None:
    mode = ivr_input(q)
    keypad = "dtmf" in mode
    if q.type in CHOICE_TYPES and keypad and len(q.choices or []) > MAX_KEYPAD_CHOICES:
        report.error(
            base + ["choices"],
            f"ivr: a keypad menu can offer at most {MAX_KEYPAD_CHOICES} choices, this one has "
            f"{len(q.choices or [])}; split the question or use ivr: {{input: speech}}",
        )
    if q.type == "text" and not q.ivr.record and "speech" not in mode:
        report.error(
            base + ["type"],
            "ivr: a text question cannot be answered on the keypad; add ivr: {record: true} "
            "or ivr: {input: speech}",
        )
    if q.type == "number" and keypad and ((q.min is not None and q.min < 0) or not q.integer):
        report.warning(
            base + ["type"],
            "ivr: negative or decimal numbers cannot be typed on a keypad; callers will need speech",
        )
    rng = q.scale_range
    if rng is not None and rng[0] < 0 and mode == "dtmf":
        report.error(
            base + ["scale"],
            f"ivr: a scale from {rng[0]} cannot be keyed on a keypad; use a scale from 0 or 1, "
            "or ivr: {input: speech}",
        )
    if q.type == "multiple_choice" and mode == "dtmf" and q.min_choices and q.min_choices > 1:
        report.warning(base + ["type"], "ivr: callers must press several keys in one go for this question")


def _fit_sms(survey: Survey, q: Question, base: list[Any], report: Any, *, with_intro: bool) -> None:
    """The SMS that asks ``q`` (the first one carries the intro too) within sms.max_segments."""
    from feedback.engine.prompts import render_text, sms_question_text

    limit = survey.sms.max_segments
    for locale in survey.all_locales:
        text = sms_question_text(survey, q, locale, piped={})
        intro = ""
        if with_intro and survey.intro is not None:
            intro = render_text(survey, survey.text(survey.intro, locale), locale, {})
            text = f"{intro}\n{text}" if intro else text
        info = count_segments(text)
        if info.segments > limit:
            report.warning(
                base + ["text"],
                f"sms: the {locale} prompt{' with the intro' if intro else ''} takes "
                f"{info.segments} {info.encoding} segments ({info.units} characters); "
                f"keep it within {limit} (sms.max_segments)",
            )
