"""The web intercept in a real browser (Debian's Chromium).

A customer's site (served on ``http://localhost:PORT``) embeds one script tag pointing at the
feedback app (served on ``http://127.0.0.1:PORT``): two different sites, so the overlay's
iframe is a real third-party frame that gets none of the app's cookies. The test surveys in
``tests/intercept/surveys`` fire on dwell time, scroll depth and exit intent.

"Not before the condition" is checked without sleeping: a dwell survey is shown at a page
time (``performance.now()``) of at least its seconds, and for scroll and exit intent no
open request is made until the condition holds. "Never" is checked against a control: on
the site of a survey with sample 0, a second survey fires later, so the first did not.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.conftest import free_port, make_app
from tests.intercept.conftest import install

pytestmark = pytest.mark.browser

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

#: Records the loader's page events (ready / open / close) with the page time they happened at.
RECORDER = """
window.__ix = [];
["ready", "open", "close"].forEach(function (n) {
  document.addEventListener("feedbackintercept:" + n, function (e) {
    window.__ix.push({type: n, detail: e.detail, at: performance.now()});
  });
});
"""


@dataclass
class Servers:
    app: Any
    keys: dict[str, str]
    app_url: str
    site_url: str
    api_key: str

    def page(self, site: str, path: str = "/page", **query: str) -> str:
        q = "&".join(f"{k}={v}" for k, v in {"site": site, **query}.items())
        return f"{self.site_url}{path}?{q}"

    def responses(self, survey_id: str) -> list[dict[str, Any]]:
        client = self.app.test_client()
        resp = client.get(f"/api/v1/surveys/{survey_id}/responses", headers={"Authorization": f"Bearer {self.api_key}"})
        assert resp.status_code == 200, resp.data
        return list(resp.json["responses"])


def _customer_site(servers: dict[str, Any]) -> Any:
    """A customer's page: the script tag, some text, a long body to scroll through."""

    def wsgi(environ: Any, start_response: Any) -> Any:
        req = Request(environ)
        site = req.args.get("site", "ix-dwell")
        key = servers["keys"][site]
        attrs = ""
        contact = req.args.get("contact")
        if contact:
            from feedback.intercept import operations as iops

            with servers["app"].app_context():
                signature = iops.identity_hash(iops.site_by_name(site), contact)
            attrs = f' data-contact-id="{escape(contact)}" data-contact-hash="{signature}"'
        lang = escape(req.args.get("lang", "en"))
        html = f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo shop</title></head>
<body style="margin:0;font-family:sans-serif">
<h1>Demo shop</h1>
<p><a href="#top" id="first-link">Products</a> <button type="button" id="page-button">Add to cart</button></p>
<div style="height:4000px;background:linear-gradient(#fff,#ddd)">Long product description.</div>
<p>End of the page.</p>
<script src="{servers['app_url']}/intercept.js" data-site="{key}"{attrs} async></script>
</body></html>"""
        return Response(html, mimetype="text/html")(environ, start_response)

    return wsgi


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, chromium_path: str) -> Iterator[Servers]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = make_app(tmp_path_factory.mktemp("intercept"), "sqlite")
    keys = install(app)
    with app.app_context():
        from feedback.store import operations as ops

        api_key = ops.create_api_key("intercept e2e")
    app_port, site_port = free_port(), free_port()
    app_url = f"http://127.0.0.1:{app_port}"
    shared: dict[str, Any] = {"app": app, "keys": keys, "app_url": app_url}
    running = [
        make_server("127.0.0.1", app_port, app, threaded=True),
        make_server("127.0.0.1", site_port, _customer_site(shared), threaded=True),
    ]
    for server in running:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Servers(app, keys, app_url, f"http://localhost:{site_port}", api_key)
    finally:
        for server in running:
            server.shutdown()
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
def context(browser: Any) -> Iterator[Any]:
    """A new visitor: fresh local and session storage."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 800})
    ctx.add_init_script(RECORDER)
    yield ctx
    ctx.close()


def events(page: Any, kind: str | None = None) -> list[dict[str, Any]]:
    found = page.evaluate("window.__ix")
    return [e for e in found if kind is None or e["type"] == kind]


def wait_event(page: Any, kind: str, timeout: float = 15000) -> dict[str, Any]:
    page.wait_for_function(f"window.__ix && window.__ix.some(function (e) {{ return e.type === '{kind}'; }})",
                           timeout=timeout)
    return events(page, kind)[-1]


def open_requests(page: Any) -> list[dict[str, Any]]:
    """Every open request the page makes (collected from the start)."""
    seen: list[dict[str, Any]] = []
    page.on("request", lambda r: seen.append(json.loads(r.post_data or "{}")) if r.url.endswith("/intercept/v1/open") else None)
    return seen


def settle(page: Any) -> None:
    """Let the page handle what was just done (events run before the next frames)."""
    page.evaluate("new Promise(function (r) { requestAnimationFrame(function () { requestAnimationFrame(r); }); })")


