"""The unsubscribe page: ``GET /email/unsubscribe/<token>`` asks, ``POST`` records the email
opt-out. A ``POST`` with ``List-Unsubscribe=One-Click`` (RFC 8058, sent by mail clients
from the ``List-Unsubscribe-Post`` header) unsubscribes at once."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template, request
from flask_babel import gettext as _

from feedback.errors import Forbidden
from feedback.store import operations as ops
from feedback.store.models import Contact, db

from .tokens import read_unsubscribe_token

bp = Blueprint("email", __name__, url_prefix="/email", template_folder="templates")

UI_LOCALES = ("en", "zh-CN")


def _locale(wanted: str | None) -> str:
    for cand in (request.args.get("lang"), wanted):
        if cand:
            low = cand.replace("_", "-").lower()
            for loc in UI_LOCALES:
                if loc.lower() == low or loc.split("-")[0] == low.split("-")[0]:
                    return loc
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"])
    return "zh-CN" if best in ("zh-CN", "zh") else "en"


def _read(token: str) -> dict[str, Any] | None:
    try:
        return read_unsubscribe_token(token)
    except Forbidden:
        return None


def _contact(data: dict[str, Any]) -> Contact | None:
    contact = db.session.get(Contact, data["contact_id"]) if data.get("contact_id") is not None else None
    if contact is None:
        contact = ops.find_or_create_contact(email=data["email"])
    return contact


def _invalid() -> Any:
    g.locale = _locale(None)
    return render_template(
        "email/unsubscribe.html", state="invalid", email=None, token=None,
        title=_("This unsubscribe link is not valid"),
    ), 404


@bp.get("/unsubscribe/<token>")
def unsubscribe(token: str) -> Any:
    data = _read(token)
    if data is None:
        return _invalid()
    g.locale = _locale(data.get("locale"))
    contact = db.session.get(Contact, data["contact_id"]) if data.get("contact_id") is not None else None
    channels = {o.channel for o in contact.opt_outs} if contact is not None else set()
    done = bool(channels & {"email", "all"})
    return render_template(
        "email/unsubscribe.html", state="done" if done else "ask", email=data["email"], token=token,
        scope="all" if "all" in channels else "email",
        title=_("You are unsubscribed") if done else _("Unsubscribe"),
    )


@bp.post("/unsubscribe/<token>")
def unsubscribe_post(token: str) -> Any:
    data = _read(token)
    if data is None:
        return _invalid()
    g.locale = _locale(data.get("locale"))
    contact = _contact(data)
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    # One-click (RFC 8058) stops survey emails; the page may stop every channel.
    scope = "all" if not one_click and request.form.get("scope") == "all" else "email"
    channels = {o.channel for o in contact.opt_outs} if contact is not None else set()
    if contact is not None and "all" not in channels and scope not in channels:
        ops.record_opt_out(contact, scope, source="email one-click unsubscribe" if one_click else "email unsubscribe page")
    return render_template(
        "email/unsubscribe.html", state="done", email=data["email"], token=token, title=_("You are unsubscribed"),
        scope="all" if scope == "all" or "all" in channels else "email",
    )
