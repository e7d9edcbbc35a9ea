"""The web survey in a real browser (Debian's Chromium) on a phone-sized screen (360 x 740)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.conftest import free_port, make_app

pytestmark = pytest.mark.browser

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PHONE = {"width": 360, "height": 740}


@dataclass
class Server:
    app: Any
    url: str
    api_key: str

    def responses(self, survey_id: str) -> list[dict[str, Any]]:
        resp = self.app.test_client().get(
            f"/api/v1/surveys/{survey_id}/responses", headers={"Authorization": f"Bearer {self.api_key}"}
        )
        assert resp.status_code == 200
        return list(resp.json["responses"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, chromium_path: str) -> Iterator[Server]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = make_app(tmp_path_factory.mktemp("web-e2e"), "sqlite")
    with app.app_context():
        from feedback.store import operations as ops

        key = ops.create_api_key("web e2e")
    port = free_port()
    httpd = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield Server(app, f"http://127.0.0.1:{port}", key)
    finally:
        httpd.shutdown()
        from feedback.store.models import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A new respondent on a phone: 360 px wide, touch, Chinese preferred."""
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2, locale="zh-CN")
    page = ctx.new_page()
    page.set_default_timeout(8000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # Script errors and assets that fail to load (a refused form is the page's own status).
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.request.resource_type != "document" else None)
    yield page
    ctx.close()
    assert not errors, errors


def choose(page: Any, qid: str, value: str) -> None:
    """Tap the button of ``value`` on a question's scale (the transparent radio over its label)."""
    page.locator(f"input[name=q_{qid}][value='{value}']").tap()


def no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("document.documentElement.clientWidth")
    assert width <= viewport, f"the page is {width}px wide on a {viewport}px screen"


def test_complete_a_survey_in_chinese_on_a_phone_with_the_keyboard(server: Server, phone: Any) -> None:
    page = phone
    page.goto(f"{server.url}/s/post-purchase")  # Accept-Language: zh-CN
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.get_by_role("group", name=re.compile("^您对订单.*满意吗？")).wait_for()
    no_horizontal_scroll(page)

    # Keyboard only: Tab into the scale, arrow keys pick a score, Enter submits.
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "q_csat":
            break
    assert page.evaluate("document.activeElement.name") == "q_csat"
    outline = page.evaluate("getComputedStyle(document.activeElement.nextElementSibling).outlineStyle")
    assert outline != "none", "the focused scale button shows a focus ring"
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.value") == "5"
    page.keyboard.press("Enter")

    # csat 5: "what went wrong" is skipped; the next question is the yes/no.
    page.get_by_role("group", name=re.compile("^您会再次购买吗？")).wait_for()
    assert page.get_by_text("哪里出了问题？").count() == 0
    assert page.locator(".progress-label").inner_text().startswith("已完成")
    no_horizontal_scroll(page)
    page.get_by_role("radio", name="是").tap()
    page.get_by_role("button", name="下一步").click()

    # The optional comment is skipped (left empty).
    page.get_by_label("还有什么想告诉我们的吗？").wait_for()
    assert page.get_by_label("还有什么想告诉我们的吗？").get_attribute("placeholder") == "选填"
    no_horizontal_scroll(page)
    page.get_by_role("button", name="提交").click()

    page.get_by_role("heading", name="谢谢！").wait_for()
    assert page.get_by_text("谢谢！您的反馈帮助我们改进。").count() == 1
    no_horizontal_scroll(page)
    [resp] = server.responses("post-purchase")
    assert resp["status"] == "complete" and resp["locale"] == "zh-CN" and resp["channel"] == "web"
    assert {q: a["value"] for q, a in resp["answers"].items()} == {"csat": 5, "repurchase": True}


def test_reload_half_way_and_resume(server: Server, phone: Any) -> None:
    page = phone
    page.goto(f"{server.url}/s/support-call?lang=zh-CN")
    choose(page, "nps", "3")
    page.get_by_role("button", name="下一步").click()
    reason = page.get_by_label("您打 3 分的主要原因是什么？")
    reason.wait_for()
    reason.fill("等了太久")

    page.reload()  # the typed text was not sent; the score was
    page.get_by_label("您打 3 分的主要原因是什么？").wait_for()
    [resp] = server.responses("support-call")
    assert resp["status"] == "partial" and resp["answers"]["nps"]["value"] == 3

    # Closing the tab and coming back later also resumes.
    page.goto("about:blank")
    page.goto(f"{server.url}/s/support-call")
    page.get_by_label("您打 3 分的主要原因是什么？").fill("等了太久")
    page.get_by_role("button", name="下一步").click()
    page.get_by_role("group", name=re.compile("^您的问题在这次通话中解决了吗？")).wait_for()
    # Back shows the earlier answer again.
    page.get_by_role("button", name="上一步").click()
    assert page.get_by_label("您打 3 分的主要原因是什么？").input_value() == "等了太久"
    page.get_by_role("button", name="下一步").click()
    page.get_by_role("radio", name="否").tap()
    page.get_by_role("button", name="提交").click()
    page.get_by_role("heading", name="谢谢！").wait_for()
    [resp] = server.responses("support-call")
    assert resp["status"] == "complete"
    assert {q: a["value"] for q, a in resp["answers"].items()} == {"nps": 3, "reason": "等了太久", "resolved": False}


def test_conditional_question_appears_on_an_all_on_one_page(server: Server, phone: Any) -> None:
    page = phone
    page.goto(f"{server.url}/s/relationship-nps?lang=en")
    improve = page.get_by_label("What one thing should we improve first?")
    assert improve.is_hidden()
    no_horizontal_scroll(page)
    choose(page, "nps", "9")
    choose(page, "price", "2")  # price <= 2 makes it apply
    improve.wait_for(state="visible")
    choose(page, "price", "4")  # and no longer
    improve.wait_for(state="hidden")
    choose(page, "nps", "2")  # a detractor
    improve.wait_for(state="visible")
    improve.fill("Shorter queues")
    for q in ("wait_time", "agent_knowledge", "resolution"):
        choose(page, q, "3")
    no_horizontal_scroll(page)
    page.get_by_role("button", name="Submit").click()
    page.get_by_role("heading", name="Thank you!").wait_for()
    [resp] = server.responses("relationship-nps")
    assert resp["answers"]["improve"]["value"] == "Shorter queues"
    assert resp["answers"]["nps"]["value"] == 2 and resp["answers"]["price"]["value"] == 4


def test_missing_answer_is_announced_next_to_the_question(server: Server, phone: Any) -> None:
    page = phone
    page.goto(f"{server.url}/s/support-ticket?lang=en")
    page.get_by_role("button", name="Next").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "needs an answer" in alert.inner_text()
    focused = page.evaluate("document.activeElement.getAttribute('aria-describedby')")
    assert focused == "q_ces-error", "focus moves to the question that needs an answer"
    no_horizontal_scroll(page)


def test_form_without_its_csrf_token_is_refused(server: Server, phone: Any) -> None:
    page = phone
    page.goto(f"{server.url}/s/support-ticket?lang=zh-CN")
    choose(page, "ces", "6")
    page.evaluate("document.querySelector('input[name=csrf_token]').remove()")
    page.get_by_role("button", name="下一步").click()
    page.get_by_role("heading", name="请刷新页面").wait_for()
    assert page.get_by_text("此表单已过期或并非来自本网站").count() == 1
    no_horizontal_scroll(page)
    assert server.responses("support-ticket") == []
