"""The chat widget in a real browser (Debian's Chromium): open it on the demo shop page,
answer by buttons and by typing, see the thank-you, find the response in the API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.conftest import free_port, make_app

pytestmark = pytest.mark.browser

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, str]]:
    app = make_app(tmp_path, "sqlite")
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        from feedback.store.models import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def responses(app: Any, base: str, survey: str) -> list[dict[str, Any]]:
    import requests

    from feedback.store import operations as ops

    with app.app_context():
        key = ops.create_api_key("widget test")
    r = requests.get(f"{base}/api/v1/surveys/{survey}/responses", headers={"Authorization": f"Bearer {key}"},
                     timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["responses"]


def test_answer_by_buttons_and_typing_and_find_the_response(served: tuple[Any, str], browser: Any) -> None:
    from playwright.sync_api import expect

    app, base = served
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/chat/demo")
    launcher = page.get_by_role("button", name="Give feedback")
    expect(launcher).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.click()
    dialog = page.get_by_role("dialog", name="Feedback assistant")
    expect(dialog).to_be_visible()
    log = page.get_by_role("log")
    expect(log).to_contain_text("Hi Ana! Your ticket T-1042 was closed.")
    expect(log).to_contain_text("The company made it easy for me to handle my issue.")
    # Focus is on the first quick reply, so a keyboard user can answer at once.
    expect(page.get_by_role("button", name="1", exact=True)).to_be_focused()

    page.get_by_role("button", name="2", exact=True).click()
    expect(log).to_contain_text("What was your ticket about?")
    page.get_by_role("button", name="Billing").click()
    expect(log).to_contain_text("How many times did you contact us about this issue?")
    box = page.get_by_role("textbox", name="Type your answer…")
    box.fill("not sure")
    box.press("Enter")
    expect(log).to_contain_text("Sorry")  # a hint, and the question stays
    box.fill("3 times")
    box.press("Enter")
    expect(log).to_contain_text("What should we have done to make it easier?")
    box.fill("Answer the first email")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(log).to_contain_text("Thanks, that really helps our support team.")
    expect(box).to_be_disabled()
    # What the customer sent is in the log too, in order.
    texts = [t.strip() for t in page.locator(".fbc-user").all_text_contents()]
    assert texts == ["You: 2", "You: Billing", "You: not sure", "You: 3 times", "You: Answer the first email"]
    assert errors == []
    # The widget added one host element; its parts live in the shadow root.
    assert page.locator("[data-feedback-chat]").count() == 1
    assert page.evaluate("document.querySelectorAll('.fbc-panel').length") == 0

    [resp] = responses(app, base, "support-ticket")
    assert resp["channel"] == "chat" and resp["status"] == "complete" and resp["locale"] == "en"
    answers = resp["answers"]
    assert answers["ces"]["value"] == 2 and answers["ces"]["raw"] == "2"
    assert answers["topic"]["value"] == "billing"
    assert answers["contacts"]["value"] == 3 and answers["contacts"]["raw"] == "3 times"
    assert answers["improve"]["value"] == "Answer the first email"
    assert "/chat/demo" in resp["meta"]["page_url"]


def test_keyboard_only_in_chinese_on_a_phone(served: tuple[Any, str], browser: Any) -> None:
    from playwright.sync_api import expect

    app, base = served
    page = browser.new_page(viewport={"width": 360, "height": 640}, is_mobile=True, has_touch=True)
    page.goto(f"{base}/chat/demo?locale=zh-CN")
    launcher = page.get_by_role("button", name="提供反馈")
    expect(launcher).to_be_visible()
    launcher.focus()
    page.keyboard.press("Enter")
    log = page.get_by_role("log")
    expect(log).to_contain_text("公司让我轻松地解决了问题。您有多同意？")
    dialog = page.get_by_role("dialog")
    bounds = dialog.bounding_box()
    assert bounds is not None and bounds["x"] >= 0 and bounds["x"] + bounds["width"] <= 360
    assert bounds["y"] >= 0 and bounds["y"] + bounds["height"] <= 640

    # Escape closes and gives focus back to the launcher; Enter opens it again.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(launcher).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    # Keys only: move to the quick reply "5" and press it.
    expect(page.get_by_role("button", name="1", exact=True)).to_be_focused()
    for _ in range(4):
        page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="5", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(log).to_contain_text("您的工单是关于什么的？")
    box = page.get_by_role("textbox", name="请输入您的回答…")
    box.focus()
    page.keyboard.type("是快递的问题")
    page.keyboard.press("Enter")
    expect(log).to_contain_text("关于这个问题，您联系了我们几次？")
    page.keyboard.type("两次")
    page.keyboard.press("Enter")
    expect(log).to_contain_text("谢谢，这对我们的支持团队很有帮助。")  # ces 5 > 4: no last question

    [resp] = responses(app, base, "support-ticket")
    assert resp["locale"] == "zh-CN" and resp["status"] == "complete"
    assert resp["answers"]["ces"]["value"] == 5
    assert resp["answers"]["topic"]["value"] == "delivery" and resp["answers"]["topic"]["raw"] == "是快递的问题"
    assert resp["answers"]["contacts"]["value"] == 2


def test_a_reload_resumes_the_conversation(served: tuple[Any, str], browser: Any) -> None:
    from playwright.sync_api import expect

    app, base = served
    page = browser.new_page()
    page.goto(f"{base}/chat/demo")
    page.get_by_role("button", name="Give feedback").click()
    page.get_by_role("button", name="6", exact=True).click()
    log = page.get_by_role("log")
    expect(log).to_contain_text("What was your ticket about?")
    page.reload()
    page.get_by_role("button", name="Give feedback").click()
    expect(log).to_contain_text("What was your ticket about?")
    page.get_by_role("button", name="A product").click()
    expect(log).to_contain_text("How many times")
    from feedback.store.models import Session
    from tests.sms.conftest import rows

    assert len(rows(app, Session)) == 1
