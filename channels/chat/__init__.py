"""The chat channel: a JSON API for integrators' bots and the embeddable web chat widget.

* ``POST /chat/api/sessions`` and ``POST /chat/api/sessions/<id>/messages`` (session token),
  ``GET /chat/api/sessions/<id>``, ``POST /chat/api/sessions/<id>/end``,
  ``GET /chat/api/config`` (the widget's strings in the survey's language);
* ``GET /chat/widget.js`` + ``/chat/widget.css``: the widget, plain JavaScript;
* ``GET /chat/demo``: the widget on a sample shop page.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

bp = Blueprint(
    "chat", __name__, url_prefix="/chat", template_folder="templates",
    static_folder="static", static_url_path="/static",
)


def init_app(app: Any, csrf: Any) -> None:
    from . import api, views  # noqa: F401 - register the routes on bp

    app.register_blueprint(bp)
    csrf.exempt(bp)
