"""The web survey pages: ``/s/<survey_id>`` (anonymous link) and ``/i/<token>`` (personal link).

A thin adapter: the page posts form values, the engine (through the operations layer)
decides what they mean and what comes next, and this module renders the result. Every
answer is stored when its page is posted, so a respondent who leaves has a partial
response and finds the survey where they left it when they come back.

Idempotent: each form carries the engine step it was rendered at; a form posted twice (a
double click, a retried request, a stale tab) stores one answer.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from babel import Locale, UnknownLocaleError
from flask import (
    Response,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import (
    session as cookie_session,
)
from flask_babel import gettext as _
from flask_babel import refresh as refresh_babel

from feedback.definition.model import Question, Survey
from feedback.engine import interview as eng
from feedback.engine import prompts
from feedback.engine.pages import visible_questions
from feedback.errors import BadRequest, Forbidden, NotFound
from feedback.store import operations as ops
from feedback.store.models import Contact, Session, db, utcnow

from . import bp, tokens
from .forms import QuestionView, build_form, field_name, posted_value

MAX_PAGE_URL = 2000


class PageError(Exception):
    """A page the respondent cannot use, with a message in their language."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


@bp.errorhandler(PageError)
def _page_error(e: PageError) -> Any:
    return render_template("error.html", status=e.status, title=e.title, message=e.message), e.status


# -- where a page stands ------------------------------------------------------------------------


@dataclass
class Page:
    """One respondent's place in a survey: a stored session, or (anonymous, nothing
    answered yet) an interview started in memory only."""

    interview: eng.Interview
    state: eng.State
    session: Session | None
    endpoint: str  # "web.anonymous" | "web.invitation"
    route_args: dict[str, Any]
    embed: bool
    ticket: str | None = None
    intro: str = ""
    version_id: int | None = None  # of a page shown before its session exists

    @property
    def survey(self) -> Survey:
        return self.interview.survey

    @property
    def step(self) -> int:
        return self.session.step if self.session is not None else self.state.step

    def url(self, **params: Any) -> str:
        return url_for(self.endpoint, **self.route_args, **self.embed_params(), **params)

    def embed_params(self) -> dict[str, Any]:
        """Embedded pages sit in another site's iframe, where browsers do not send this
        site's cookies: an anonymous session is carried in the URL (``r``, signed) instead."""
        if not self.embed:
            return {}
        params: dict[str, Any] = {"embed": 1}
        if self.session is None and self.endpoint == "web.invitation" and _page_url():
            params["page_url"] = _page_url()  # kept until the first answer starts the session
        if self.session is not None and self.endpoint == "web.anonymous":
            params["r"] = tokens.make_resume_value(self.session.id)
        return params


def _embed() -> bool:
    return (request.args.get("embed") or "").lower() in ("1", "true", "yes")


def _page_url() -> str | None:
    """The page a survey was embedded on (``?page_url=``), when it is a web address."""
    value = (request.args.get("page_url") or "").strip()
    if not value or len(value) > MAX_PAGE_URL:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return value


def _survey_or_404(survey_id: str, channels: tuple[str, ...] = ("web",)) -> tuple[int, Survey]:
    try:
        version, compiled = ops.current_version(survey_id)
    except NotFound:
        raise PageError(404, _("Survey not found"), _("This survey does not exist or is no longer open.")) from None
    if not any(c in compiled.survey.channels for c in channels):
        raise PageError(404, _("Survey not found"), _("This survey is not available on the web."))
    return version.id, compiled.survey


# -- locale ------------------------------------------------------------------------------------------


def match_locale(survey: Survey, wanted: str | None) -> str | None:
    """The survey locale for ``wanted`` (exact, then same language), or None."""
    return ops.match_locale(survey.all_locales, wanted)


def requested_locale(survey: Survey) -> str | None:
    """``?lang=`` when the survey has it; it is remembered for the rest of the visit."""
    chosen = match_locale(survey, request.args.get("lang"))
    if chosen:
        cookie_session["lang"] = chosen
    return chosen


