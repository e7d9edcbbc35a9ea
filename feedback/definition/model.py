"""The survey definition model (spec_version 1).

Pydantic models describe the shape of a survey file; the loader
(:mod:`feedback.definition.loader`) adds the cross-field checks that need the
whole survey (ids, expressions, translations, channel fit) and turns every
problem into a located ``FILE:LINE:COL: message``.

All models are frozen: a compiled survey never changes once loaded.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

QUESTION_TYPES = (
    "nps",
    "csat",
    "ces",
    "rating",
    "single_choice",
    "multiple_choice",
    "yes_no",
    "number",
    "text",
)
QuestionType = Literal[
    "nps",
    "csat",
    "ces",
    "rating",
    "single_choice",
    "multiple_choice",
    "yes_no",
    "number",
    "text",
]
CHANNELS = ("web", "email", "ivr", "sms", "chat")
Channel = Literal["web", "email", "ivr", "sms", "chat"]

#: Fixed scales of the standard CX metrics.
FIXED_SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
SCALE_TYPES = ("nps", "csat", "ces", "rating")
CHOICE_TYPES = ("single_choice", "multiple_choice")

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
IDENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
LOCALE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")

Slug = Annotated[str, StringConstraints(pattern=SLUG_RE.pattern)]
Ident = Annotated[str, StringConstraints(pattern=IDENT_RE.pattern)]
Locale = Annotated[str, StringConstraints(pattern=LOCALE_RE.pattern)]



def _check_ltext(value: Any) -> Any:
    """One clear error for localised text instead of one per union member."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if not value:
            raise ValueError("text is empty; give a text or a map of locale to text")
        for key, text in value.items():
            if not isinstance(key, str) or not LOCALE_RE.match(key):
                raise ValueError(f"'{key}' is not a locale code (e.g. en, zh-CN)")
            if not isinstance(text, str):
                raise ValueError(f"the {key} text {_not_text(text)}")
        return value
    if isinstance(value, bool | int | float):
        raise ValueError(f"this text {_not_text(value)}")
    raise ValueError(
        f"expected a text or a map of locale to text (e.g. {{en: ..., zh-CN: ...}}), "
        f"not {type(value).__name__}"
    )


def _not_text(value: Any) -> str:
    if isinstance(value, bool):
        return f"is read by YAML as the boolean {str(value).lower()}; quote it: \"{str(value).lower()}\""
    if isinstance(value, int | float):
        return f"is read by YAML as the number {value}; quote it: \"{value}\""
    if value is None:
        return "is empty"
    return f"must be a text, not {type(value).__name__}"


