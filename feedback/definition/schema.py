"""The published JSON Schema of the survey format, for editors (``feedback schema``).

Generated from the pydantic models, then given descriptions (shown by editors on hover and
in completion lists), locale-code checks on localised text, and the sections other parts
of the platform add to a survey (``triggers``, ``intercept``...).
"""

from __future__ import annotations

from typing import Any

from .model import CHOICE_TYPES, LOCALE_RE, QUESTION_TYPES, SCALE_TYPES, Survey

LTEXT_HELP = "A plain text (in the default locale) or a map of locale to text, e.g. {en: ..., zh-CN: ...}."

#: Descriptions per model ($defs name, or "Survey" for the top level) and property.
DESCRIPTIONS: dict[str, dict[str, str]] = {
    "Survey": {
        "spec_version": "Version of this format. Always 1.",
        "id": "Unique slug of the survey (lowercase letters, digits and dashes). Answers are stored under it.",
        "title": "Title shown on the web page and in emails. " + LTEXT_HELP,
        "description": "Longer description for the people who manage the survey. " + LTEXT_HELP,
        "default_locale": "Locale of plain texts, and the fallback for respondents in other languages.",
        "locales": "Every locale the survey is written in; each text needs all of them.",
        "channels": "Channels the survey runs on: web, email, ivr, sms, chat. "
        "Every question is checked to fit each of them.",
        "ivr": "Phone survey settings: numbers that answer with this survey, timeouts, speech confidence.",
        "sms": "SMS / WhatsApp settings: keywords that start the survey, segment limit, expiry.",
        "web": "Web page settings: one question per page or all on one page, progress, back button.",
        "chat": "Chat settings, e.g. the bot's name.",
        "email": "Email invitation settings: subject, embedding the first question, reminders.",
        "intro": "Said or shown before the first question. May pipe {{ contact.x }} and {{ event.x }}. "
        + LTEXT_HELP,
        "outro": "Said or shown at the end. May pipe any answer. " + LTEXT_HELP,
        "questions": "The questions, asked in this order (those whose show_if is false are skipped).",
    },
    "Question": {
        "id": "Stable id of the question (lowercase letters, digits, underscores). Answers are stored "
        "under it; use it in show_if and {{ answers.<id> }}.",
        "type": "nps (0-10), csat (1-5), ces (1-7), rating (scale), single_choice, multiple_choice, "
        "yes_no, number or text.",
        "text": "The question. May pipe earlier answers: {{ answers.<id> }}, and {{ contact.x }}, "
        "{{ event.x | default('...') }}. " + LTEXT_HELP,
        "help": "A short help text shown under the question on the web. " + LTEXT_HELP,
        "required": "A required question cannot be skipped; when it is not understood after "
        "max_attempts the interview ends as partial. Optional questions are skipped instead.",
        "show_if": "Ask only when this condition holds, e.g. answers.nps <= 6 and channel != \"ivr\". "
        "Uses answers of earlier questions, contact.x, event.x, channel, locale; and, or, not, in, "
        "+ - * / %, answered(id), selected(id, \"code\").",
        "scale": "For rating: {min, max, labels: {min, max}}. For nps/csat/ces only the labels change.",
        "choices": "For single_choice and multiple_choice: [{code, label, aliases}].",
        "randomize": "Shuffle the choices, in an order that stays the same within one session.",
        "min_choices": "multiple_choice: fewest choices to pick (default 1).",
        "max_choices": "multiple_choice: most choices to pick.",
        "min": "number: smallest accepted value.",
        "max": "number: largest accepted value.",
        "integer": "number: whole numbers only (default true); false accepts decimals.",
        "unit": "number: unit shown next to the field, e.g. minutes. " + LTEXT_HELP,
        "max_length": "text: longest accepted answer, in characters.",
        "max_attempts": "Re-prompts after a reply that is not understood (default 2), on phone, "
        "SMS and chat. Channels may override it.",
        "ivr": "Phone overrides: text, input (dtmf | speech | dtmf speech), timeout, max_attempts, "
        "record (text questions), hints.",
        "sms": "SMS overrides: text, max_attempts.",
        "chat": "Chat overrides: text, max_attempts.",
        "web": "Web overrides: text, placeholder.",
        "email": "Email overrides: text.",
    },
    "Choice": {
        "code": "Stable code stored as the answer. Quote codes YAML would read as booleans or "
        "numbers: code: \"yes\", code: \"1\".",
        "label": "What the respondent sees or hears. " + LTEXT_HELP,
        "aliases": "Other words that pick this choice, per locale: {en: [invoice], zh-CN: [发票]}.",
        "score": "Optional number for analytics.",
    },
    "Scale": {
        "min": "Lowest point of the scale.",
        "max": "Highest point of the scale (at most 21 points).",
        "labels": "Words for the ends of the scale: {min: ..., max: ...}.",
    },
    "IvrQuestion": {
        "text": "What the phone says instead of the question text. " + LTEXT_HELP,
        "input": "dtmf (keypad), speech, or dtmf speech (both).",
        "timeout": "Seconds to wait for a key or speech.",
        "max_attempts": "Re-prompts on the phone.",
        "record": "text questions: record the spoken answer (up to max_length seconds).",
        "max_length": "Longest recording, in seconds.",
        "hints": "Words that help speech recognition.",
    },
    "SmsQuestion": {"text": "What the SMS says instead of the question text. " + LTEXT_HELP},
    "ChatQuestion": {"text": "What the chat says instead of the question text. " + LTEXT_HELP},
    "WebQuestion": {
        "text": "What the web page shows instead of the question text. " + LTEXT_HELP,
        "placeholder": "Placeholder of a text or number field. " + LTEXT_HELP,
    },
    "EmailQuestion": {"text": "What the email shows instead of the question text. " + LTEXT_HELP},
    "IvrSettings": {
        "numbers": "Phone numbers (E.164, quoted) that answer with this survey, or {number, locale}.",
        "timeout": "Default seconds to wait for a key or speech.",
        "min_confidence": "Speech understood below this confidence is confirmed with the caller.",
    },
    "SmsSettings": {
        "keywords": "Words that start this survey when texted to the number (not STOP, HELP...).",
        "max_segments": "A prompt longer than this many SMS segments gets a validation warning.",
        "expiry_hours": "Hours after which an unanswered SMS survey ends (kept as partial).",
    },
    "WebSettings": {"layout": "one_per_page or all_on_one."},
}


