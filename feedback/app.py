"""The composition root: ``create_app()`` wires configuration, store, channels and API."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, g, jsonify, render_template, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel, Domain, get_locale
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

#: Locales with a catalogue (the UI can be shown in them).
UI_LOCALES = ("en", "zh-CN")


class _CatalogueDomain(Domain):
    """Flask-Babel reading the same catalogues as :func:`feedback.i18n.tr` (compiled in
    memory when the ``.mo`` file is missing or older than its ``.po``)."""

    def get_translations(self):  # type: ignore[no-untyped-def]
        from feedback.i18n import translations

        locale = get_locale()
        return translations(str(locale) if locale else "en")


class _Babel(Babel):
    @property
    def domain_instance(self):  # type: ignore[no-untyped-def, override]
        domain = self.__dict__.get("_catalogue_domain")
        if domain is None:
            domain = self.__dict__["_catalogue_domain"] = _CatalogueDomain()
        return domain


babel = _Babel()

_STATUS = {NotFound: 404, Forbidden: 403, BadRequest: 400}


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, with its signing serializer made once per key
    instead of on every request (Flask builds a new one each time a session is opened)."""

    def get_signing_serializer(self, app):  # type: ignore[no-untyped-def]
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = app.extensions.get("feedback_session_serializer")
        if cached is None or cached[0] != key:
            cached = (key, super().get_signing_serializer(app))
            app.extensions["feedback_session_serializer"] = cached
        return cached[1]


def _ui_locale(wanted: str | None) -> str | None:
    if not wanted or not isinstance(wanted, str):
        return None
    norm = wanted.replace("_", "-").lower()
    for loc in UI_LOCALES:
        if loc.lower() == norm or loc.split("-")[0] == norm.split("-")[0]:
            return loc
    return None


def request_locale() -> str:
    """The UI locale of a page that is not tied to a survey session: ``?lang=``, the
    visit's chosen language, then Accept-Language."""
    for wanted in (request.args.get("lang"), session.get("lang")):
        chosen = _ui_locale(wanted)
        if chosen:
            return chosen
    for lang, _quality in request.accept_languages:
        chosen = _ui_locale(lang)
        if chosen:
            return chosen
    return "en"


def _select_locale() -> str:
    locale = getattr(g, "locale", None)
    if not locale:
        try:
            locale = request_locale()
        except RuntimeError:  # outside a request
            locale = "en"
    return babel_locale(locale)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(load_config(app.instance_path, config))
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.session_interface = _SessionInterface()
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

    @app.context_processor
    def _page_globals() -> dict[str, Any]:
        return {"html_lang": getattr(g, "locale", None) or request_locale()}

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


def _error_title(status: int) -> str:
    from flask_babel import gettext as _

    titles = {
        400: _("Something is wrong with this request"),
        403: _("You cannot open this page"),
        404: _("Page not found"),
        405: _("This action is not allowed here"),
        413: _("Too much data was sent"),
        429: _("Too many requests"),
    }
    return titles.get(status, _("Something went wrong"))


def _error_message(status: int) -> str:
    from flask_babel import gettext as _

    messages = {
        404: _("The page you are looking for does not exist. Please check the address."),
        405: _("Please go back and try again."),
        413: _("Please send a shorter answer."),
        429: _("Please wait a moment and try again."),
    }
    return messages.get(status, _("Something went wrong on our side. Please try again in a moment."))


def error_page(status: int, message: str | None = None, title: str | None = None) -> Any:
    """The error page, in the respondent's language, with the site's layout."""
    body = render_template(
        "error.html", status=status, title=title or _error_title(status), message=message or _error_message(status)
    )
    return body, status


def _register_errors(app: Flask) -> None:
    @app.errorhandler(FeedbackError)
    def feedback_error(e: FeedbackError) -> Any:
        status = next((code for cls, code in _STATUS.items() if isinstance(e, cls)), 400)
        if wants_json():
            return jsonify(error=e.code, message=e.message), status
        return error_page(status, e.message)

    @app.errorhandler(CSRFError)
    def csrf_error(e: CSRFError) -> Any:
        from flask_babel import gettext as _

        message = _("This form has expired or did not come from this site. Please reload the page and try again.")
        if wants_json():
            return jsonify(error="csrf", message=e.description), 400
        return error_page(400, message, _("Please reload the page"))

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Any:
        status = e.code or 500
        if wants_json():
            return jsonify(error=(e.name or "error").lower().replace(" ", "_"), message=e.description), status
        return error_page(status)

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        if wants_json():
            return jsonify(error="internal_error", message="Something went wrong on our side."), 500
        return error_page(500)
