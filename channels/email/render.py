"""An invitation (or reminder) email: subject, HTML and text, in the contact's locale.

The first question is embedded when its type allows it (nps, csat, ces, rating, yes/no,
single choice): every option is a link ``/i/<token>?q=<question>&a=<value>`` that records
that answer (modality ``email``) and opens the rest of the survey on the web. The HTML is
built for mail clients: nested tables, inline styles, no images, no scripts, no web fonts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape

from feedback.definition.loader import CompiledSurvey
from feedback.definition.model import Question
from feedback.engine import prompts
from feedback.engine.interview import Interview, QuestionAsked, choice_order
from feedback.i18n import tr

EMBEDDABLE = ("nps", "csat", "ces", "rating", "yes_no", "single_choice")
#: How messages are written: CRLF, header lines up to RFC 5322's 998 characters (so a long
#: List-Unsubscribe URL goes out as it is, not folded into RFC 2047 encoded-words that mail
#: clients do not read there), and bodies in 7-bit transfer encodings for any server.
MAIL_POLICY = email_policy.SMTP.clone(max_line_length=998, cte_type="7bit")
TEMPLATES = Path(__file__).parent / "templates" / "email"

_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html"], default_for_string=False, default=False),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass
class Option:
    value: str
    label: str
    url: str


@dataclass
class Rendered:
    subject: str
    html: str
    text: str
    locale: str
    question_id: str | None = None
    options: list[Option] = field(default_factory=list)
    survey_url: str = ""
    unsubscribe_url: str = ""


def first_question(compiled: CompiledSurvey, context: Mapping[str, Any], locale: str) -> tuple[Question, str, list[str]] | None:
    """The question the survey opens with for this context (show_if applied): the
    question, its text for email, and its choice order."""
    it = Interview(compiled)
    state, events = it.start(context, channel="email", locale=locale, seed=0)
    asked = next((e for e in events if isinstance(e, QuestionAsked)), None)
    if asked is None:
        return None
    q = it.question(asked.question_id)
    return q, asked.text, choice_order(state, q)


def embedded_options(compiled: CompiledSurvey, q: Question, locale: str, order: list[str]) -> list[tuple[str, str]]:
    """(value, label) of each answer that can be clicked in the email, or [] when the
    question cannot be answered with one click."""
    survey = compiled.survey
    if q.type not in EMBEDDABLE:
        return []
    if q.type == "yes_no":
        return [("yes", tr(locale, "Yes")), ("no", tr(locale, "No"))]
    if q.type == "single_choice":
        return [(c.code, survey.text(c.label, locale)) for c in prompts.ordered_choices(q, order)]
    lo, hi = q.scale_range or (0, 0)
    if hi - lo > 10:
        return []
    return [(str(i), str(i)) for i in range(lo, hi + 1)]


def _scope(context: Mapping[str, Any], locale: str) -> dict[str, Any]:
    return {
        "answers": {},
        "contact": dict(context.get("contact") or {}),
        "event": dict(context.get("event") or {}),
        "channel": "email",
        "locale": locale,
    }


def render_invitation(
    compiled: CompiledSurvey,
    *,
    context: Mapping[str, Any],
    locale: str | None,
    survey_url: str,
    unsubscribe_url: str,
    reminder: bool = False,
) -> Rendered:
    """Subject, HTML and text of the invitation for this survey, context and locale."""
    survey = compiled.survey
    loc = survey.pick_locale(locale or (context.get("contact") or {}).get("locale"))
    scope = _scope(context, loc)
    title = prompts.render_text(survey, survey.text(survey.title, loc), loc, scope)
    if survey.email.subject is not None:
        subject = prompts.render_text(survey, survey.text(survey.email.subject, loc), loc, scope)
    else:
        subject = tr(loc, "We'd like your feedback: %(title)s", title=title)
    subject = " ".join(subject.split())
    if reminder:
        subject = tr(loc, "Reminder: %(subject)s", subject=subject)
    intro = prompts.render_text(survey, survey.text(survey.intro, loc), loc, scope) if survey.intro else ""

    question_id = None
    question_text = ""
    options: list[Option] = []
    labels: tuple[str, str] | None = None
    layout = "list"
    first = first_question(compiled, context, loc) if survey.email.embed_first_question else None
    if first is not None:
        q, text, order = first
        values = embedded_options(compiled, q, loc, order)
        if values:
            question_id = q.id
            question_text = text
            sep = "&" if "?" in survey_url else "?"
            options = [
                Option(v, label, f"{survey_url}{sep}{urlencode({'q': q.id, 'a': v}, quote_via=quote)}")
                for v, label in values
            ]
            if q.type not in ("yes_no", "single_choice"):
                layout = "scale"
                labels = prompts.end_labels(survey, q, loc)
            elif q.type == "yes_no":
                layout = "row"
    t = {
        "click": tr(loc, "Click your answer:"),
        "opens_rest": tr(loc, "Your answer is saved as soon as you click, and the rest of the survey opens in your browser."),
        "start": tr(loc, "Continue the survey") if options else tr(loc, "Start the survey"),
        "copy_link": tr(loc, "If the button does not work, copy this link into your browser:"),
        "why": tr(loc, "You are receiving this email because of your recent contact with us."),
        "unsubscribe": tr(loc, "Unsubscribe from survey emails"),
    }
    cell = max(8, int(100 / max(1, len(options)))) if layout == "scale" else 0
    variables = {
        "lang": loc,
        "subject": subject,
        "preheader": " ".join((intro or question_text or title).split())[:140],
        "title": title,
        "intro": intro,
        "question": question_text,
        "options": options,
        "layout": layout,
        "labels": labels,
        "cell_width": cell,
        "survey_url": survey_url,
        "unsubscribe_url": unsubscribe_url,
        "t": t,
    }
    html = _env.get_template("invitation.html").render(**variables)
    text = _env.get_template("invitation.txt").render(**variables)
    return Rendered(subject, html, text, loc, question_id, options, survey_url, unsubscribe_url)


def build_message(
    rendered: Rendered,
    *,
    to: str,
    sender: str,
    message_id: str,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """A multipart/alternative message (text first, then HTML) with List-Unsubscribe."""
    msg = EmailMessage(policy=MAIL_POLICY)
    msg["Subject"] = rendered.subject
    name, addr = parseaddr(sender)
    msg["From"] = formataddr((name, addr)) if addr else sender
    msg["To"] = to
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id
    msg["List-Unsubscribe"] = f"<{rendered.unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(rendered.text, subtype="plain", charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    msg["Content-Language"] = rendered.locale  # after the content: set_content clears Content-*
    return msg


def sender_domain(sender: str) -> str:
    _name, addr = parseaddr(sender)
    return addr.rpartition("@")[2] or "localhost"
