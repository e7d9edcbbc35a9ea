"""The composition root: ``create_app()`` wires configuration, store, channels and API."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, g, jsonify, render_template, request
from flask_babel import Babel
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import inspect
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from feedback.config import load_config
from feedback.errors import BadRequest, FeedbackError, Forbidden, NotFound
from feedback.i18n import babel_locale
from feedback.store.models import db

log = logging.getLogger("feedback")
csrf = CSRFProtect()
babel = Babel()

_STATUS = {NotFound: 404, Forbidden: 403, BadRequest: 400}


def _select_locale() -> str:
    return babel_locale(getattr(g, "locale", None) or "en")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(load_config(app.instance_path, config))
    if app.config["TRUSTED_PROXIES"]:
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n)  # type: ignore[method-assign]

    db.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, default_translation_directories="translations")

    from channels.web import bp as web_bp
    from feedback.api import bp as api_bp

    app.register_blueprint(web_bp)
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)
    _register_optional_channels(app)
    _register_errors(app)

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    if app.config.get("LOAD_SURVEYS_ON_START") and app.config.get("SURVEY_DEFS"):
        with app.app_context():
            load_surveys_on_start(app)
    return app


def _register_optional_channels(app: Flask) -> None:
    """Channels added by later parts register themselves here when present."""
    import importlib

    for name in (
        "channels.ivr", "channels.sms", "channels.chat", "channels.email",
        "feedback.triggers", "feedback.intercept",
    ):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            raise
        init = getattr(module, "init_app", None)
        if init is not None:
            init(app, csrf)


def schema_ready() -> bool:
    try:
        return inspect(db.engine).has_table("surveys")
    except Exception:  # noqa: BLE001 - a database that is down is reported, not fatal
        log.exception("cannot reach the database")
        return False


def load_surveys_on_start(app: Flask) -> None:
    from pathlib import Path

    from feedback.store import operations as ops

    folder = Path(app.config["SURVEY_DEFS"])
    if not folder.exists():
        log.warning("SURVEY_DEFS folder %s does not exist; no surveys loaded", folder)
        return
    if not schema_ready():
        log.warning("the database has no tables yet; run `feedback db upgrade`")
        return
    report = ops.load_surveys([folder])
    for p in report.problems:
        log.error("skipped invalid survey: %s", p)
    app.extensions["feedback_load_report"] = report


def wants_json() -> bool:
    path = request.path
    if path.startswith(("/api/", "/chat/api/")):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def _register_errors(app: Flask) -> None:
    @app.errorhandler(FeedbackError)
    def feedback_error(e: FeedbackError) -> Any:
        status = next((code for cls, code in _STATUS.items() if isinstance(e, cls)), 400)
        if wants_json():
            return jsonify(error=e.code, message=e.message), status
        return render_template("error.html", status=status, message=e.message), status

    @app.errorhandler(CSRFError)
    def csrf_error(e: CSRFError) -> Any:
        from flask_babel import gettext as _

        message = _("This form has expired or was not sent by this site. Please reload the page and try again.")
        if wants_json():
            return jsonify(error="csrf", message=e.description), 400
        return render_template("error.html", status=400, message=message), 400

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Any:
        if wants_json():
            return jsonify(error=(e.name or "error").lower().replace(" ", "_"), message=e.description), e.code
        return render_template("error.html", status=e.code, message=e.description), e.code or 500

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        if wants_json():
            return jsonify(error="internal_error", message="Something went wrong on our side."), 500
        return render_template("error.html", status=500, message="Something went wrong on our side."), 500
