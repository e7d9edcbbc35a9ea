"""How each question type is put to the respondent on each channel.

One registry of question types with per-channel hooks: the text of a question
(localised, with answers piped in), the spoken IVR prompt with its keypad
instructions, the numbered options of an SMS, the quick replies of a chat, and
the short hint after a reply that was not understood. Channels render these;
no channel invents its own wording.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from feedback.definition.fit import ivr_input
from feedback.definition.model import Question, Survey, text_for
from feedback.definition.templates import Placeholder, strip_unsafe, template
from feedback.i18n import N_, join_list, tr

#: Default end labels of the standard scales (translated through the catalogues).
DEFAULT_END_LABELS: dict[str, tuple[str, str]] = {
    "nps": (N_("not at all likely"), N_("extremely likely")),
    "csat": (N_("very dissatisfied"), N_("very satisfied")),
    "ces": (N_("very difficult"), N_("very easy")),
}


@dataclass(frozen=True)
class QuickReply:
    label: str
    value: str


# -- piping ------------------------------------------------------------------------------


def format_answer(survey: Survey, question: Question | None, value: Any, locale: str) -> str:
    """A typed answer as words in ``locale`` (choice labels, yes/no, numbers), safe to put
    in any channel's document (characters XML does not allow are dropped)."""
    return strip_unsafe(_format_answer(survey, question, value, locale))


def _format_answer(survey: Survey, question: Question | None, value: Any, locale: str) -> str:
    if value is None:
        return ""
    if question is not None:
        if question.type == "yes_no" and isinstance(value, bool):
            return tr(locale, "yes") if value else tr(locale, "no")
        if question.type == "single_choice" and isinstance(value, str):
            choice = question.choice(value)
            return survey.text(choice.label, locale) if choice else value
        if question.type == "multiple_choice" and isinstance(value, list):
            labels = []
            for code in value:
                choice = question.choice(code)
                labels.append(survey.text(choice.label, locale) if choice else str(code))
            return join_list(labels, locale)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return join_list([str(v) for v in value], locale)
    if isinstance(value, bool):
        return tr(locale, "yes") if value else tr(locale, "no")
    return str(value)


def render_text(survey: Survey, source: str, locale: str, scope: Mapping[str, Any]) -> str:
    """Render placeholders of a localised text with ``scope`` (answers, contact, event).

    The one place where outside text (contact and event fields, earlier answers) enters a
    prompt: characters XML 1.0 does not allow are dropped, so every channel can send it.
    """

    def fmt(ph: Placeholder, value: Any) -> str:
        if ph.root == "answers" and ph.path and survey.has_question(ph.path[0]):
            return format_answer(survey, survey.question(ph.path[0]), value, locale)
        return format_answer(survey, None, value, locale)

    return strip_unsafe(template(source).render(scope, fmt))


def question_text(
    survey: Survey, q: Question, channel: str, locale: str, scope: Mapping[str, Any]
) -> str:
    return render_text(survey, q.text_for(channel, locale, survey.default_locale), locale, scope)


def end_labels(survey: Survey, q: Question, locale: str) -> tuple[str, str] | None:
    labels = q.scale.labels if q.scale else None
    lo = survey.text(labels.min, locale) if labels and labels.min else ""
    hi = survey.text(labels.max, locale) if labels and labels.max else ""
    defaults = DEFAULT_END_LABELS.get(q.type)
    if defaults:
        lo = lo or tr(locale, defaults[0])
        hi = hi or tr(locale, defaults[1])
    if not lo and not hi:
        return None
    return lo, hi


def ordered_choices(q: Question, order: Sequence[str] | None) -> list[Any]:
    if not q.choices:
        return []
    if not order:
        return list(q.choices)
    by_code = {c.code: c for c in q.choices}
    return [by_code[c] for c in order if c in by_code]


# -- SMS and chat --------------------------------------------------------------------------


def sms_options(survey: Survey, q: Question, locale: str, order: Sequence[str] | None = None) -> str:
    """The answering instructions appended to an SMS / chat question."""
    rng = q.scale_range
    if rng is not None:
        lo, hi = rng
        labels = end_labels(survey, q, locale)
        if labels:
            return tr(
                locale,
                "Reply %(min)d-%(max)d (%(min)d = %(low)s, %(max)d = %(high)s)",
                min=lo, max=hi, low=labels[0], high=labels[1],
            )
        return tr(locale, "Reply %(min)d-%(max)d", min=lo, max=hi)
    if q.type == "yes_no":
        return tr(locale, "Reply YES or NO")
    if q.type in ("single_choice", "multiple_choice"):
        lines = [
            f"{n}) {survey.text(c.label, locale)}"
            for n, c in enumerate(ordered_choices(q, order), start=1)
        ]
        tail = (
            tr(locale, "Reply with a number")
            if q.type == "single_choice"
            else tr(locale, "Reply with one or more numbers, e.g. 1,3")
        )
        return "\n".join(lines + [tail])
    if q.type == "number":
        if q.min is not None and q.max is not None:
            return tr(locale, "Reply with a number from %(min)s to %(max)s", min=_num(q.min), max=_num(q.max))
        return tr(locale, "Reply with a number")
    return ""