def choose_locale(survey: Survey, contact_locale: str | None = None) -> str:
    """``?lang=`` (kept in the visit), then the contact's locale, then Accept-Language."""
    for wanted in (requested_locale(survey), cookie_session.get("lang"), contact_locale):
        chosen = match_locale(survey, wanted)
        if chosen:
            return chosen
    for lang, _quality in request.accept_languages:
        chosen = match_locale(survey, lang)
        if chosen:
            return chosen
    return survey.default_locale


def set_ui_locale(locale: str) -> None:
    """Show the page's own words (buttons, hints, errors) in the survey session's locale."""
    if getattr(g, "locale", None) != locale:
        g.locale = locale
        refresh_babel()


@functools.lru_cache(maxsize=64)
def _language_name(code: str, others: tuple[str, ...]) -> str:
    try:
        loc = Locale.parse(code.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return code
    same_language = [o for o in others if o.split("-")[0] == code.split("-")[0]]
    name = (loc.get_display_name(loc) if len(same_language) > 1 else loc.get_language_name(loc)) or code
    return name[:1].upper() + name[1:]


# -- resuming ------------------------------------------------------------------------------------------


def _resume_days() -> float:
    return float(current_app.config.get("WEB_RESUME_DAYS") or 30)


def _cookie_session(survey_id: str) -> Session | None:
    if _embed():
        # Embedded pages use only the signed ``r`` of their URL (see Page.embed_params), never
        # the cookie: their forms have no cookie-bound CSRF check, so a cookie must not count.
        value = request.args.get("r")
    else:
        value = request.cookies.get(tokens.resume_cookie_name(survey_id))
    sid = tokens.read_resume_value(value, _resume_days())
    if not sid:
        return None
    try:
        session = ops.get_session(sid)
    except NotFound:
        return None
    if session.survey_id != survey_id or session.channel != "web":
        return None
    return session


def _set_resume_cookie(resp: Response, session: Session) -> None:
    resp.set_cookie(
        tokens.resume_cookie_name(session.survey_id),
        tokens.make_resume_value(session.id),
        max_age=int(_resume_days() * 86400),
        path=f"/s/{session.survey_id}",
        httponly=True,
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        samesite=current_app.config.get("SESSION_COOKIE_SAMESITE") or "Lax",
    )


def _page_for(session: Session, endpoint: str, route_args: dict[str, str]) -> Page:
    it = ops.interview_for(session.version_id)
    return Page(it, eng.State.from_dict(session.state), session, endpoint, route_args, _embed())


def _switch_locale(page: Page) -> Page:
    """Apply ``?lang=`` to a running session."""
    wanted = requested_locale(page.survey)
    if wanted and page.session is not None and page.session.status == "active" and wanted != page.state.locale:
        session = ops.set_locale(page.session.id, wanted)
        page.session = session
        page.state = eng.State.from_dict(session.state)
    return page


def _anonymous_page(survey_id: str, version_id: int, survey: Survey) -> Page:
    """A first page shown before any session exists (nothing is stored until an answer)."""
    locale = choose_locale(survey)
    seed = random.SystemRandom().randrange(2**31)
    fields = {"v": version_id, "seed": seed, "loc": locale, "page_url": _page_url(), "embed": _embed()}
    ticket = tokens.make_start_ticket(**{k: v for k, v in fields.items() if v not in (None, False)})
    return _ticket_page(survey_id, tokens.read_start_ticket(ticket, _resume_days()), ticket)


def _ticket_page(survey_id: str, ticket: dict[str, Any], raw_ticket: str) -> Page:
    """The first page of a start ticket, with the interview started in memory only."""
    version_id = ticket.get("v") if isinstance(ticket.get("v"), int) else None
    if version_id is None:
        version_id = ops.current_version(survey_id)[0].id
    it = ops.interview_for(version_id)
    seed = ticket["seed"] if isinstance(ticket.get("seed"), int) else None
    state, events = it.start({}, channel="web", locale=ticket.get("loc"), seed=seed)
    page = Page(it, state, None, "web.anonymous", {"survey_id": survey_id}, _embed(), ticket=raw_ticket,
                version_id=version_id)
    page.intro = next((e.intro for e in events if isinstance(e, eng.SurveyStarted)), "")
    return page


def _ticket_version(ticket: dict[str, Any]) -> int | None:
    version_id = ticket.get("v") if isinstance(ticket.get("v"), int) else None
    if version_id is not None:
        try:
            ops.compiled_version(version_id)
        except NotFound:
            version_id = None
    return version_id


def _start_anonymous(survey_id: str, ticket: dict[str, Any], inp: eng.Input) -> ops.Turn:
    """The session of a first page, started with its first answer (one session per start
    ticket, however many copies of the form are posted at once)."""
    meta: dict[str, Any] = {}
    if ticket.get("page_url"):
        meta["page_url"] = ticket["page_url"]
    if ticket.get("embed"):
        meta["embed"] = True
    return ops.start_with_input(
        survey_id,
        "web",
        inp,
        external_ref=f"anon:{ticket['n']}",
        locale=ticket.get("loc"),
        expires_at=utcnow() + dt.timedelta(days=_resume_days()),
        meta=meta,
        version_id=_ticket_version(ticket),
        seed=int(ticket["seed"]) if isinstance(ticket.get("seed"), int) else None,
    )


# -- rendering -------------------------------------------------------------------------------------


def _page_questions(page: Page, values: dict[str, Any] | None) -> list[tuple[Question, bool]]:
    """(question, hidden) for every question the page holds."""
    st = page.state
    if st.current is None:
        return []
    it = page.interview
    if page.survey.web.layout != "all_on_one":
        return [(it.question(st.current), False)]
    visible = set(visible_questions(it, st, values))
    ids = [q.id for q in page.survey.questions]
    start = ids.index(st.current)
    return [(q, q.id not in visible) for q in page.survey.questions[start:]]


def render_page(
    page: Page,
    *,
    errors: dict[str, str] | None = None,
    posted: bool = False,
    status: int = 200,
    notice: str = "",
) -> Any:
    st = page.state
    survey = page.survey
    locale = st.locale
    set_ui_locale(locale)
    if st.status == "complete":
        return _render_end(page, "web/thanks.html")
    if st.status != "active":
        return _render_end(page, "web/closed.html")

    errors = errors or {}
    values: dict[str, Any] | None = None
    if posted:
        values = {}
        for q in survey.questions:
            if field_name(q.id) in request.form:
                values[q.id] = posted_value(q, request.form)
    page_questions = _page_questions(page, values)
    form = build_form(
        survey,
        st,
        [q for q, _hidden in page_questions],
        prefill=st.answers,
        formdata=request.form if posted else None,
    )
    scope = st.scope()
    views: list[QuestionView] = []
    for q, hidden in page_questions:
        fld = form[field_name(q.id)]
        rng = q.scale_range
        view = QuestionView(
            id=q.id,
            type=q.type,
            field=fld,
            text=prompts.question_text(survey, q, "web", locale, scope),
            required=q.required,
            help=survey.text(q.help, locale) if q.help else "",
            error=errors.get(q.id, ""),
            hidden=hidden,
            placeholder=survey.text(q.web.placeholder, locale) if q.web.placeholder else "",
            unit=survey.text(q.unit, locale) if q.unit else "",
            labels=prompts.end_labels(survey, q, locale) if rng else None,
            max_length=q.max_length if q.type == "text" else None,
            points=(rng[1] - rng[0] + 1) if rng else (2 if q.type == "yes_no" else 0),
            extra={"integer": q.integer},
        )
        views.append(view)

    done, total = page.interview.progress(st)
    percent = int(round(100 * done / total)) if total else 0
    last_id = survey.questions[-1].id
    is_last = survey.web.layout == "all_on_one" or st.current == last_id
    intro = page.intro
    if not intro and not st.path and survey.intro is not None:
        intro = prompts.render_text(survey, survey.text(survey.intro, locale), locale, scope)
    languages = [
        {
            "code": loc,
            "name": _language_name(loc, tuple(survey.all_locales)),
            "url": page.url(lang=loc),
            "current": loc == locale,
        }
        for loc in survey.all_locales
    ]
    body = render_template(
        "web/survey.html",
        page=page,
        survey=survey,
        title=survey.text(survey.title, locale),
        intro=intro,
        form=form,
        questions=views,
        errors=errors,
        step=page.step,
        ticket=page.ticket,
        action=page.url(),
        visible_url=url_for(page.endpoint + "_visible", **page.route_args, **page.embed_params()),
        layout=survey.web.layout,
        show_progress=survey.web.show_progress,
        progress=percent,
        can_back=survey.web.allow_back and bool(st.path),
        submit_label=_("Submit") if is_last else _("Next"),
        languages=languages if len(languages) > 1 else [],
        embed=page.embed,
        notice=notice,
    )
    return body, status


def _render_end(page: Page, template: str) -> Any:
    st = page.state
    survey = page.survey
    outro = ""
    if template == "web/thanks.html" and survey.outro is not None:
        outro = prompts.render_text(survey, survey.text(survey.outro, st.locale), st.locale, st.scope())
    return render_template(
        template,
        title=survey.text(survey.title, st.locale),
        outro=outro,
        embed=page.embed,
        status=st.status,
    )


# -- posting -------------------------------------------------------------------------------------------


def _incomplete_form() -> PageError:
    return PageError(400, _("Please reload the page"), _("This form is incomplete or out of date. Please reload the page and try again."))


def _posted_step() -> int:
    raw = request.form.get("_step", "")
    if not raw.isdigit() or len(raw) > 9:
        raise _incomplete_form()
    return int(raw)


def _posted_input(page: Page) -> eng.Input:
    """The engine input of a posted form: Back, or the values of the questions it showed."""
    if request.form.get("_nav") == "back":
        return eng.Back()
    survey = page.survey
    values: dict[str, Any] = {}
    for qid in request.form.getlist("_q"):
        if survey.has_question(qid):
            values[qid] = posted_value(survey.question(qid), request.form)
    return eng.FormValues(values, modality="web")


def _refused_first_page(page: Page) -> Any | None:
    """A first page whose post would store nothing (an answer refused, Back) stores
    nothing: the page comes back (with its hints, checked by the engine in memory) and no
    session or response is created. None when the post answers something."""
    state, events = page.interview.resume(page.state, _posted_input(page))
    if any(isinstance(e, eng.AnswerAccepted | eng.QuestionSkipped | eng.SurveyCompleted | eng.SurveyEnded) for e in events):
        return None
    errors = {e.question_id: e.hint for e in events if isinstance(e, eng.Reprompt)}
    if not errors:
        return redirect(page.url(), code=303)
    return render_page(page, errors=errors, posted=True, status=422)


def handle_post(page: Page) -> Any:
    """Apply a posted page to its (stored) session; re-show it with hints, or move on."""
    assert page.session is not None
    session = page.session
    step = _posted_step()
    if session.status != "active":
        return redirect(page.url(), code=303)
    inp = _posted_input(page)
    return after_turn(page, ops.apply_input(session.id, inp, step=step), inp)


def after_turn(page: Page, turn: ops.Turn, inp: eng.Input) -> Any:
    """The answer to a posted page once its input was applied (or found applied before)."""
    page.session = turn.session
    page.state = eng.State.from_dict(turn.session.state)
    if turn.duplicate:
        if turn.first_input is not None and turn.first_input != ops.input_record(inp) and page.state.status == "active":
            # A page left open in another tab or window: its answer is for a question this
            # survey has moved past. Nothing is stored; the respondent sees where they are.
            return render_page(page, notice=_("This page was out of date: your survey had already moved on, "
                                              "maybe in another tab or window. Here is where you are now."),
                               status=409)
        return redirect(page.url(), code=303)
    errors = {e.question_id: e.hint for e in turn.events if isinstance(e, eng.Reprompt)}
    if errors:
        return render_page(page, errors=errors, posted=True, status=422)
    return redirect(page.url(), code=303)


def _visible_json(page: Page) -> Any:
    survey = page.survey
    values = {q.id: posted_value(q, request.form) for q in survey.questions if field_name(q.id) in request.form}
    return jsonify(visible=visible_questions(page.interview, page.state, values))


# -- anonymous link ----------------------------------------------------------------------------------


@bp.get("/s/<survey_id>")
def anonymous(survey_id: str) -> Any:
    version_id, survey = _survey_or_404(survey_id)
    session = _cookie_session(survey_id)
    if session is None:
        return render_page(_anonymous_page(survey_id, version_id, survey))
    return render_page(_switch_locale(_page_for(session, "web.anonymous", {"survey_id": survey_id})))


@bp.post("/s/<survey_id>")
def anonymous_post(survey_id: str) -> Any:
    _survey_or_404(survey_id)
    _posted_step()  # a malformed form starts nothing
    session: Session | None = None
    if "_start" in request.form:
        try:
            ticket = tokens.read_start_ticket(request.form.get("_start"), _resume_days())
        except BadRequest:
            raise _incomplete_form() from None
        session = ops.find_session("web", f"anon:{ticket['n']}")
        if session is None:
            session = _cookie_session(survey_id)
            if session is None or session.status != "active":
                first = _ticket_page(survey_id, ticket, request.form["_start"])
                refused = _refused_first_page(first)
                if refused is not None:
                    return refused
                inp = _posted_input(first)
                turn = _start_anonymous(survey_id, ticket, inp)
                page = _page_for(turn.session, "web.anonymous", {"survey_id": survey_id})
                resp = make_response(after_turn(page, turn, inp))
                if not _embed():
                    _set_resume_cookie(resp, turn.session)
                return resp
    else:
        session = _cookie_session(survey_id)
        if session is None:
            # The survey was left long ago (or cookies are off): start again.
            return redirect(url_for("web.anonymous", survey_id=survey_id, embed=1 if _embed() else None), code=303)
    page = _page_for(session, "web.anonymous", {"survey_id": survey_id})
    resp = make_response(handle_post(page))
    if not _embed():
        _set_resume_cookie(resp, session)
    return resp


@bp.post("/s/<survey_id>/visible")
def anonymous_visible(survey_id: str) -> Any:
    version_id, survey = _survey_or_404(survey_id)
    session = _cookie_session(survey_id)
    if session is None or session.status != "active":
        page = _anonymous_page(survey_id, version_id, survey)
    else:
        page = _page_for(session, "web.anonymous", {"survey_id": survey_id})
    return _visible_json(page)


# -- personal link -------------------------------------------------------------------------------------


def _invitation(token: str) -> dict[str, Any]:
    try:
        return tokens.read_invitation_token(token)
    except Forbidden as e:
        expired = "expired" in e.message
        raise PageError(
            403,
            _("This link has expired") if expired else _("This link is not valid"),
            _("This survey link has expired. Thank you for your interest.")
            if expired
            else _("This survey link is not valid. Please check that you copied the whole link."),
        ) from None


def _invitation_page_for(token: str, data: dict[str, Any]) -> Page:
    """Where a personal link stands: its stored session, or (nothing answered yet) its
    first page with the interview started in memory only. Refuses the link when its
    invitation was answered on another channel."""
    version_id, survey = _survey_or_404(data["survey_id"], ("web", "email"))
    session = ops.find_session("web", tokens.invitation_ref(data))
    _refuse_if_answered_elsewhere(data, session)
    if session is not None:
        return _page_for(session, "web.invitation", {"token": token})
    ticket: dict[str, Any] = {}
    raw = request.form.get("_start") if request.method == "POST" else None
    if raw:
        try:
            ticket = tokens.read_start_ticket(raw, _resume_days())
        except BadRequest:
            raise _incomplete_form() from None
    if isinstance(ticket.get("v"), int):
        version_id = _ticket_version(ticket) or version_id
    contact = _invitation_contact(data)
    locale = ticket.get("loc") or choose_locale(survey, data.get("locale") or (contact.locale if contact else None))
    it = ops.interview_for(version_id)
    seed = _invitation_seed(data)
    state, events = it.start(_invitation_context(data, contact), channel="web", locale=locale, seed=seed)
    raw_ticket = tokens.make_start_ticket(v=version_id, loc=state.locale)
    page = Page(it, state, None, "web.invitation", {"token": token}, _embed(), ticket=raw_ticket,
                version_id=version_id)
    page.intro = next((e.intro for e in events if isinstance(e, eng.SurveyStarted)), "")
    return page


def _invitation_contact(data: dict[str, Any]) -> Contact | None:
    return db.session.get(Contact, data["contact_id"]) if data.get("contact_id") is not None else None


def _invitation_context(data: dict[str, Any], contact: Contact | None) -> dict[str, Any]:
    """The engine context of a personal link (as the session will have it)."""
    ctx: dict[str, Any] = {"contact": contact.as_context() if contact is not None else {}, "event": {}}
    ctx["contact"].update(dict(data["context"].get("contact") or {}))
    ctx["event"].update(dict(data["context"].get("event") or {}))
    return ctx


def _invitation_seed(data: dict[str, Any]) -> int:
    """One order of randomised choices per link, the same on every view before the start."""
    digest = hashlib.sha256(tokens.invitation_ref(data).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % (2**31)


def _start_invitation(page: Page, data: dict[str, Any], inp: eng.Input) -> ops.Turn:
    """The session of a personal link, started with its first answer."""
    meta: dict[str, Any] = {}
    if data.get("invitation_id") is not None:
        meta["invitation_id"] = data["invitation_id"]
    page_url = _page_url()
    if page_url:
        meta["page_url"] = page_url
    if _embed():
        meta["embed"] = True
    return ops.start_with_input(
        data["survey_id"],
        "web",
        inp,
        external_ref=tokens.invitation_ref(data),
        locale=page.state.locale,
        contact=_invitation_contact(data),
        context=data["context"],
        expires_at=data["expires_at"],
        meta=meta,
        version_id=page.version_id,
        seed=_invitation_seed(data),
    )


def _refuse_if_answered_elsewhere(data: dict[str, Any], session: Session | None) -> None:
    """One response per invitation: a link whose invitation was answered on another
    channel (a text message, a call) shows a friendly page instead of a second survey."""
    if data.get("invitation_id") is None:
        return
    if session is not None and session.status == "complete":
        return  # answered here: the thank-you page
    from feedback.triggers.operations import answered_elsewhere

    if answered_elsewhere(data["invitation_id"], session.id if session is not None else None):
        raise PageError(
            409,
            _("You have already answered"),
            _("Thank you: we already have your answers to this survey, so there is nothing more to do here."),
        )


def _first_question(page: Page) -> str | None:
    """The first question this respondent was asked (the one an email link answers)."""
    st = page.state
    return st.path[0] if st.path else st.current


def _pre_answer(page: Page, data: dict[str, Any]) -> Any | None:
    """``?a=<value>`` (a score clicked in an email): answer the first question with modality
    ``email``. A later click replaces that answer as long as the respondent has not
    answered beyond the first question (an email scanner that fetched the link first
    does not fix the answer); the link never makes a second response. Returns a response
    to send, or None when there is nothing to do."""
    values = [v for v in request.args.getlist("a") if v != ""]
    if not values:
        return None
    st = page.state
    first = _first_question(page)
    wanted_q = request.args.get("q")
    if st.status != "active" or first is None or (wanted_q is not None and wanted_q != first):
        return redirect(page.url(), code=303)
    q = page.interview.question(first)
    inp = eng.FormValues({q.id: values if q.type == "multiple_choice" else values[0]}, modality="email")
    if page.session is None:
        refused = _refused_first_page_input(page, inp)
        if refused is not None:
            return refused
        turn = _start_invitation(page, data, inp)
        page = _page_for(turn.session, "web.invitation", page.route_args)
        return redirect(page.url(), code=303)
    if st.current == first and not st.path:
        turn = ops.apply_input(page.session.id, inp, step=page.session.step)
        page.session = turn.session
        page.state = eng.State.from_dict(turn.session.state)
        errors = {e.question_id: e.hint for e in turn.events if isinstance(e, eng.Reprompt)}
        if errors and not turn.duplicate:
            return render_page(page, errors=errors, status=422)
        return redirect(page.url(), code=303)
    if st.path == [first] and set(st.answers) <= {first}:
        _replace_first_answer(page, inp)
    return redirect(page.url(), code=303)


def _refused_first_page_input(page: Page, inp: eng.Input) -> Any | None:
    state, events = page.interview.resume(page.state, inp)
    if any(isinstance(e, eng.AnswerAccepted | eng.QuestionSkipped | eng.SurveyCompleted | eng.SurveyEnded) for e in events):
        return None
    errors = {e.question_id: e.hint for e in events if isinstance(e, eng.Reprompt)}
    return render_page(page, errors=errors, status=422)


def _replace_first_answer(page: Page, inp: eng.FormValues) -> None:
    """Answer the first question again (back to it, then the new answer): stored only
    when the engine accepts the new answer and it differs from the one stored."""
    assert page.session is not None
    it, st = page.interview, page.state
    back, _events = it.resume(st, eng.Back())
    after, events = it.resume(back, inp)
    accepted = [e for e in events if isinstance(e, eng.AnswerAccepted)]
    if not accepted or after.answers == st.answers:
        return
    turn = ops.apply_input(page.session.id, eng.Back(), step=page.session.step)
    if turn.duplicate:
        return
    ops.apply_input(page.session.id, inp, step=turn.state.step)


@bp.get("/i/<token>")
def invitation(token: str) -> Any:
    data = _invitation(token)
    page = _invitation_page_for(token, data)
    if page.session is not None:
        page = _switch_locale(page)
    pre = _pre_answer(page, data)
    if pre is not None:
        return pre
    return render_page(page)


@bp.post("/i/<token>")
def invitation_post(token: str) -> Any:
    data = _invitation(token)
    _posted_step()  # a malformed form starts nothing
    page = _invitation_page_for(token, data)
    if page.session is not None:
        return handle_post(page)
    refused = _refused_first_page(page)
    if refused is not None:
        return refused
    inp = _posted_input(page)
    turn = _start_invitation(page, data, inp)
    return after_turn(_page_for(turn.session, "web.invitation", {"token": token}), turn, inp)


@bp.post("/i/<token>/visible")
def invitation_visible(token: str) -> Any:
    data = _invitation(token)
    return _visible_json(_invitation_page_for(token, data))


# -- CSRF -----------------------------------------------------------------------------------------------

_FORM_POSTS = (anonymous_post, anonymous_visible, invitation_post, invitation_visible)


@bp.record_once
def _csrf_in_this_module(state: Any) -> None:
    """The application-wide CSRF check skips the survey forms; :func:`_csrf_unless_embedded`
    applies it to them, except on embedded pages."""
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        for view in _FORM_POSTS:
            csrf.exempt(view)


@bp.before_request
def _csrf_unless_embedded() -> None:
    """Embedded pages (``?embed=1``, e.g. the web intercept's overlay) live in another site's
    iframe, where browsers do not send this site's cookies, so a cookie-bound CSRF token
    cannot work there. Their forms are bound to a signed start ticket, resume token or
    personal link instead, which a third party cannot use to act for the respondent."""
    if _embed() or request.endpoint not in {f"web.{v.__name__}" for v in _FORM_POSTS}:
        return
    csrf = current_app.extensions.get("csrf")
    if csrf is not None and current_app.config.get("WTF_CSRF_ENABLED", True) and current_app.config.get(
        "WTF_CSRF_CHECK_DEFAULT", True
    ):
        csrf.protect()


# -- headers -------------------------------------------------------------------------------------------


@bp.after_request
def _headers(resp: Response) -> Response:
    """A strict content security policy: every script and style comes from this app.
    Embedded pages (``?embed=1``) may be framed by other sites; the others may not."""
    if _embed():
        ancestors = current_app.config.get("WEB_EMBED_FRAME_ANCESTORS") or "*"
    else:
        ancestors = "'self'"
        resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    resp.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
        f"frame-ancestors {ancestors}",
    )
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint and not request.endpoint.endswith("static"):
        resp.headers.setdefault("Cache-Control", "no-store")
    return resp


__all__ = ["choose_locale", "match_locale", "render_page"]
