"""The chat JSON API (``/chat/api``). Errors are JSON with ``error`` and ``message``:
400 for a malformed request, 403 for a missing or wrong session token, 404 for an unknown
survey or session, 409 once the conversation has ended. Browsers on other sites may call
it (CORS, ``CHAT_ALLOWED_ORIGINS``); there are no cookies, the session token is the key."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request
from werkzeug.exceptions import Unauthorized

from feedback.errors import BadRequest
from feedback.i18n import tr
from feedback.store import operations as ops
from feedback.store.models import Session

from . import bp
from . import conversation as chat


@bp.after_request
def cors(resp: Response) -> Response:
    if not request.path.startswith("/chat/api/"):
        return resp
    origin = request.headers.get("Origin")
    allowed = str(current_app.config.get("CHAT_ALLOWED_ORIGINS") or "").split()
    if origin and ("*" in allowed or origin in allowed):
        resp.headers["Access-Control-Allow-Origin"] = "*" if "*" in allowed else origin
        resp.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization, X-Session-Token"
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        resp.headers["Access-Control-Max-Age"] = "600"
        if "*" not in allowed:
            resp.headers["Vary"] = "Origin"
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _payload() -> dict[str, Any]:
    data = request.get_json(force=True, silent=True)
    if data is None:
        raise BadRequest("the body must be JSON, e.g. {\"text\": \"...\"}")
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def _token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-Session-Token", "").strip()


def _body(reply: chat.Reply, **extra: Any) -> dict[str, Any]:
    s = reply.session
    out: dict[str, Any] = {
        "session_id": s.id,
        "status": s.status,
        "step": s.step,
        "locale": s.locale,
        "messages": reply.messages,
        "progress": chat.progress(s),
    }
    if reply.duplicate:
        out["duplicate"] = True
    out.update(extra)
    return out


def _finished(e: chat.Finished) -> tuple[Response, int]:
    s = e.session
    if e.expired:
        message = tr(s.locale, "This conversation expired. Please start a new one.")
    else:
        message = tr(s.locale, "This conversation has ended.")
    return jsonify(error="session_expired" if e.expired else "session_finished", message=message,
                   status=s.status, session_id=s.id), 409


def _identified() -> bool:
    """Whether the request carries a valid API key (``Authorization: Bearer <key>``): only
    then may it say which contact the conversation belongs to. A wrong key is refused
    rather than taken as anonymous, so an integrator notices it."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return False
    if ops.verify_api_key(value.strip()) is None:
        raise Unauthorized(description="this API key is not valid or has been revoked; without a key, leave out the "
                           "Authorization header (the contact fields are then only used for piping)")
    return True


@bp.post("/api/sessions")
def create_session() -> Any:
    payload = _payload()
    reply = chat.start(payload, identified=_identified())
    compiled = ops.compiled_version(reply.session.version_id)
    survey = compiled.survey
    loc = reply.session.locale
    body = _body(
        reply,
        token=reply.token,
        survey=survey.id,
        title=survey.text(survey.title, loc),
        bot_name=survey.text(survey.chat.bot_name, loc) if survey.chat.bot_name else None,
        expires_at=reply.session.expires_at.isoformat() + "Z" if reply.session.expires_at else None,
    )
    return jsonify(body), 201


@bp.get("/api/sessions/<session_id>")
def get_session(session_id: str) -> Any:
    session: Session = chat.authorise(session_id, _token())
    return jsonify(_body(chat.current(session)))


@bp.post("/api/sessions/<session_id>/messages")
def post_message(session_id: str) -> Any:
    session = chat.authorise(session_id, _token())
    payload = _payload()
    try:
        reply = chat.post(session, payload)
    except chat.Finished as e:
        return _finished(e)
    return jsonify(_body(reply))


@bp.post("/api/sessions/<session_id>/end")
def end_session(session_id: str) -> Any:
    session = chat.authorise(session_id, _token())
    session = chat.end(session)
    return jsonify(session_id=session.id, status=session.status)


@bp.get("/api/config")
def config() -> Any:
    """What the widget shows before a conversation starts, in the survey's language."""
    survey_id = request.args.get("survey", "").strip()
    if not survey_id:
        raise BadRequest("give the survey: /chat/api/config?survey=<id>&locale=<locale>")
    _, compiled = ops.current_version(survey_id)
    survey = compiled.survey
    if "chat" not in survey.channels:
        raise BadRequest(f"survey '{survey_id}' is not offered in chat; add chat to its channels")
    loc = survey.pick_locale(request.args.get("locale") or None)
    return jsonify(
        survey=survey.id,
        locale=loc,
        title=survey.text(survey.title, loc),
        bot_name=survey.text(survey.chat.bot_name, loc) if survey.chat.bot_name else None,
        strings=widget_strings(loc),
    )


def widget_strings(loc: str) -> dict[str, str]:
    return {
        "open": tr(loc, "Give feedback"),
        "close": tr(loc, "Close"),
        "send": tr(loc, "Send"),
        "send_selected": tr(loc, "Send selected"),
        "placeholder": tr(loc, "Type your answer…"),
        "typing": tr(loc, "Typing…"),
        "log": tr(loc, "Conversation"),
        "replies": tr(loc, "Quick replies"),
        "you": tr(loc, "You"),
        "error": tr(loc, "Sorry, your message could not be sent. Please try again."),
        "ended": tr(loc, "This conversation has ended."),
        "restart": tr(loc, "Start again"),
    }