def sms_question_text(
    survey: Survey,
    q: Question,
    locale: str,
    piped: Mapping[str, Any] | None = None,
    order: Sequence[str] | None = None,
    channel: str = "sms",
) -> str:
    text = question_text(survey, q, channel, locale, piped or {})
    options = sms_options(survey, q, locale, order)
    if not q.required:
        options = join_sentences(options, tr(locale, "(SKIP to skip)"))
    return f"{text}\n{options}" if options else text


def quick_replies(
    survey: Survey, q: Question, locale: str, order: Sequence[str] | None = None
) -> list[QuickReply]:
    """Buttons a chat shows for a question (none for free text and numbers)."""
    rng = q.scale_range
    if rng is not None:
        return [QuickReply(str(n), str(n)) for n in range(rng[0], rng[1] + 1)]
    if q.type == "yes_no":
        return [QuickReply(tr(locale, "Yes"), "yes"), QuickReply(tr(locale, "No"), "no")]
    if q.type == "single_choice":
        return [QuickReply(survey.text(c.label, locale), c.code) for c in ordered_choices(q, order)]
    if q.type == "multiple_choice":
        return [QuickReply(survey.text(c.label, locale), c.code) for c in ordered_choices(q, order)]
    return []


def chat_instructions(survey: Survey, q: Question, locale: str) -> str:
    rng = q.scale_range
    if rng is not None:
        labels = end_labels(survey, q, locale)
        if labels:
            return tr(
                locale, "%(min)d = %(low)s, %(max)d = %(high)s",
                min=rng[0], max=rng[1], low=labels[0], high=labels[1],
            )
    if q.type == "multiple_choice":
        return tr(locale, "You can pick more than one.")  # the options are buttons, not numbers
    return ""


# -- IVR -------------------------------------------------------------------------------------


def keypad_digits(q: Question) -> int | None:
    """How many keys a keypad answer needs, or None when it varies (then # finishes)."""
    rng = q.scale_range
    if rng is not None:
        return 1 if rng[1] <= 9 and rng[0] >= 0 else None
    if q.type == "yes_no":
        return 1
    if q.type == "single_choice":
        return 1
    return None


def keypad_max_digits(q: Question) -> int | None:
    """The most keys a keypad answer can have (the phone stops listening after that many:
    "1" "0" ends an NPS at once, "7" waits for # or the timeout), or None for no limit."""
    fixed = keypad_digits(q)
    if fixed is not None:
        return fixed
    rng = q.scale_range
    if rng is not None:
        return len(str(rng[1])) if rng[0] >= 0 else None
    if q.type == "number" and q.integer and q.min is not None and q.min >= 0 and q.max is not None:
        return len(str(int(q.max)))
    return None


def ivr_instructions(survey: Survey, q: Question, locale: str, order: Sequence[str] | None = None) -> str:
    """How to answer on the phone, in the caller's language."""
    mode = ivr_input(q)
    keypad = "dtmf" in mode
    speech = "speech" in mode
    rng = q.scale_range
    if q.type == "text":
        if q.ivr.record:
            return tr(locale, "Please speak after the tone, then press pound.")
        return tr(locale, "Please say your answer.")
    if rng is not None:
        lo, hi = rng
        labels = end_labels(survey, q, locale)
        if keypad:
            if keypad_digits(q) == 1:
                base = tr(locale, "Press a number from %(min)d to %(max)d", min=lo, max=hi)
            else:
                base = tr(locale, "Enter a number from %(min)d to %(max)d, then press pound", min=lo, max=hi)
        else:
            base = tr(locale, "Say a number from %(min)d to %(max)d", min=lo, max=hi)
        if labels:
            base += tr(
                locale, ", where %(min)d means %(low)s and %(max)d means %(high)s",
                min=lo, max=hi, low=labels[0], high=labels[1],
            )
        return base + tr(locale, ".")
    if q.type == "yes_no":
        if keypad:
            return tr(locale, "Press 1 for yes, 2 for no.")
        return tr(locale, "Please say yes or no.")
    if q.type in ("single_choice", "multiple_choice"):
        choices = ordered_choices(q, order)
        if keypad:
            parts = [
                tr(locale, "for %(label)s, press %(n)d", label=survey.text(c.label, locale), n=n)
                for n, c in enumerate(choices, start=1)
            ]
            text = tr(locale, "%(options)s.", options=tr(locale, "; ").join(parts))
            text = text[0].upper() + text[1:]
            if q.type == "multiple_choice":
                text = join_sentences(text, tr(locale, "You can press several keys, then press pound."))
            return text
        names = [survey.text(c.label, locale) for c in choices]
        return tr(locale, "You can say: %(options)s.", options=join_list(names, locale))
    if q.type == "number":
        if keypad:
            return tr(locale, "Enter the number on your keypad, then press pound.")
        return tr(locale, "Please say the number.")
    if speech and not keypad:
        return tr(locale, "Please say your answer.")
    return ""