#: Localised text: a plain string (in the survey's default locale) or a map locale -> text.
LText = Annotated[str | dict[str, str], BeforeValidator(_check_ltext)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def text_for(value: LText | None, locale: str, default_locale: str) -> str:
    """Pick the text of ``value`` for ``locale``, falling back to the default locale."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if locale in value:
        return value[locale]
    base = locale.split("-")[0]
    for key, text in value.items():
        if key.split("-")[0] == base:
            return text
    if default_locale in value:
        return value[default_locale]
    return next(iter(value.values()), "")


class ScaleLabels(_Frozen):
    min: LText | None = None
    max: LText | None = None


class Scale(_Frozen):
    min: int = 1
    max: int = 5
    labels: ScaleLabels = ScaleLabels()

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        if self.max <= self.min:
            raise ValueError(f"scale max ({self.max}) must be greater than min ({self.min})")
        if self.max - self.min > 20:
            raise ValueError("a scale can have at most 21 points")
        return self


class Choice(_Frozen):
    code: str = Field(pattern=CODE_RE.pattern)
    label: LText
    aliases: dict[Locale, list[str]] = {}
    #: Optional numeric score of the choice, for analytics.
    score: float | None = None


class IvrQuestion(_Frozen):
    text: LText | None = None
    input: Literal["dtmf", "speech", "dtmf speech"] | None = None
    timeout: int | None = Field(default=None, ge=1, le=60)
    max_attempts: int | None = Field(default=None, ge=0, le=5)
    record: bool = False
    #: Longest recording in seconds for ``record: true``.
    max_length: int = Field(default=60, ge=2, le=600)
    hints: list[str] = []


class SmsQuestion(_Frozen):
    text: LText | None = None
    max_attempts: int | None = Field(default=None, ge=0, le=5)


class ChatQuestion(_Frozen):
    text: LText | None = None
    max_attempts: int | None = Field(default=None, ge=0, le=5)


class WebQuestion(_Frozen):
    text: LText | None = None
    placeholder: LText | None = None


class EmailQuestion(_Frozen):
    text: LText | None = None


class Question(_Frozen):
    id: Ident
    type: QuestionType
    text: LText
    help: LText | None = None
    required: bool = False
    show_if: str | None = None
    #: For ``rating`` (and to relabel the ends of nps/csat/ces).
    scale: Scale | None = None
    choices: list[Choice] | None = None
    randomize: bool = False
    #: For ``multiple_choice``: how many may be picked.
    min_choices: int | None = Field(default=None, ge=0)
    max_choices: int | None = Field(default=None, ge=1)
    #: For ``number``.
    min: float | None = None
    max: float | None = None
    integer: bool = True
    unit: LText | None = None
    #: For ``text``.
    max_length: int = Field(default=1000, ge=1, le=20000)
    #: Re-prompts allowed after a reply that is not understood (channels may override).
    max_attempts: int = Field(default=2, ge=0, le=5)
    ivr: IvrQuestion = IvrQuestion()
    sms: SmsQuestion = SmsQuestion()
    chat: ChatQuestion = ChatQuestion()
    web: WebQuestion = WebQuestion()
    email: EmailQuestion = EmailQuestion()

    # -- derived -----------------------------------------------------------------------------
    @property
    def scale_range(self) -> tuple[int, int] | None:
        """The inclusive (min, max) of a scale question, or None."""
        if self.type in FIXED_SCALES:
            return FIXED_SCALES[self.type]
        if self.type == "rating":
            scale = self.scale or Scale()
            return (scale.min, scale.max)
        return None

    @property
    def choice_codes(self) -> list[str]:
        return [c.code for c in self.choices or []]

    def choice(self, code: str) -> Choice | None:
        for c in self.choices or []:
            if c.code == code:
                return c
        return None

    def max_attempts_for(self, channel: str) -> int:
        override = getattr(getattr(self, channel, None), "max_attempts", None)
        return self.max_attempts if override is None else override

    def text_for(self, channel: str, locale: str, default_locale: str) -> str:
        """The question text for a channel: its override when there is one."""
        override = getattr(getattr(self, channel, None), "text", None)
        return text_for(override if override is not None else self.text, locale, default_locale)


class IvrNumber(_Frozen):
    number: str
    locale: Locale | None = None


def _check_number_entry(value: Any) -> Any:
    if isinstance(value, str | dict):
        return value
    raise ValueError(
        f"a number is a quoted E.164 text like \"+15551230000\" or {{number: ..., locale: ...}}, "
        f"not {type(value).__name__}"
    )


class IvrRetry(_Frozen):
    #: Calls placed in all for one request, the first one included.
    attempts: int = Field(default=3, ge=1, le=10)
    #: Minutes between an unanswered call and the next try.
    delay_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)


_CALL_HOURS_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-(([01]\d|2[0-3]):([0-5]\d)|24:00)$")


def _check_call_hours(value: str | None) -> str | None:
    if value is None:
        return None
    m = _CALL_HOURS_RE.match(value.strip())
    if not m:
        raise ValueError(
            f"'{value}' is not a range of local times like \"09:00-20:00\" (24-hour HH:MM-HH:MM)"
        )
    start, end = value.strip().split("-")
    if start == end:
        raise ValueError(f"'{value}' starts and ends at the same time; use null to allow any time")
    return value.strip()


class IvrSettings(_Frozen):
    numbers: list[Annotated[str | IvrNumber, BeforeValidator(_check_number_entry)]] = []
    #: Offer a language menu when the caller's language is unknown.
    language_menu: bool = True
    #: What to do when an outbound call reaches an answering machine.
    on_machine: Literal["hangup", "message"] = "hangup"
    machine_message: LText | None = None
    #: Seconds to wait for a keypress or speech by default.
    timeout: int = Field(default=6, ge=1, le=60)
    #: Speech below this confidence is confirmed or re-prompted.
    min_confidence: float = Field(default=0.5, ge=0, le=1)
    #: Outbound calls: tries after a busy line, no answer, a failure or a machine.
    retry: IvrRetry = IvrRetry()
    #: Outbound calls ring only between these local times of the contact ("HH:MM-HH:MM",
    #: "24:00" for midnight; a start after the end spans the night); null: at any time.
    call_hours: Annotated[str | None, AfterValidator(_check_call_hours)] = "09:00-20:00"
    #: Seconds an outbound call rings before it counts as not answered.
    ring_timeout: int = Field(default=30, ge=5, le=600)


def _check_template_variables(value: Any) -> Any:
    """Twilio ContentVariables keys are texts ("1", "2" or names); YAML may give numbers."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    return value


class WhatsAppTemplate(_Frozen):
    """An approved WhatsApp template (Twilio Content API) that opens a conversation outside
    the 24-hour window. ``variables`` fill the template's ``{{1}}``, ``{{2}}`` ... and may pipe
    ``{{ contact.* }}`` and ``{{ event.* }}``."""

    content_sid: str = Field(pattern=r"^HX[0-9a-fA-F]{32}$")
    variables: Annotated[dict[str, LText], BeforeValidator(_check_template_variables)] = {}


class SmsSettings(_Frozen):
    keywords: list[str] = []
    #: WhatsApp: the template that starts a survey outside the customer's 24-hour window.
    whatsapp_template: WhatsAppTemplate | None = None
    #: Prompts longer than this many segments get a validation warning.
    max_segments: int = Field(default=3, ge=1, le=10)
    #: Hours after which an unanswered SMS session expires (kept as partial).
    expiry_hours: float = Field(default=24, gt=0, le=24 * 30)


class WebSettings(_Frozen):
    layout: Literal["one_per_page", "all_on_one"] = "one_per_page"
    show_progress: bool = True
    allow_back: bool = True


class ChatSettings(_Frozen):
    bot_name: LText | None = None


class EmailSettings(_Frozen):
    subject: LText | None = None
    #: Embed the first question in the invitation when its type allows it.
    embed_first_question: bool = True
    reminder_days: list[int] = []


class Survey(_Frozen):
    spec_version: Literal[1]
    id: Slug
    title: LText
    description: LText | None = None
    default_locale: Locale = "en"
    locales: list[Locale] = []
    channels: list[Channel] = ["web"]
    ivr: IvrSettings = IvrSettings()
    sms: SmsSettings = SmsSettings()
    web: WebSettings = WebSettings()
    chat: ChatSettings = ChatSettings()
    email: EmailSettings = EmailSettings()
    intro: LText | None = None
    outro: LText | None = None
    questions: list[Question] = Field(min_length=1)
    #: Sections owned by later parts of the platform (triggers, intercept, targets...)
    #: are validated by their own modules and kept here untouched.
    extensions: dict[str, Any] = {}

    # Set by the loader: content hash of the YAML text, and where it came from.
    version: str = ""
    source: str = ""

    @property
    def all_locales(self) -> list[str]:
        return self.locales or [self.default_locale]

    def question(self, qid: str) -> Question:
        for q in self.questions:
            if q.id == qid:
                return q
        raise KeyError(qid)

    def has_question(self, qid: str) -> bool:
        return any(q.id == qid for q in self.questions)

    def text(self, value: LText | None, locale: str) -> str:
        return text_for(value, locale, self.default_locale)

    def pick_locale(self, wanted: str | None) -> str:
        """The best supported locale for ``wanted`` (exact, then same language, else default)."""
        if not wanted:
            return self.default_locale
        locales = self.all_locales
        norm = wanted.replace("_", "-")
        for loc in locales:
            if loc.lower() == norm.lower():
                return loc
        base = norm.split("-")[0].lower()
        for loc in locales:
            if loc.split("-")[0].lower() == base:
                return loc
        return self.default_locale


def answer_value_type(question: Question) -> str:
    """The Python type family of a question's answer: number, bool, string or list."""
    if question.type in SCALE_TYPES or question.type == "number":
        return "number"
    if question.type == "yes_no":
        return "bool"
    if question.type == "multiple_choice":
        return "list"
    return "string"
