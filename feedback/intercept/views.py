"""HTTP endpoints of the web intercept.

* ``GET /intercept.js``: the loader a site embeds (``<script src=... data-site="KEY" async>``);
* ``GET /intercept/overlay.js``: the overlay, loaded by the loader only when a rule fires;
* ``GET /intercept/v1/config?site=KEY``: the rules of the site's surveys (JSON);
* ``POST /intercept/v1/open``: a rule fired; the server decides and returns the survey URL;
* ``POST /intercept/v1/displays/<id>``: the visitor answered or closed the survey;
* ``GET /intercept/demo?site=KEY``: a page with the script tag, to try a site's rules.

The JSON endpoints are called from other origins (the customer's site): they answer with
CORS headers for the site's allowed origins and never use cookies.
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from flask_babel import gettext as _

from feedback.errors import BadRequest, Forbidden, NotFound
from feedback.i18n import tr
from feedback.store.models import InterceptSite, db

from . import operations as iops

bp = Blueprint("intercept", __name__, template_folder="templates")
STATIC = Path(__file__).parent / "static"
SCRIPTS = {"intercept.js": "loader.js", "overlay.js": "overlay.js"}


# -- scripts -------------------------------------------------------------------------------------


def minify(source: str) -> str:
    """Drop whole-line comments, indentation and blank lines: safe for our own scripts
    (nothing is rewritten inside a line), and the readable file stays the source."""
    out, in_block = [], False
    for line in source.splitlines():
        text = line.strip()
        if in_block:
            in_block = "*/" not in text
            continue
        if text.startswith("/*"):
            in_block = "*/" not in text
            continue
        if not text or text.startswith("//"):
            continue
        out.append(text)
    return "\n".join(out) + "\n"


@lru_cache(maxsize=8)
def _script(name: str) -> tuple[bytes, bytes, str]:
    raw = minify((STATIC / name).read_text(encoding="utf-8")).encode("utf-8")
    import hashlib

    return raw, gzip.compress(raw, 9, mtime=0), hashlib.sha256(raw).hexdigest()[:16]


def _serve_script(name: str, max_age: int) -> Response:
    if current_app.debug:
        _script.cache_clear()
    raw, packed, etag = _script(name)
    use_gzip = "gzip" in request.headers.get("Accept-Encoding", "").lower()
    body = packed if use_gzip else raw
    resp = Response(body, mimetype="text/javascript")
    if use_gzip:
        resp.headers["Content-Encoding"] = "gzip"
    resp.headers["Vary"] = "Accept-Encoding"
    resp.headers["Cache-Control"] = f"public, max-age={max_age}"
    resp.headers["Access-Control-Allow-Origin"] = "*"
    resp.set_etag(etag + ("-gz" if use_gzip else ""))
    resp.make_conditional(request)  # changes resp in place (a 304 or a range)
    return resp


@bp.get("/intercept.js")
def loader() -> Response:
    # Short cache: the URL has no version, and sites never change their script tag.
    return _serve_script("loader.js", 300)


@bp.get("/intercept/overlay.js")
def overlay() -> Response:
    return _serve_script("overlay.js", 3600)


# -- CORS for the JSON endpoints ------------------------------------------------------------------


def _cors(resp: Response, site: InterceptSite | None = None) -> Response:
    origin = request.headers.get("Origin")
    if origin and (site is None or iops.origin_allowed(site, origin)):
        resp.headers["Access-Control-Allow-Origin"] = origin
    resp.headers.add("Vary", "Origin")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _json(data: Any, status: int = 200, site: InterceptSite | None = None) -> Response:
    resp = jsonify(data)
    resp.status_code = status
    return _cors(resp, site)


def _error(status: int, code: str, message: str, site: InterceptSite | None = None) -> Response:
    return _json({"error": code, "message": message}, status, site)


@bp.after_request
def _preflight(resp: Response) -> Response:
    """CORS preflight of the JSON endpoints (the loader avoids it, other callers may not)."""
    if request.method != "OPTIONS" or not request.path.startswith("/intercept/v1/"):
        return resp
    resp = Response(status=204)
    origin = request.headers.get("Origin")
    if origin:
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST"
        resp.headers["Access-Control-Allow-Headers"] = "Content-Type"
        resp.headers["Access-Control-Max-Age"] = "86400"
    resp.headers["Vary"] = "Origin"
    return resp


def _site(key: Any) -> InterceptSite | Response:
    """The site of a key, or the JSON error response to return."""
    if not key or not isinstance(key, str):
        return _error(400, "missing_site", "site is missing: the loader sends the script tag's data-site key")
    try:
        site = iops.site_by_key(key)
    except NotFound as e:
        return _error(404, "unknown_site", e.message)
    if not iops.origin_allowed(site, request.headers.get("Origin")):
        return _error(
            403, "origin_not_allowed",
            f"this site key may not be used from {request.headers.get('Origin')}; "
            f"add the origin with `feedback sites update {site.name} --origin ...`",
        )
    return site


def _body() -> dict[str, Any]:
    """A JSON object body, whatever the content type (the loader sends text/plain to avoid
    a CORS preflight)."""
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


# -- the loader's API -----------------------------------------------------------------------------


@bp.get("/intercept/v1/config")
def config() -> Response:
    site = _site(request.args.get("site"))
    if isinstance(site, Response):
        return site
    identity = iops.read_identity(
        site, {"id": request.args.get("contact"), "hash": request.args.get("hash")}
        if request.args.get("contact") else None,
    )
    data = iops.config_for(site, visitor=request.args.get("visitor"), identity=identity)
    db.session.rollback()
    return _json(data, site=site)


@bp.post("/intercept/v1/open")
def open_() -> Response:
    try:
        body = _body()
    except BadRequest as e:
        return _error(400, "bad_request", e.message)
    site = _site(body.get("site"))
    if isinstance(site, Response):
        return site
    survey_id = body.get("survey")
    if not isinstance(survey_id, str) or not survey_id:
        return _error(400, "bad_request", "survey is missing", site)
    identity = iops.read_identity(site, body.get("contact"))
    try:
        decision = iops.open_survey(
            site, survey_id, visitor=body.get("visitor"), page_url=body.get("page_url"),
            locale=body.get("locale"), identity=identity,
        )
    except NotFound as e:
        return _error(404, "unknown_survey", e.message, site)
    except (BadRequest, Forbidden) as e:
        db.session.rollback()
        return _error(400, "bad_request", e.message, site)
    if not decision.open:
        out = {"open": False, "reason": decision.reason, "message": decision.message}
        return _json(out, site=site)
    assert decision.display is not None and decision.site_survey is not None
    locale = decision.locale
    survey = decision.site_survey.compiled.survey
    out = {
        "open": True,
        "display": decision.display.id,
        "url": _survey_url(decision, body.get("page_url")),
        "locale": locale,
        "lang": locale,
        "title": survey.text(survey.title, locale),
        "close": tr(locale, "Close the survey"),
        "loading": tr(locale, "Loading the survey…"),
        "place": decision.site_survey.section.get("placement", "center"),
        "identified": decision.contact is not None,
    }
    if identity.problem:
        out["identity_problem"] = identity.problem
    return _json(out, site=site)


def _survey_url(decision: iops.Decision, page_url: Any) -> str:
    """The web channel's embed mode: ``/s/<id>`` for an anonymous visitor, a personal
    ``/i/<token>`` link for an identified contact (so the answers are linked to them)."""
    assert decision.display is not None
    survey_id = decision.display.survey_id
    query = {"embed": "1", "lang": decision.locale, "src": "intercept", "display": decision.display.id}
    if page_url:
        query["page_url"] = str(page_url)[: iops.MAX_URL]
    if decision.contact is not None:
        from channels.web.tokens import make_invitation_token

        token = make_invitation_token(
            survey_id, contact_id=None if decision.invitation_id else decision.contact.id,
            invitation_id=decision.invitation_id, locale=decision.locale,
        )
        return f"/i/{token}?{urlencode(query)}"
    return f"/s/{survey_id}?{urlencode(query)}"


@bp.post("/intercept/v1/displays/<display_id>")
def display(display_id: str) -> Response:
    try:
        body = _body()
        shown = iops.close_display(display_id, str(body.get("status") or ""), visitor=body.get("visitor"))
    except NotFound as e:
        return _error(404, "unknown_display", e.message)
    except BadRequest as e:
        return _error(400, "bad_request", e.message)
    return _json({"display": shown.id, "status": shown.status})


# -- a page to try a site's rules ------------------------------------------------------------------


@bp.get("/intercept/demo")
def demo() -> Any:
    key = request.args.get("site", "")
    site = db.session.scalar(db.select(InterceptSite).where(InterceptSite.key == key)) if key else None
    if site is None:
        raise NotFound(_("Open this page with ?site=KEY (the key printed by `feedback sites create NAME`)."))
    surveys = iops.site_surveys(site)
    identify = None
    contact = request.args.get("contact")
    if contact and site.trust_identity:
        # Only a site that trusts unsigned ids: this page must never sign ids for anyone.
        identify = {"id": contact}
    lang = request.args.get("lang") or "en"
    return render_template(
        "intercept/demo.html",
        site=site,
        surveys=surveys,
        identify=json.dumps(identify) if identify else None,
        lang=lang,
    )