def ivr_prompt(
    survey: Survey,
    q: Question,
    locale: str,
    scope: Mapping[str, Any],
    order: Sequence[str] | None = None,
) -> str:
    return join_sentences(
        question_text(survey, q, "ivr", locale, scope), ivr_instructions(survey, q, locale, order)
    )


def speech_hints(survey: Survey, q: Question, locale: str) -> list[str]:
    """Words that help speech recognition: labels, aliases, and the question's own hints."""
    hints: list[str] = list(q.ivr.hints)
    for c in q.choices or []:
        hints.append(text_for(c.label, locale, survey.default_locale))
        hints.extend(c.aliases.get(locale, []))
    if q.type == "yes_no":
        hints += [tr(locale, "yes"), tr(locale, "no")]
    return [h for i, h in enumerate(hints) if h and h not in hints[:i]]


# -- hints -------------------------------------------------------------------------------------


#: Channels where the respondent fills in a form: a hint reads like form validation there,
#: never like a conversation ("I didn't get that").
FORM_CHANNELS = ("web", "email")


def hint_lead(q: Question, reason: str, channel: str, locale: str) -> str:
    """The first sentence after a reply that could not be used: what went wrong.

    Empty on a web or email form, where the expectation alone says what to fix.
    """
    if reason == "required":
        return tr(locale, "This question needs an answer.")
    if channel in FORM_CHANNELS:
        return ""
    if reason == "no_input":
        if channel == "ivr":
            return tr(locale, "Sorry, I didn't hear anything.")
        return tr(locale, "Sorry, I didn't get an answer.")
    if reason == "not_confirmed":
        return tr(locale, "OK, let's try again.")
    if reason == "ambiguous" and q.type != "yes_no":
        return tr(locale, "Sorry, please give just one answer.")
    if reason == "inexact":
        return tr(locale, "Sorry, please give one exact number.")
    if reason == "not_whole":
        return tr(locale, "Sorry, that is not a whole number.")
    if reason == "out_of_range":
        if q.type in ("single_choice", "multiple_choice"):
            return tr(locale, "Sorry, there is no option with that number.")
        return tr(locale, "Sorry, that number is out of range.")
    return tr(locale, "Sorry, I didn't get that.")


def expectation(survey: Survey, q: Question, channel: str, locale: str, reason: str = "") -> str:
    """One sentence saying what answer is expected (on the phone: how to key or say it)."""
    if channel == "ivr":
        return ivr_instructions(survey, q, locale)
    if channel in FORM_CHANNELS:
        return form_expectation(q, locale, reason)
    rng = q.scale_range
    if rng is not None:
        return tr(locale, "Please answer with a number from %(min)d to %(max)d.", min=rng[0], max=rng[1])
    if q.type == "yes_no":
        return tr(locale, "Please answer yes or no.")
    if q.type in ("single_choice", "multiple_choice"):
        if channel == "sms":  # the SMS lists numbered options; chat and web show buttons
            if q.type == "multiple_choice":
                return tr(locale, "Please reply with the numbers of one or more options, e.g. 1,3.")
            return tr(locale, "Please reply with the number of an option.")
        if q.type == "multiple_choice":
            return tr(locale, "Please pick one or more of the options.")
        return tr(locale, "Please pick one of the options.")
    if q.type == "number":
        if q.min is not None and q.max is not None:
            return tr(
                locale, "Please answer with a number from %(min)s to %(max)s.",
                min=_num(q.min), max=_num(q.max),
            )
        if q.min is not None:
            return tr(locale, "Please answer with a number of at least %(min)s.", min=_num(q.min))
        if q.max is not None:
            return tr(locale, "Please answer with a number of at most %(max)s.", max=_num(q.max))
        return tr(locale, "Please answer with a number.")
    return tr(locale, "Please type your answer.")