def answer_yes(page: Any) -> None:
    """Answer the yes/no question with the keyboard, as any visitor can."""
    frame = page.frame_locator("[data-feedback-intercept] iframe")
    yes = frame.locator("input[value=yes]")
    yes.focus()
    page.keyboard.press("Space")
    assert yes.is_checked()
    frame.locator("button.btn-primary").click()


def test_dwell_time_opens_an_accessible_overlay_and_not_before(servers: Servers, context: Any) -> None:
    page = context.new_page()
    page.goto(servers.page("ix-dwell"))
    page.locator("#page-button").focus()
    dialog = page.get_by_role("dialog")
    dialog.wait_for(timeout=15000)
    opened = events(page, "open")
    assert [e["detail"]["survey"] for e in opened] == ["ix-dwell"]
    assert opened[0]["at"] >= 1500, "the rule says 1.5 seconds on the page"

    # An accessible modal dialog named by the survey title, focus inside it.
    assert dialog.get_attribute("aria-modal") == "true"
    assert page.get_by_role("dialog", name="Quick question (ix-dwell)").count() == 1
    close = page.get_by_role("button", name="Close the survey")
    assert close.count() == 1
    inside = "document.activeElement && document.activeElement.hasAttribute('data-feedback-intercept')"
    assert page.evaluate(inside)
    frame = page.frame_locator("[data-feedback-intercept] iframe")
    frame.locator("input[value=yes]").wait_for()
    assert page.evaluate(inside)
    for _ in range(8):  # Tab never leaves the dialog (the page behind is inert)
        page.keyboard.press("Tab")
        assert page.evaluate(inside)
    assert page.evaluate("document.querySelector('h1').inert === true")

    # Escape closes it, gives the focus back and is remembered as a dismissal.
    close.focus()
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    assert wait_event(page, "close")["detail"] == {"survey": "ix-dwell", "status": "dismissed"}
    assert page.evaluate("document.activeElement.id") == "page-button"
    assert page.evaluate("document.querySelector('h1').inert") is False
    assert page.evaluate("localStorage.getItem('fbi:s:ix-dwell')") is not None


def test_escape_inside_the_survey_frame_closes_the_overlay(servers: Servers, context: Any) -> None:
    page = context.new_page()
    page.goto(servers.page("ix-dwell"))
    frame = page.frame_locator("[data-feedback-intercept] iframe")
    frame.locator("input[value=yes]").focus()
    page.keyboard.press("Escape")
    page.get_by_role("dialog").wait_for(state="detached")
    assert wait_event(page, "close")["detail"]["status"] == "dismissed"


def test_answering_stores_the_response_with_the_page_and_is_not_asked_again(servers: Servers, context: Any) -> None:
    page = context.new_page()
    url = servers.page("ix-dwell", lang="en")
    page.goto(url)
    page.get_by_role("dialog").wait_for(timeout=15000)
    answer_yes(page)
    frame = page.frame_locator("[data-feedback-intercept] iframe")
    frame.get_by_text("Thanks!").wait_for()
    # The embedded page tells the overlay it is finished; the overlay closes by itself.
    page.get_by_role("dialog").wait_for(state="detached", timeout=15000)
    assert wait_event(page, "close")["detail"] == {"survey": "ix-dwell", "status": "answered"}

    [response] = [r for r in servers.responses("ix-dwell") if r["meta"].get("page_url") == url]
    assert response["status"] == "complete" and response["channel"] == "web"
    assert response["answers"]["happy"]["value"] is True and response["answers"]["happy"]["modality"] == "web"

    # Reloaded: past 1.5 s nothing opens ix-dwell; the later survey of the site (3 s) opens instead.
    page.reload()
    page.get_by_role("dialog").wait_for(timeout=15000)
    assert [e["detail"]["survey"] for e in events(page, "open")] == ["ix-later"]
    page.keyboard.press("Escape")

    # A new visit (another tab, same browser): the recontact wait holds, in the browser and
    # on the server.
    other = context.new_page()
    visitor = json.loads(page.evaluate("localStorage.getItem('fbi:v')"))
    other.goto(url)
    wait_event(other, "ready")
    config = other.evaluate(
        f"fetch('{servers.app_url}/intercept/v1/config?site={servers.keys['ix-dwell']}&visitor={visitor}')"
        ".then(function (r) { return r.json(); })"
    )
    assert config["surveys"] == [], "answered ix-dwell and dismissed ix-later: nothing to offer"
    assert events(other, "ready")[0]["detail"] == {"surveys": []}


def test_scroll_depth_opens_the_survey_only_past_the_depth(servers: Servers, context: Any) -> None:
    page = context.new_page()
    opens = open_requests(page)
    page.goto(servers.page("ix-scroll", path="/shop/article/7"))
    assert wait_event(page, "ready")["detail"] == {"surveys": ["ix-scroll"]}
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight * 0.3)")
    settle(page)
    assert opens == [] and page.get_by_role("dialog").count() == 0
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.get_by_role("dialog").wait_for(timeout=15000)
    assert [o["survey"] for o in opens] == ["ix-scroll"]


