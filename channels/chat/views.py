"""The chat widget's files and the demo page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import abort, render_template, request, send_from_directory
from flask_babel import force_locale

from feedback.errors import FeedbackError
from feedback.store import operations as ops

from . import bp

STATIC = Path(__file__).parent / "static"


def _asset(name: str, mimetype: str) -> Any:
    resp = send_from_directory(STATIC, name, mimetype=mimetype, max_age=300)
    resp.headers["Access-Control-Allow-Origin"] = "*"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@bp.get("/widget.js")
def widget_js() -> Any:
    """The embeddable widget: ``<script src="/chat/widget.js" data-survey="..." async>``."""
    return _asset("widget.js", "text/javascript")


@bp.get("/widget.css")
def widget_css() -> Any:
    return _asset("widget.css", "text/css")


@bp.get("/demo")
def demo() -> Any:
    """A sample shop page with the widget, to try it and to show integrators how to embed it."""
    survey_id = request.args.get("survey", "support-ticket")
    try:
        _, compiled = ops.current_version(survey_id)
    except FeedbackError:
        abort(404, description=f"no survey '{survey_id}'")
    survey = compiled.survey
    locale = survey.pick_locale(request.args.get("locale") or None)
    ticket = request.args.get("ticket", "T-1042")[:40]
    context = {"event": {"ticket_id": ticket}}
    contact = {"first_name": request.args.get("name", "Ana" if not locale.startswith("zh") else "安娜")}
    with force_locale(locale.replace("-", "_")):
        return render_template(
            "chat/demo.html",
            survey=survey,
            locale=locale,
            ticket=ticket,
            context_json=json.dumps(context, ensure_ascii=False),
            contact_json=json.dumps(contact, ensure_ascii=False),
            other_locale=next((loc for loc in survey.all_locales if loc != locale), None),
        )