def form_expectation(q: Question, locale: str, reason: str = "") -> str:
    """What a web or email form expects, worded like form validation."""
    rng = q.scale_range
    if rng is not None and reason == "not_whole":
        return tr(locale, "Please choose a whole number from %(min)d to %(max)d.", min=rng[0], max=rng[1])
    if rng is not None:
        return tr(locale, "Please choose a number from %(min)d to %(max)d.", min=rng[0], max=rng[1])
    if q.type == "yes_no":
        return tr(locale, "Please choose yes or no.")
    if q.type == "multiple_choice":
        return tr(locale, "Please pick one or more of the options.")
    if q.type == "single_choice":
        return tr(locale, "Please pick one of the options.")
    if q.type == "number":
        lo, hi = q.min, q.max
        if q.integer:
            if lo is not None and hi is not None:
                return tr(locale, "Please enter a whole number from %(min)s to %(max)s.", min=_num(lo), max=_num(hi))
            if lo is not None:
                return tr(locale, "Please enter a whole number of at least %(min)s.", min=_num(lo))
            if hi is not None:
                return tr(locale, "Please enter a whole number of at most %(max)s.", max=_num(hi))
            return tr(locale, "Please enter a whole number.")
        if lo is not None and hi is not None:
            return tr(locale, "Please enter a number from %(min)s to %(max)s.", min=_num(lo), max=_num(hi))
        if lo is not None:
            return tr(locale, "Please enter a number of at least %(min)s.", min=_num(lo))
        if hi is not None:
            return tr(locale, "Please enter a number of at most %(max)s.", max=_num(hi))
        return tr(locale, "Please enter a number.")
    return tr(locale, "Please type your answer.")


def hint(survey: Survey, q: Question, reason: str, channel: str, locale: str) -> str:
    """A short hint of what answer is expected, after a reply that was not understood."""
    if reason == "too_long":
        return tr(locale, "Please keep your answer under %(n)d characters.", n=q.max_length)
    if reason == "too_few" and q.min_choices:
        return tr(locale, "Please pick at least %(n)d.", n=q.min_choices)
    if reason == "too_many" and q.max_choices:
        return tr(locale, "Please pick at most %(n)d.", n=q.max_choices)
    if q.type == "text" and reason in ("empty", "unrecognised"):
        if channel == "ivr":
            return tr(locale, "Please say your answer.")
        return tr(locale, "Please type your answer.")
    return join_sentences(hint_lead(q, reason, channel, locale), expectation(survey, q, channel, locale, reason))


_CJK_OR_WIDE = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]")


def join_sentences(*parts: str) -> str:
    """Join sentences with a space, but not after or before Chinese text and punctuation.

    "How likely…? Press 1" but "您有多大可能推荐我们？请按 1".
    """
    out = ""
    for part in parts:
        part = part.strip()
        if not part:
            continue
        if out and not (_CJK_OR_WIDE.match(out[-1]) or _CJK_OR_WIDE.match(part[0])):
            out += " "
        out += part
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def confirmation(survey: Survey, q: Question, value: Any, locale: str) -> str:
    """The spoken check of low-confidence speech: "I heard 8. Is that right? ...".

    A number is said as it is; a yes/no value as "I heard you say yes" (我听到您说“是”);
    a label or free text is quoted ("I heard “Billing”", 我听到的是“账单”), so that it
    never runs into the sentence around it.
    """
    said = format_answer(survey, q, value, locale)
    if _is_number(value):
        return tr(locale, "I heard %(value)s. Is that right? Press 1 or say yes, press 2 or say no.", value=said)
    if isinstance(value, bool):
        return tr(
            locale, "I heard you say %(value)s. Is that right? Press 1 or say yes, press 2 or say no.", value=said
        )
    return tr(locale, "I heard “%(value)s”. Is that right? Press 1 or say yes, press 2 or say no.", value=said)


def text_confirmation(survey: Survey, q: Question, value: Any, locale: str) -> str:
    """The written check of a low-confidence answer (SMS, chat): "Did you mean 8? ..."."""
    said = format_answer(survey, q, value, locale)
    if _is_number(value):
        return tr(locale, "Did you mean %(value)s? Reply YES or NO.", value=said)
    return tr(locale, "Did you mean “%(value)s”? Reply YES or NO.", value=said)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