def test_scroll_depth_on_a_page_the_url_rule_does_not_match_opens_nothing(servers: Servers, context: Any) -> None:
    page = context.new_page()
    opens = open_requests(page)
    page.goto(servers.page("ix-scroll", path="/shop/cart"))
    wait_event(page, "ready")
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    settle(page)
    assert opens == [] and page.get_by_role("dialog").count() == 0


def test_exit_intent_opens_the_survey_when_the_pointer_leaves_through_the_top(servers: Servers, context: Any) -> None:
    page = context.new_page()
    opens = open_requests(page)
    page.goto(servers.page("ix-exit"))
    wait_event(page, "ready")
    page.mouse.move(300, 300)
    page.mouse.move(300, 5)
    page.mouse.move(1199, 400)  # to the side: not an exit through the top
    settle(page)
    assert opens == [] and page.get_by_role("dialog").count() == 0
    page.mouse.move(600, -10)
    page.get_by_role("dialog").wait_for(timeout=15000)
    assert [o["survey"] for o in opens] == ["ix-exit"]
    assert opens[0]["page_url"] == servers.page("ix-exit")


def test_exit_intent_is_not_used_on_touch_devices(servers: Servers, browser: Any) -> None:
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    ctx.add_init_script(RECORDER)
    try:
        page = ctx.new_page()
        opens = open_requests(page)
        page.goto(servers.page("ix-exit"))
        wait_event(page, "ready")
        page.mouse.move(100, 300)
        page.mouse.move(100, -10)
        settle(page)
        assert opens == [] and page.get_by_role("dialog").count() == 0
    finally:
        ctx.close()


def test_sample_rate_zero_never_fires(servers: Servers, context: Any) -> None:
    page = context.new_page()
    opens = open_requests(page)
    page.goto(servers.page("ix-never"))
    page.get_by_role("dialog").wait_for(timeout=15000)
    # ix-never (sample 0) would fire at 0.5 s; the control survey (2 s) is the one shown.
    assert [o["survey"] for o in opens] == ["ix-control"]
    assert [e["detail"]["survey"] for e in events(page, "open")] == ["ix-control"]


def test_a_phone_gets_a_bottom_sheet_in_the_page_language(servers: Servers, browser: Any) -> None:
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    ctx.add_init_script(RECORDER)
    try:
        page = ctx.new_page()
        page.goto(servers.page("ix-dwell", lang="zh-CN"))
        dialog = page.get_by_role("dialog", name="简短问卷（ix-dwell）")
        dialog.wait_for(timeout=15000)
        box = dialog.bounding_box()
        assert box is not None
        assert box["x"] == 0 and box["width"] == 360, "full width"
        assert abs(box["y"] + box["height"] - 740) < 1, "anchored to the bottom"
        close = page.get_by_role("button", name="关闭问卷")
        cbox = close.bounding_box()
        assert cbox is not None and cbox["width"] >= 44 and cbox["height"] >= 44, "a finger-sized target"
        frame = page.frame_locator("[data-feedback-intercept] iframe")
        frame.get_by_text("您找到需要的内容了吗？").wait_for()
        close.tap()
        page.get_by_role("dialog").wait_for(state="detached")
    finally:
        ctx.close()


def test_an_identified_visitor_answers_as_the_contact(servers: Servers, context: Any) -> None:
    page = context.new_page()
    url = servers.page("ix-dwell", contact="cust-e2e")
    page.goto(url)
    page.get_by_role("dialog").wait_for(timeout=15000)
    answer_yes(page)
    page.get_by_role("dialog").wait_for(state="detached", timeout=15000)
    [response] = [r for r in servers.responses("ix-dwell") if r["contact_id"] == "cust-e2e"]
    assert response["status"] == "complete" and response["meta"]["page_url"] == url
    assert response["channel"] == "web"


def test_pages_viewed_counts_the_visit_including_single_page_app_navigation(servers: Servers, context: Any) -> None:
    page = context.new_page()
    opens = open_requests(page)
    page.goto(servers.page("ix-pages", path="/shop/shoes"))
    wait_event(page, "ready")
    page.goto(servers.page("ix-pages", path="/shop/cart"))  # second page, but excluded by its URL
    wait_event(page, "ready")
    page.goto(servers.page("ix-pages", path="/about"))  # third page: the URL rule does not match
    wait_event(page, "ready")
    settle(page)
    assert opens == [] and page.get_by_role("dialog").count() == 0
    # A single-page app moves to a matching URL: the fourth page of the visit, and it fires.
    page.evaluate("history.pushState({}, '', '/shop/hats?site=ix-pages')")
    page.get_by_role("dialog").wait_for(timeout=15000)
    assert [o["survey"] for o in opens] == ["ix-pages"]
    assert page.evaluate("JSON.parse(sessionStorage.getItem('fbi:n'))") == 4