def _is_ltext(prop: dict[str, Any]) -> bool:
    options = prop.get("anyOf", [])
    kinds = {o.get("type") for o in options}
    return "string" in kinds and any(
        o.get("type") == "object" and o.get("additionalProperties") == {"type": "string"} for o in options
    )


def _describe(model: dict[str, Any], descriptions: dict[str, str]) -> None:
    for name, prop in model.get("properties", {}).items():
        if name in descriptions:
            prop.setdefault("description", descriptions[name])
        if _is_ltext(prop):
            for option in prop["anyOf"]:
                if option.get("type") == "object":
                    option["propertyNames"] = {"pattern": LOCALE_RE.pattern}
                    option["minProperties"] = 1


def _types_other_than(*kinds: str) -> list[str]:
    return [t for t in QUESTION_TYPES if t not in kinds]


def _when(types: list[str], then: dict[str, Any]) -> dict[str, Any]:
    """``then`` applies to questions whose ``type`` is one of ``types``."""
    return {"if": {"properties": {"type": {"enum": types}}, "required": ["type"]}, "then": then}


def question_type_rules() -> list[dict[str, Any]]:
    """What each question type needs and allows, as the loader checks it, so that editors
    flag a single_choice without choices or a scale on a yes_no question as it is typed."""
    return [
        _when(list(CHOICE_TYPES), {"required": ["choices"]}),
        _when(_types_other_than(*CHOICE_TYPES), {"properties": {"choices": False, "randomize": {"const": False}}}),
        _when(_types_other_than(*SCALE_TYPES), {"properties": {"scale": False}}),
        _when(_types_other_than("number"), {"properties": {"min": False, "max": False}}),
        _when(_types_other_than("multiple_choice"), {"properties": {"min_choices": False, "max_choices": False}}),
    ]


def json_schema() -> dict[str, Any]:
    schema = Survey.model_json_schema(mode="validation")
    props = schema.get("properties", {})
    for internal in ("version", "source", "extensions"):
        props.pop(internal, None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Feedback survey definition, spec_version 1"
    schema["description"] = (
        "One survey for every channel (web, email, IVR, SMS, chat). "
        "Text is a plain string or a map of locale to text. Reference: docs/survey-format.md."
    )
    _describe(schema, DESCRIPTIONS["Survey"])
    for name, model in schema.get("$defs", {}).items():
        _describe(model, DESCRIPTIONS.get(name, {}))
    schema["$defs"]["Question"]["allOf"] = question_type_rules()
    from .loader import EXTENSION_SECTIONS, import_extensions

    import_extensions()
    for key, checker in EXTENSION_SECTIONS.items():
        props.setdefault(key, getattr(checker, "json_schema", None) or {"description": f"the {key} section"})
    return schema
