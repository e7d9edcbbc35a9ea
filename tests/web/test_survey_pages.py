"""The web survey through the test client, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import load_variant
from .support import Respondent, read_page

#: Answers (form values) that complete each example survey, with the values stored.
SCRIPTS: dict[str, dict[str, dict[str, Any]]] = {
    "support-call": {
        "en": {"nps": "3", "reason": "The wait was far too long", "resolved": "yes"},
        "zh-CN": {"nps": "3", "reason": "等待时间太长了", "resolved": "no"},
    },
    "post-purchase": {
        "en": {"csat": "2", "issues": ["late", "damaged"], "repurchase": "no", "comment": "Box was crushed"},
        "zh-CN": {"csat": "2", "issues": ["late"], "repurchase": "yes", "comment": "包装破损"},
    },
    "relationship-nps": {
        "en": {"nps": "4", "wait_time": "2", "agent_knowledge": "4", "resolution": "3", "price": "5",
               "improve": "Answer the phone faster"},
        "zh-CN": {"nps": "4", "wait_time": "2", "agent_knowledge": "4", "resolution": "3", "price": "5",
                  "improve": "接电话更快一些"},
    },
    "support-ticket": {
        "en": {"ces": "3", "topic": "billing", "contacts": "4", "improve": "Call me back"},
        "zh-CN": {"ces": "3", "topic": "delivery", "contacts": "2", "improve": "请回电"},
    },
}

EXPECTED_TEXT = {
    "en": {"support-call": "How likely are you to recommend us", "post-purchase": "How satisfied are you",
           "relationship-nps": "How likely are you to recommend us", "support-ticket": "made it easy"},
    "zh-CN": {"support-call": "您有多大可能", "post-purchase": "满意吗", "relationship-nps": "您有多大可能",
              "support-ticket": "公司让我轻松地解决了问题"},
}


def typed(value: Any) -> Any:
    if isinstance(value, list):
        return value
    if value in ("yes", "no"):
        return value == "yes"
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def complete(r: Respondent, answers: dict[str, Any], *, max_pages: int = 12) -> list[list[str]]:
    """Answer every page until the thank-you page; returns the questions seen per page."""
    seen: list[list[str]] = []
    page = r.page
    assert page is not None
    for _ in range(max_pages):
        if page.is_thanks:
            return seen
        assert page.status == 200, page.html[:2000]
        visible = page.visible()
        assert visible, page.html[:2000]
        seen.append(visible)
        page = r.submit({qid: answers[qid] for qid in visible if qid in answers})
        assert not page.errors, page.errors
    raise AssertionError(f"not finished after {max_pages} pages: {seen}")


def stored(app: Any, survey_id: str) -> list[Any]:
    from feedback.store.models import Response

    with app.app_context():
        rows = Response.query.filter_by(survey_id=survey_id).order_by(Response.id).all()
        return [
            {
                "status": r.status, "channel": r.channel, "locale": r.locale, "meta": r.meta,
                "answers": {a.question_id: (a.value, a.modality) for a in r.answers},
            }
            for r in rows
        ]


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
@pytest.mark.parametrize("layout", ["one_per_page", "all_on_one"])
@pytest.mark.parametrize("survey_id", sorted(SCRIPTS))
def test_complete_every_web_survey(app: Any, respondent: Any, tmp_path: Path, survey_id: str, layout: str, locale: str) -> None:
    load_variant(app, tmp_path, survey_id, layout=layout)
    answers = SCRIPTS[survey_id][locale]
    r = respondent(f"/s/{survey_id}?lang={locale}")
    page = r.open()
    assert page.status == 200
    assert f'<html lang="{locale}">' in page.html
    first = page.questions[0]
    assert EXPECTED_TEXT[locale][survey_id] in first.text
    pages = complete(r, answers)
    if layout == "one_per_page":
        assert all(len(p) == 1 for p in pages)
    else:
        assert len(pages[0]) > 1
    assert r.page is not None and r.page.is_thanks
    thanks = r.page.texts.get("h1", "")
    assert thanks == ("谢谢！" if locale == "zh-CN" else "Thank you!")
    [resp] = stored(app, survey_id)
    assert resp["status"] == "complete"
    assert resp["channel"] == "web"
    assert resp["locale"] == locale
    assert {q: v for q, (v, _m) in resp["answers"].items()} == {q: typed(v) for q, v in answers.items()}
    assert {m for _v, m in resp["answers"].values()} == {"web"}


def web_surveys() -> list[str]:
    from feedback.definition.loader import load_file, survey_files
    from feedback.errors import DefinitionError
    from tests.conftest import SURVEY_DEFS

    out = []
    for path in survey_files([SURVEY_DEFS]):
        try:
            survey = load_file(path).survey
        except DefinitionError:
            continue
        if "web" in survey.channels or "email" in survey.channels:
            out.append(survey.id)
    return sorted(out)


def auto_answer(page: Any) -> dict[str, Any]:
    """A valid answer for every question shown: the top of a scale, the first option, yes."""
    out: dict[str, Any] = {}
    for q in page.questions:
        if q.hidden:
            continue
        kinds = {i.get("type") for i in q.inputs}
        if "checkbox" in kinds:
            out[q.qid] = [q.options()[0]]
        elif "radio" in kinds:
            opts = q.options()
            out[q.qid] = "yes" if "yes" in opts else opts[-1] if opts[0].isdigit() else opts[0]
        elif "number" in kinds:
            out[q.qid] = q.inputs[0].get("min") or "1"
        else:
            out[q.qid] = "好的 <ok>"
    return out


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
@pytest.mark.parametrize("survey_id", web_surveys())
def test_every_example_survey_can_be_completed(app: Any, respondent: Any, survey_id: str, locale: str) -> None:
    """Every example survey offered on the web (now and added later) runs to its thank-you page."""
    r = respondent(f"/s/{survey_id}?lang={locale}")
    page = r.open()
    for _ in range(15):
        if page.is_thanks:
            break
        assert page.status == 200 and page.visible(), page.html[:1500]
        assert f'<html lang="{locale}">' in page.html
        page = r.submit(auto_answer(page))
        assert not page.errors, page.errors
    assert page.is_thanks
    [resp] = stored(app, survey_id)
    assert resp["status"] == "complete" and resp["answers"]


def test_show_if_skips_a_question_that_does_not_apply(app: Any, respondent: Any) -> None:
    r = respondent("/s/support-call")
    r.open()
    page = r.submit({"nps": "10"})
    assert page.visible() == ["resolved"], "a promoter is not asked for a reason"
    page = r.submit({"resolved": "yes"})
    assert page.is_thanks
    [resp] = stored(app, "support-call")
    assert set(resp["answers"]) == {"nps", "resolved"}


def test_all_on_one_page_reveals_a_conditional_question(app: Any, client: Any, respondent: Any) -> None:
    """relationship-nps shows every question on one page; 'improve' depends on answers given
    on that same page. The page asks the server which questions apply as answers change."""
    r = respondent("/s/relationship-nps")
    page = r.open()
    assert page.visible() == ["nps", "wait_time", "agent_knowledge", "resolution", "price"]
    assert page.question("improve").hidden
    fields = {k: v for k, v in page.fields.items()}
    ask = dict(fields, q_nps=["9"], q_price=["4"])
    resp = client.post("/s/relationship-nps/visible", data=ask)
    assert resp.status_code == 200 and "improve" not in resp.json["visible"]
    ask = dict(fields, q_nps=["3"])
    resp = client.post("/s/relationship-nps/visible", data=ask)
    assert resp.json["visible"][-1] == "improve"
    ask = dict(fields, q_nps=["9"], q_price=["1"])
    assert client.post("/s/relationship-nps/visible", data=ask).json["visible"][-1] == "improve"
    # The script reveals the question and enables its field: all answers go in one post.
    data = dict(fields, q_nps=["3"], q_wait_time=["4"], q_agent_knowledge=["4"], q_resolution=["4"],
                q_price=["4"], q_improve=["More staff"])
    data["_q"] = ["nps", "wait_time", "agent_knowledge", "resolution", "price", "improve"]
    assert client.post("/s/relationship-nps", data=data).status_code == 303
    page = r.open()
    assert page.is_thanks
    [resp] = stored(app, "relationship-nps")
    assert resp["answers"]["improve"][0] == "More staff"


def test_all_on_one_without_script_asks_the_conditional_question_next(app: Any, respondent: Any) -> None:
    r = respondent("/s/relationship-nps")
    r.open()
    page = r.submit({"nps": "2", "wait_time": "3", "agent_knowledge": "3", "resolution": "3", "price": "3"})
    assert page.visible() == ["improve"]
    [resp] = stored(app, "relationship-nps")
    assert resp["status"] == "partial" and len(resp["answers"]) == 5


def test_all_on_one_error_keeps_what_was_accepted(app: Any, respondent: Any) -> None:
    r = respondent("/s/relationship-nps")
    r.open()
    page = r.submit({"wait_time": "3", "agent_knowledge": "5"})
    assert page.status == 422
    assert list(page.errors) == ["nps"]
    assert page.question("wait_time").checked() == ["3"], "the other answers stay filled in"
    page = r.submit({"nps": "9", "wait_time": "3", "agent_knowledge": "5", "resolution": "4", "price": "4"})
    assert page.is_thanks


def test_back_goes_to_the_previous_question_with_its_answer(app: Any, respondent: Any) -> None:
    r = respondent("/s/support-call")
    page = r.open()
    assert "back-form" not in page.forms, "no back link on the first question"
    r.submit({"nps": "5"})
    page = r.back()
    assert page.visible() == ["nps"]
    assert page.question("nps").checked() == ["5"]
    page = r.submit({"nps": "9"})
    assert page.visible() == ["resolved"]
    page = r.submit({"resolved": "no"})
    assert page.is_thanks
    [resp] = stored(app, "support-call")
    assert {q: v for q, (v, _m) in resp["answers"].items()} == {"nps": 9, "resolved": False}


def test_resume_after_leaving(app: Any, client: Any, api_key: str, respondent: Any) -> None:
    r = respondent("/s/post-purchase")
    r.open()
    r.submit({"csat": "5"})
    # Leave, come back later with the same browser: the survey continues where it was.
    again = respondent("/s/post-purchase")
    page = again.open()
    assert page.visible() == ["repurchase"]
    assert "25% complete" in page.html or "50% complete" in page.html
    # The partial response is already in the API.
    body = client.get("/api/v1/surveys/post-purchase/responses", headers={"Authorization": f"Bearer {api_key}"}).json
    [resp] = body["responses"]
    assert resp["status"] == "partial"
    assert resp["answers"]["csat"]["value"] == 5
    assert resp["answers"]["csat"]["modality"] == "web"
    page = again.submit({"repurchase": "yes"})
    page = again.submit({"comment": ""})
    assert page.is_thanks
    [resp] = stored(app, "post-purchase")
    assert resp["status"] == "complete" and set(resp["answers"]) == {"csat", "repurchase"}


def test_a_completed_survey_shows_the_thank_you_page_again(app: Any, respondent: Any) -> None:
    r = respondent("/s/support-call")
    r.open()
    r.submit({"nps": "10"})
    r.submit({"resolved": "yes"})
    page = r.open()
    assert page.is_thanks
    assert "Thank you for your feedback. Goodbye!" in page.html
    assert len(stored(app, "support-call")) == 1


def test_double_submit_stores_one_answer(app: Any, client: Any, respondent: Any) -> None:
    r = respondent("/s/support-call")
    page = r.open()
    data = {k: list(v) for k, v in page.fields.items()}
    data["q_nps"] = ["7"]
    first = client.post("/s/support-call", data=data)
    second = client.post("/s/support-call", data=data)
    assert first.status_code == second.status_code == 303
    page = r.open()
    assert page.visible() == ["reason"]
    data = {k: list(v) for k, v in page.fields.items()}
    data["q_reason"] = ["Slow"]
    assert client.post("/s/support-call", data=data).status_code == 303
    assert client.post("/s/support-call", data=data).status_code == 303
    [resp] = stored(app, "support-call")
    assert resp["answers"] == {"nps": (7, "web"), "reason": ("Slow", "web")}
    from feedback.store.models import Answer, Session

    with app.app_context():
        assert Answer.query.count() == 2
        assert Session.query.count() == 1


def test_a_stale_tab_shows_the_current_question_with_a_message(app: Any, client: Any, respondent: Any) -> None:
    r = respondent("/s/support-call")
    first = r.open()
    stale = {k: list(v) for k, v in first.fields.items()}
    r.submit({"nps": "4"})
    r.submit({"reason": "Slow"})
    stale["q_nps"] = ["9"]
    resp = client.post("/s/support-call", data=stale)
    assert resp.status_code == 409
    html = resp.get_data(as_text=True)
    assert "already moved on" in html
    page = read_page(resp.status_code, html)
    assert page.visible() == ["resolved"]
    [row] = stored(app, "support-call")
    assert row["answers"] == {"nps": (4, "web"), "reason": ("Slow", "web")}


def test_viewing_a_survey_stores_nothing(app: Any, respondent: Any) -> None:
    r = respondent("/s/support-call")
    r.open()
    r.open()
    assert stored(app, "support-call") == []


def test_form_without_csrf_token_is_refused(app: Any, respondent: Any) -> None:
    r = respondent("/s/support-call")
    r.open()
    page = r.submit({"nps": "8"}, drop=("csrf_token",))
    assert page.status == 400
    assert "reload the page" in page.html
    assert stored(app, "support-call") == []


def test_forged_start_ticket_and_step_are_refused(app: Any, respondent: Any) -> None:
    r = respondent("/s/support-call")
    page = r.open()
    page.fields["_start"] = ["forged"]
    assert r.submit({"nps": "8"}).status == 400
    r.open()
    r.page.fields["_step"] = ["x"]  # type: ignore[union-attr]
    assert r.submit({"nps": "8"}).status == 400
    assert stored(app, "support-call") == []


@pytest.mark.parametrize(
    ("answers", "qid", "hint"),
    [
        ({}, "nps", "This question needs an answer."),
        ({"nps": "11"}, "nps", "0 to 10"),
        ({"nps": "ten"}, "nps", "0 to 10"),
    ],
)
def test_invalid_answer_gets_an_accessible_hint(app: Any, respondent: Any, answers: dict[str, str], qid: str, hint: str) -> None:
    r = respondent("/s/support-call")
    r.open()
    page = r.submit(answers)
    assert page.status == 422
    assert hint in page.errors[qid]
    assert f'id="q_{qid}-error" role="alert"' in page.html
    assert f'aria-describedby="q_{qid}-error"' in page.html
    assert 'aria-invalid="true"' in page.html
    assert stored(app, "support-call") == [], "a refused first answer starts no response"
    page = r.submit({"nps": "6"})
    assert page.visible() == ["reason"]
    [resp] = stored(app, "support-call")
    assert resp["answers"] == {"nps": (6, "web")}


def test_number_and_text_limits(app: Any, respondent: Any, tmp_path: Path) -> None:
    r = respondent("/s/support-ticket")
    page = r.open()
    r.submit({"ces": "7"})
    page = r.submit({"topic": "account"})
    num = page.question("contacts")
    assert num.inputs[0]["type"] == "number"
    assert num.inputs[0]["min"] == "1" and num.inputs[0]["max"] == "20"
    page = r.submit({"contacts": "50"})
    assert page.status == 422 and "1 to 20" in page.errors["contacts"]
    assert page.question("contacts").inputs[0]["value"] == "50", "the refused value stays for correction"
    page = r.submit({"contacts": "2"})
    assert page.is_thanks


def test_text_answer_too_long(app: Any, respondent: Any) -> None:
    r = respondent("/s/support-call")
    r.open()
    page = r.submit({"nps": "1"})
    ta = page.question("reason").inputs[0]
    assert ta["maxlength"] == "500"
    page = r.submit({"reason": "x" * 501})
    assert page.status == 422 and "500" in page.errors["reason"]


def test_randomised_choices_keep_their_order_in_a_session(app: Any, respondent: Any) -> None:
    orders = set()
    for _ in range(6):
        r = respondent("/s/support-ticket")
        r.client.cookie_jar.clear() if hasattr(r.client, "cookie_jar") else None
        r.client.delete_cookie("fb_support-ticket", path="/s/support-ticket")
        r.open()
        page = r.submit({"ces": "6"})
        order = page.question("topic").options()
        assert sorted(order) == ["account", "billing", "delivery", "product"]
        again = r.open()
        assert again.question("topic").options() == order
        orders.add(tuple(order))
    assert len(orders) > 1, "topic has randomize: true"


def test_piped_answers_and_contact_fields_are_escaped(app: Any, respondent: Any) -> None:
    from channels.web.tokens import make_invitation_token

    with app.test_request_context():
        token = make_invitation_token(
            "support-ticket", context={"contact": {"first_name": "<script>alert(1)</script>"},
                                        "event": {"ticket_id": "<b>T-1</b>"}}
        )
    r = respondent(f"/i/{token}")
    page = r.open()
    assert "<script>alert(1)</script>" not in page.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.html
    assert "&lt;b&gt;T-1&lt;/b&gt;" in page.html
    assert page.texts["intro"].startswith("Hi <script>alert(1)</script>!")


def test_reply_with_markup_shows_as_text(app: Any, respondent: Any) -> None:
    r = respondent("/s/support-call")
    r.open()
    r.submit({"nps": "4"})
    page = r.back()
    page = r.submit({"nps": "4"})
    page = r.submit({"reason": "<script>alert('x')</script>"})
    page = r.back()
    assert "<script>alert('x')</script>" not in page.html
    assert page.question("reason").inputs[0]["value"] == "<script>alert('x')</script>"


@pytest.mark.parametrize(
    ("url", "headers", "expected"),
    [
        ("/s/support-call", {}, "en"),
        ("/s/support-call", {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}, "zh-CN"),
        ("/s/support-call", {"Accept-Language": "zh-TW"}, "zh-CN"),
        ("/s/support-call", {"Accept-Language": "fr-FR,fr;q=0.9"}, "en"),
        ("/s/support-call", {"Accept-Language": "fr, zh;q=0.5"}, "zh-CN"),
        ("/s/support-call?lang=en", {"Accept-Language": "zh-CN"}, "en"),
        ("/s/support-call?lang=zh_cn", {}, "zh-CN"),
        ("/s/support-call?lang=xx", {"Accept-Language": "zh-CN"}, "zh-CN"),
    ],
)
def test_locale_selection(app: Any, client: Any, url: str, headers: dict[str, str], expected: str) -> None:
    resp = client.get(url, headers=headers)
    assert f'<html lang="{expected}">' in resp.get_data(as_text=True)


def test_lang_is_kept_for_the_visit_and_beats_accept_language(app: Any, client: Any) -> None:
    client.get("/s/support-call?lang=zh-CN")
    html = client.get("/s/post-purchase", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "您对订单" in html
    assert "下一步" in html


def test_switching_language_half_way(app: Any, respondent: Any) -> None:
    r = respondent("/s/support-call")
    r.open()
    page = r.submit({"nps": "2"})
    assert "What is the main reason for your score of 2?" in page.question("reason").text
    page = r.open("/s/support-call?lang=zh-CN")
    assert "您打 2 分的主要原因是什么？" in page.question("reason").text
    page = r.submit({"reason": "太慢"})
    page = r.submit({"resolved": "yes"})
    assert page.is_thanks
    [resp] = stored(app, "support-call")
    assert resp["locale"] == "zh-CN"


def test_language_switcher_lists_the_survey_locales(app: Any, client: Any) -> None:
    html = client.get("/s/support-call").get_data(as_text=True)
    assert '<nav class="langs" aria-label="Language">' in html
    assert 'href="/s/support-call?lang=zh-CN" lang="zh-CN"' in html
    assert "中文" in html and "English" in html


def test_embed_mode_records_the_page_url(app: Any, respondent: Any, client: Any) -> None:
    r = respondent("/s/support-call?embed=1&page_url=https%3A%2F%2Fshop.example%2Fcart%3Fx%3D1")
    page = r.open()
    assert 'class="is-embed' in page.html
    assert "skip-link" not in page.html
    assert page.actions["survey"] == "/s/support-call?embed=1"
    resp = client.get("/s/support-call?embed=1")
    assert "frame-ancestors *" in resp.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in resp.headers
    normal = client.get("/s/support-call")
    assert normal.headers["X-Frame-Options"] == "SAMEORIGIN"
    page = r.submit({"nps": "10"})
    assert 'class="is-embed' in page.html
    [resp_row] = stored(app, "support-call")
    assert resp_row["meta"] == {"page_url": "https://shop.example/cart?x=1", "embed": True}


def test_page_url_must_be_a_web_address(app: Any, respondent: Any) -> None:
    r = respondent("/s/support-call?page_url=javascript:alert(1)")
    r.open()
    r.submit({"nps": "10"})
    [resp] = stored(app, "support-call")
    assert "page_url" not in resp["meta"]


def test_unknown_survey_is_a_translated_404_page(app: Any, client: Any) -> None:
    resp = client.get("/s/no-such-survey", headers={"Accept-Language": "zh-CN"})
    assert resp.status_code == 404
    html = resp.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "找不到问卷" in html
    assert 'href="/static/feedback.css"' in html


def test_error_pages_use_the_layout_in_the_visitors_language(app: Any, client: Any) -> None:
    resp = client.get("/no/such/page", headers={"Accept-Language": "zh-CN"})
    assert resp.status_code == 404
    html = resp.get_data(as_text=True)
    assert "页面不存在" in html and 'class="card"' in html
    resp = client.get("/no/such/page")
    assert "Page not found" in resp.get_data(as_text=True)


def test_progress_and_required_marker(app: Any, respondent: Any) -> None:
    r = respondent("/s/support-ticket")
    page = r.open()
    assert '<progress max="100" value="0"' in page.html
    assert 'class="req" aria-hidden="true">*</span><span class="sr-only"> (required)' in page.html
    page = r.submit({"ces": "6"})
    assert '<progress max="100" value="25"' in page.html


def test_static_assets_are_served_by_the_app(app: Any, client: Any) -> None:
    html = client.get("/s/support-call").get_data(as_text=True)
    assert "http" not in "".join(line for line in html.splitlines() if "<script" in line or "<link" in line)
    assert client.get("/static/feedback.css").status_code == 200
    assert client.get("/static/web/survey.js").status_code == 200


def test_embedded_survey_works_without_cookies(app: Any) -> None:
    """In another site's iframe the browser sends none of this site's cookies: the embedded
    page carries its session in a signed URL parameter instead, and needs no CSRF cookie."""
    client = app.test_client(use_cookies=False)
    r = Respondent(client, "/s/support-call?embed=1")
    r.open()
    page = r.submit({"nps": "4"}, drop=("csrf_token",))
    assert page.visible() == ["reason"]
    assert "&r=" in page.actions["survey"]
    page = r.submit({"reason": "slow"}, drop=("csrf_token",))
    page = r.submit({"resolved": "yes"}, drop=("csrf_token",))
    assert page.is_thanks
    [resp] = stored(app, "support-call")
    assert resp["status"] == "complete" and len(resp["answers"]) == 3


def test_embedded_form_ignores_the_resume_cookie(app: Any, client: Any, respondent: Any) -> None:
    r = respondent("/s/support-call")
    r.open()
    page = r.submit({"nps": "4"})
    data = {k: list(v) for k, v in page.fields.items()}
    data["q_reason"] = ["forged from another site"]
    data.pop("csrf_token")
    resp = client.post("/s/support-call?embed=1", data=data)
    assert resp.status_code == 303 and "/s/support-call" in resp.headers["Location"]
    [row] = stored(app, "support-call")
    assert set(row["answers"]) == {"nps"}


def test_tampered_embed_session_parameter_starts_afresh(app: Any) -> None:
    client = app.test_client(use_cookies=False)
    page = Respondent(client, "/s/support-call?embed=1&r=forged").open()
    assert page.visible() == ["nps"] and "_start" in page.fields


def test_survey_not_offered_on_the_web_is_404(app: Any, client: Any, tmp_path: Path) -> None:
    load_variant(app, tmp_path, "support-call", channels=["ivr", "sms"])
    resp = client.get("/s/support-call")
    assert resp.status_code == 404
    assert "not available on the web" in resp.get_data(as_text=True)


def test_select_all_that_apply_hint_describes_the_choices(app: Any, respondent: Any) -> None:
    import re

    r = respondent("/s/post-purchase")
    r.open()
    page = r.submit({"csat": "2"})
    assert page.visible() == ["issues"]
    note = re.search(r'<p class="q-note" id="([^"]+)">', page.html)
    assert note is not None
    boxes = re.findall(r'<input class="option-input" type="checkbox"[^>]*>', page.html)
    assert boxes and all(f'aria-describedby="{note.group(1)}' in b or note.group(1) in b for b in boxes)
