"""Flask-WTF forms generated from the survey's question types.

One form class is built per page with one field per question shown on it. The fields
give the markup its names, ids, choices and current values; whether an answer is
acceptable is decided by the engine (its re-prompt hints are the error messages), so the
forms hold no survey logic and run no validators of their own. CSRF is checked for every
POST by ``CSRFProtect``; the form renders its token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict
from wtforms import Field, RadioField, SelectMultipleField, StringField, TextAreaField
from wtforms.widgets import CheckboxInput, ListWidget, NumberInput

try:  # WTForms 3.3+
    from wtforms import SelectChoice
except ImportError:  # pragma: no cover - older WTForms take (value, label) pairs
    SelectChoice = None

from feedback.definition.model import Question, Survey
from feedback.engine import prompts
from feedback.engine.interview import State, choice_order

SCALE_TYPES = ("nps", "csat", "ces", "rating")
GROUP_TYPES = (*SCALE_TYPES, "yes_no", "single_choice", "multiple_choice")


def field_name(qid: str) -> str:
    return f"q_{qid}"


class PageForm(FlaskForm):
    """Base of the generated page forms."""

    class Meta:
        # Values are checked by the engine; WTForms only renders and reads them, so its own
        # (validator) messages are never shown and need no catalogue.
        csrf = True

        def get_translations(self, form: Any) -> None:
            return None


def _choice(value: str, label: str) -> Any:
    return SelectChoice(value, label) if SelectChoice is not None else (value, label)


def _number(value: float | None) -> str | None:
    if value is None:
        return None
    return str(int(value)) if float(value).is_integer() else str(value)


def make_field(survey: Survey, q: Question, state: State) -> Field:
    locale = state.locale
    if q.type in SCALE_TYPES:
        lo, hi = q.scale_range or (1, 5)
        return RadioField(choices=[_choice(str(n), str(n)) for n in range(lo, hi + 1)], validate_choice=False)
    if q.type == "yes_no":
        return RadioField(choices=[_choice("yes", _("Yes")), _choice("no", _("No"))], validate_choice=False)
    if q.type == "single_choice":
        return RadioField(
            choices=[_choice(c.code, survey.text(c.label, locale)) for c in prompts.ordered_choices(q, choice_order(state, q))],
            validate_choice=False,
        )
    if q.type == "multiple_choice":
        return SelectMultipleField(
            choices=[_choice(c.code, survey.text(c.label, locale)) for c in prompts.ordered_choices(q, choice_order(state, q))],
            widget=ListWidget(prefix_label=False),
            option_widget=CheckboxInput(),
            validate_choice=False,
        )
    if q.type == "number":
        step = "1" if q.integer else "any"
        return StringField(widget=NumberInput(step=step, min=_number(q.min), max=_number(q.max)))
    return TextAreaField(render_kw={"maxlength": q.max_length, "rows": 4})


def stored_value(q: Question, value: Any) -> Any:
    """An answer as the form shows it (radio value, checkbox codes, text)."""
    if value is None:
        return None
    if q.type == "yes_no":
        return "yes" if value else "no"
    if q.type == "multiple_choice":
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def posted_value(q: Question, form: MultiDict[str, str]) -> Any:
    """The value a question's field posted: a list for multiple choice, else text."""
    name = field_name(q.id)
    if q.type == "multiple_choice":
        return [v for v in form.getlist(name) if v]
    return form.get(name, "")


def build_form(
    survey: Survey,
    state: State,
    questions: Sequence[Question],
    *,
    prefill: Mapping[str, Any] | None = None,
    formdata: MultiDict[str, str] | None = None,
) -> PageForm:
    """A form for the questions of one page, filled with ``formdata`` (a re-shown post)
    or else with ``prefill`` (stored answers, keyed by question id)."""
    attrs = {field_name(q.id): make_field(survey, q, state) for q in questions}
    form_class = type("SurveyPageForm", (PageForm,), attrs)
    data = {
        field_name(q.id): stored_value(q, (prefill or {}).get(q.id))
        for q in questions
        if (prefill or {}).get(q.id) is not None
    }
    return form_class(formdata=formdata, data=data)


@dataclass
class QuestionView:
    """Everything a template needs to show one question."""

    id: str
    type: str
    field: Any
    text: str
    required: bool
    help: str = ""
    error: str = ""
    hidden: bool = False
    placeholder: str = ""
    unit: str = ""
    labels: tuple[str, str] | None = None
    max_length: int | None = None
    points: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def group(self) -> bool:
        return self.type in GROUP_TYPES

    @property
    def scale(self) -> bool:
        return self.type in SCALE_TYPES or self.type == "yes_no"

    @property
    def anchor(self) -> str:
        return f"question-{self.id}"

    @property
    def error_id(self) -> str:
        return f"{self.field.id}-error"

    @property
    def help_id(self) -> str:
        return f"{self.field.id}-help"

    @property
    def note_id(self) -> str:
        return f"{self.field.id}-note"

    @property
    def describedby(self) -> str:
        ids = []
        if self.help:
            ids.append(self.help_id)
        if self.type == "multiple_choice":
            ids.append(self.note_id)
        if self.max_length and self.type == "text":
            ids.append(f"{self.field.id}-count")
        if self.error:
            ids.append(self.error_id)
        return " ".join(ids)

    @property
    def attrs_html(self) -> Markup:
        """:meth:`input_attrs` as HTML attributes (escaped), written once per question."""
        parts = []
        for key, value in self.input_attrs().items():
            parts.append(f" {key}" if value is True else f' {key}="{escape(value)}"')
        return Markup("".join(parts))

    def input_attrs(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        if self.describedby:
            attrs["aria-describedby"] = self.describedby
        if self.error:
            attrs["aria-invalid"] = "true"
        if self.required and not self.group:
            attrs["aria-required"] = "true"
        if self.hidden:
            attrs["disabled"] = True
        if self.placeholder:
            attrs["placeholder"] = self.placeholder
        return attrs
