"""The intercept's HTTP endpoints: scripts, the rules of a site, opening a survey, closing it.

Run on SQLite and PostgreSQL (the ``app`` fixture)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from feedback.intercept.definition import bucket
from tests.intercept.conftest import Shared, visitor

PAGE = "https://shop.example.com/products/42"


def config(client: Any, key: str, **params: str) -> Any:
    query = "&".join(f"{k}={v}" for k, v in {"site": key, **params}.items())
    return client.get(f"/intercept/v1/config?{query}")


def open_(client: Any, key: str, survey: str, visitor: str = "visitor-1", **extra: Any) -> Any:
    body = {"site": key, "survey": survey, "visitor": visitor, "page_url": PAGE, **extra}
    # The loader posts text/plain (a CORS "simple" request, no preflight).
    return client.post("/intercept/v1/open", data=json.dumps(body), content_type="text/plain;charset=UTF-8")


def close(client: Any, display: str, status: str, visitor: str = "visitor-1") -> Any:
    body = json.dumps({"status": status, "visitor": visitor})
    return client.post(f"/intercept/v1/displays/{display}", data=body, content_type="text/plain")


# -- the scripts ---------------------------------------------------------------------------------


def test_the_loader_is_served_small_gzipped_and_cacheable(ix: Shared) -> None:
    client = ix.client
    resp = client.get("/intercept.js", headers={"Accept-Encoding": "gzip, br"})
    assert resp.status_code == 200
    assert resp.mimetype == "text/javascript"
    assert resp.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in resp.headers["Vary"]
    assert len(resp.data) < 10 * 1024
    source = gzip.decompress(resp.data).decode("utf-8")
    assert "data-site" in source and "/intercept/v1/config" in source
    again = client.get("/intercept.js", headers={"Accept-Encoding": "gzip", "If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304


def test_the_scripts_make_no_third_party_requests(ix: Shared) -> None:
    client = ix.client
    for path in ("/intercept.js", "/intercept/overlay.js"):
        source = client.get(path).data.decode("utf-8")
        assert "http://" not in source and "https://" not in source and "//cdn" not in source


def test_the_overlay_is_plain_for_clients_without_gzip(ix: Shared) -> None:
    client = ix.client
    resp = client.get("/intercept/overlay.js")
    assert resp.status_code == 200 and "Content-Encoding" not in resp.headers
    assert b'role=dialog' in resp.data and b"aria-modal" in resp.data


# -- config --------------------------------------------------------------------------------------------


def test_an_unknown_site_key_is_a_json_404(ix: Shared) -> None:
    client = ix.client
    resp = config(client, "site_nope")
    assert resp.status_code == 404
    assert resp.is_json
    assert resp.json["error"] == "unknown_site"
    assert "data-site" in resp.json["message"]


def test_a_missing_site_key_is_a_json_400(ix: Shared) -> None:
    client = ix.client
    resp = client.get("/intercept/v1/config")
    assert resp.status_code == 400 and resp.json["error"] == "missing_site"


def test_the_rules_of_the_surveys_naming_the_site_are_returned(ix: Shared) -> None:
    client, keys = ix.client, ix.keys
    resp = config(client, keys["ix-dwell"], visitor=visitor())
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    data = resp.json
    assert data["site"] == "ix-dwell" and data["identified"] is False
    by_id = {s["id"]: s for s in data["surveys"]}
    assert set(by_id) == {"ix-dwell", "ix-later"}
    assert by_id["ix-dwell"] == {"id": "ix-dwell", "sample": 1.0, "wait": 30.0, "place": "center",
                                 "rules": [{"s": 1.5}]}
    scroll = config(client, keys["ix-scroll"]).json["surveys"]
    assert scroll == [{"id": "ix-scroll", "sample": 1.0, "wait": 30.0, "place": "center",
                       "rules": [{"y": 60.0, "u": [["c", "/article"]]}]}]


def test_the_example_survey_shows_on_the_shop_site(ix: Shared) -> None:
    client, keys = ix.client, ix.keys
    surveys = config(client, keys["shop"]).json["surveys"]
    assert [s["id"] for s in surveys] == ["website-feedback"]
    assert surveys[0]["sample"] == 0.25 and surveys[0]["place"] == "bottom-right"


def test_a_disabled_site_answers_404(app: Any, client: Any, keys: dict[str, str]) -> None:
    from feedback.intercept import operations as iops

    with app.app_context():
        iops.update_site("ix-dwell", active=False)
    assert config(client, keys["ix-dwell"]).status_code == 404


def test_allowed_origins_get_cors_headers_and_others_are_refused(app: Any, client: Any) -> None:
    from tests.intercept.conftest import install

    keys = install(app, {"ix-dwell": ["https://shop.example.com"]})
    ok = client.get(f"/intercept/v1/config?site={keys['ix-dwell']}", headers={"Origin": "https://shop.example.com"})
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "Origin" in ok.headers["Vary"]
    bad = client.get(f"/intercept/v1/config?site={keys['ix-dwell']}", headers={"Origin": "https://evil.example"})
    assert bad.status_code == 403 and bad.json["error"] == "origin_not_allowed"
    assert "feedback sites update ix-dwell --origin" in bad.json["message"]  # readable by the loader, for the console
    refused = client.post(
        "/intercept/v1/open",
        data=json.dumps({"site": keys["ix-dwell"], "survey": "ix-dwell", "visitor": "v"}),
        headers={"Origin": "https://evil.example"},
    )
    assert refused.status_code == 403
    # A site without origins accepts any.
    anyone = client.get(f"/intercept/v1/config?site={keys['ix-exit']}", headers={"Origin": "https://a.example"})
    assert anyone.headers["Access-Control-Allow-Origin"] == "https://a.example"


def test_preflight_requests_are_answered(ix: Shared) -> None:
    client = ix.client
    resp = client.open("/intercept/v1/open", method="OPTIONS", headers={
        "Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    })
    assert resp.status_code == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]


# -- opening a survey ---------------------------------------------------------------------------


def test_opening_records_a_display_and_returns_the_embedded_survey(ix: Shared) -> None:
    app, client, keys = ix.app, ix.client, ix.keys
    me = visitor()
    resp = open_(client, keys["ix-dwell"], "ix-dwell", visitor=me, locale="en-GB")
    assert resp.status_code == 200
    data = resp.json
    assert data["open"] is True and data["identified"] is False
    assert data["title"] == "Quick question (ix-dwell)"
    assert data["close"] == "Close the survey" and data["lang"] == "en"
    url = urlsplit(data["url"])
    assert url.path == "/s/ix-dwell"
    query = parse_qs(url.query)
    assert query["embed"] == ["1"] and query["page_url"] == [PAGE] and query["lang"] == ["en"]
    from feedback.store.models import InterceptDisplay, db

    with app.app_context():
        shown = db.session.get(InterceptDisplay, data["display"])
        assert shown is not None
        assert (shown.survey_id, shown.visitor_id, shown.page_url, shown.status) == ("ix-dwell", me, PAGE, "shown")


def test_the_overlay_strings_follow_the_page_language(ix: Shared) -> None:
    client, keys = ix.client, ix.keys
    me = visitor()
    data = open_(client, keys["ix-dwell"], "ix-dwell", visitor=me, locale="zh-CN").json
    assert data["lang"] == "zh-CN"
    assert data["close"] == "关闭问卷"
    assert data["loading"] == "正在加载问卷…"
    assert data["title"] == "简短问卷（ix-dwell）"
    assert parse_qs(urlsplit(data["url"]).query)["lang"] == ["zh-CN"]


def test_the_embedded_page_records_the_page_url_and_the_web_channel(ix: Shared) -> None:
    client, keys = ix.client, ix.keys
    me = visitor()
    data = open_(client, keys["ix-dwell"], "ix-dwell", visitor=me).json
    page = client.get(data["url"])
    assert page.status_code == 200
    assert "frame-ancestors *" in page.headers["Content-Security-Policy"]


def test_sample_zero_never_opens(ix: Shared) -> None:
    client, keys = ix.client, ix.keys
    for i in range(20):
        data = open_(client, keys["ix-never"], "ix-never", visitor=f"v{i}").json
        assert data == {"open": False, "reason": "not_sampled", "message": "this visitor is outside the survey's sample"}


def test_sampling_is_decided_per_visitor_the_same_way_as_the_loader(ix: Shared) -> None:
    client, keys = ix.client, ix.keys
    inside = next(f"v{i}" for i in range(100) if bucket(f"v{i}", "ix-half") < 0.5)
    outside = next(f"v{i}" for i in range(100) if bucket(f"v{i}", "ix-half") >= 0.5)
    assert open_(client, keys["ix-half"], "ix-half", visitor=inside).json["open"] is True
    assert open_(client, keys["ix-half"], "ix-half", visitor=outside).json["reason"] == "not_sampled"
    assert open_(client, keys["ix-half"], "ix-half", visitor=outside).json["reason"] == "not_sampled"


def test_a_survey_of_another_site_cannot_be_opened(ix: Shared) -> None:
    client, keys = ix.client, ix.keys
    me = visitor()
    resp = open_(client, keys["ix-exit"], "ix-dwell", visitor=me)
    assert resp.status_code == 404 and resp.json["error"] == "unknown_survey"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "the body must be a JSON object"),
        ("[1, 2]", "the body must be a JSON object"),
    ],
)
def test_a_malformed_body_is_a_clear_400(ix: Shared, body: str, message: str) -> None:
    client = ix.client
    resp = client.post("/intercept/v1/open", data=body, content_type="text/plain")
    assert resp.status_code == 400 and resp.json["message"] == message


def test_missing_visitor_and_bad_page_url_are_clear_400s(ix: Shared) -> None:
    client, keys = ix.client, ix.keys
    resp = client.post("/intercept/v1/open", data=json.dumps({"site": keys["ix-dwell"], "survey": "ix-dwell"}))
    assert resp.status_code == 400 and resp.json["message"] == "visitor is missing"
    resp = open_(client, keys["ix-dwell"], "ix-dwell", visitor=visitor(), page_url="javascript:alert(1)")
    assert resp.status_code == 400 and resp.json["message"] == "page_url must be an http(s) URL"


# -- answered or closed: the recontact wait -----------------------------------------------------------


def test_a_visitor_who_answered_is_not_offered_the_survey_again_within_the_wait(ix: Shared) -> None:
    client, keys = ix.client, ix.keys
    me = visitor()
    display = open_(client, keys["ix-dwell"], "ix-dwell", visitor=me).json["display"]
    resp = close(client, display, "answered", visitor=me)
    assert resp.json == {"display": display, "status": "answered"}
    ids = [s["id"] for s in config(client, keys["ix-dwell"], visitor=me).json["surveys"]]
    assert ids == ["ix-later"]
    assert open_(client, keys["ix-dwell"], "ix-dwell", visitor=me).json["reason"] == "recontact_wait"
    # Another visitor is still asked.
    assert open_(client, keys["ix-dwell"], "ix-dwell", visitor=visitor()).json["open"] is True


def test_the_wait_ends(ix: Shared) -> None:
    from feedback.intercept import operations as iops
    from feedback.store.models import InterceptSite, db

    app, client, keys = ix.app, ix.client, ix.keys
    me = visitor()

    display = open_(client, keys["ix-dwell"], "ix-dwell", visitor=me).json["display"]
    close(client, display, "dismissed", visitor=me)
    with app.app_context():
        site = db.session.scalar(db.select(InterceptSite).where(InterceptSite.name == "ix-dwell"))
        later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=31)
        assert iops.open_survey(site, "ix-dwell", visitor=me, page_url=PAGE, now=later).open is True
        soon = later - dt.timedelta(days=2)
        assert iops.open_survey(site, "ix-dwell", visitor=me, page_url=PAGE, now=soon).reason == "recontact_wait"


def test_an_answer_is_not_turned_into_a_dismissal(ix: Shared) -> None:
    client, keys = ix.client, ix.keys
    me = visitor()
    display = open_(client, keys["ix-dwell"], "ix-dwell", visitor=me).json["display"]
    close(client, display, "answered", visitor=me)
    assert close(client, display, "dismissed", visitor=me).json["status"] == "answered"


def test_closing_needs_a_known_display_of_the_same_visitor_and_a_known_status(ix: Shared) -> None:
    client, keys = ix.client, ix.keys
    me = visitor()
    display = open_(client, keys["ix-dwell"], "ix-dwell", visitor=me).json["display"]
    assert close(client, "nope", "answered", visitor=me).status_code == 404
    assert close(client, display, "answered", visitor="someone-else").status_code == 404
    bad = close(client, display, "loved-it", visitor=me)
    assert bad.status_code == 400 and bad.json["message"] == "status must be one of answered, dismissed"


# -- identified visitors ----------------------------------------------------------------------------


def _site(app: Any, name: str) -> Any:
    from feedback.store.models import InterceptSite, db

    with app.app_context():
        site = db.session.scalar(db.select(InterceptSite).where(InterceptSite.name == name))
        db.session.expunge(site)
        return site


def signed(app: Any, site_name: str, contact_id: str, **fields: Any) -> dict[str, Any]:
    from feedback.intercept import operations as iops

    with app.app_context():
        site = _site(app, site_name)
        return {"id": contact_id, "hash": iops.identity_hash(site, contact_id), **fields}


def test_a_signed_identity_links_the_answers_to_the_contact(app: Any, client: Any, keys: dict[str, str]) -> None:
    who = signed(app, "ix-dwell", "cust-42", email="Ana@Example.com", locale="zh-CN", tier="gold")
    data = open_(client, keys["ix-dwell"], "ix-dwell", contact=who).json
    assert data["open"] is True and data["identified"] is True and data["lang"] == "zh-CN"
    assert data["url"].startswith("/i/")
    from tests.web.support import Respondent

    r = Respondent(client, data["url"])
    assert r.open().status == 200
    r.submit({"happy": "yes"})  # a response starts with its first answer
    from feedback.store.models import Contact, InterceptDisplay, Response, db

    with app.app_context():
        contact = db.session.scalar(db.select(Contact).where(Contact.external_id == "cust-42"))
        assert contact is not None and contact.email == "ana@example.com" and contact.locale == "zh-CN"
        assert contact.attributes == {"tier": "gold"}
        assert db.session.get(InterceptDisplay, data["display"]).contact_id == contact.id
        response = db.session.scalar(db.select(Response).where(Response.survey_id == "ix-dwell"))
        assert response is not None and response.contact_id == contact.id and response.channel == "web"
        assert response.meta["page_url"] == PAGE


def test_an_email_from_the_page_never_links_the_answers_to_another_contact(
    app: Any, client: Any, keys: dict[str, str]
) -> None:
    from feedback.store import operations as ops
    from feedback.store.models import Contact, InterceptDisplay, db

    with app.app_context():
        victim_id = ops.find_or_create_contact(external_id="cust-1", email="ana@example.com").id
    who = signed(app, "ix-dwell", "cust-2", email="ana@example.com")
    data = open_(client, keys["ix-dwell"], "ix-dwell", contact=who).json
    with app.app_context():
        contact = db.session.scalar(db.select(Contact).where(Contact.external_id == "cust-2"))
        assert contact is not None and contact.id != victim_id
        assert db.session.get(InterceptDisplay, data["display"]).contact_id == contact.id
        assert db.session.get(Contact, victim_id).external_id == "cust-1"


def test_an_unsigned_or_forged_identity_stays_anonymous(app: Any, client: Any, keys: dict[str, str]) -> None:
    data = open_(client, keys["ix-dwell"], "ix-dwell", contact={"id": "cust-42"}).json
    assert data["identified"] is False and data["url"].startswith("/s/")
    assert "not signed" in data["identity_problem"]
    forged = open_(client, keys["ix-dwell"], "ix-dwell", visitor="v2", contact={"id": "cust-42", "hash": "00" * 32}).json
    assert forged["identified"] is False and "does not match" in forged["identity_problem"]
    from feedback.store.models import Contact, db

    with app.app_context():
        assert db.session.scalar(db.select(Contact).where(Contact.external_id == "cust-42")) is None


def test_a_site_that_trusts_identities_accepts_unsigned_ids(app: Any, client: Any, keys: dict[str, str]) -> None:
    from feedback.intercept import operations as iops

    with app.app_context():
        iops.update_site("ix-dwell", trust_identity=True)
    data = open_(client, keys["ix-dwell"], "ix-dwell", contact={"id": "intranet-7"}).json
    assert data["identified"] is True and data["url"].startswith("/i/")


def test_an_opted_out_contact_is_never_intercepted(app: Any, client: Any, keys: dict[str, str]) -> None:
    from feedback.store import operations as ops

    with app.app_context():
        contact = ops.find_or_create_contact(external_id="cust-7")
        ops.record_opt_out(contact, "web", source="test")
    who = signed(app, "ix-dwell", "cust-7")
    cfg = config(client, keys["ix-dwell"], visitor="v1", contact="cust-7", hash=who["hash"]).json
    assert cfg["identified"] is True and cfg["surveys"] == []
    data = open_(client, keys["ix-dwell"], "ix-dwell", contact=who).json
    assert data["open"] is False and data["reason"] == "opted_out"
    # Anonymous visitors (or a forged id) still get the rules.
    assert len(config(client, keys["ix-dwell"], visitor="v1", contact="cust-7", hash="x").json["surveys"]) == 2


def test_a_contact_who_answered_on_any_device_waits(app: Any, client: Any, keys: dict[str, str]) -> None:
    who = signed(app, "ix-dwell", "cust-9")
    first = open_(client, keys["ix-dwell"], "ix-dwell", visitor="laptop", contact=who).json
    close(client, first["display"], "answered", visitor="laptop")
    again = open_(client, keys["ix-dwell"], "ix-dwell", visitor="phone", contact=who).json
    assert again["open"] is False and again["reason"] == "recontact_wait"
    cfg = config(client, keys["ix-dwell"], visitor="phone", contact="cust-9", hash=who["hash"]).json
    assert [s["id"] for s in cfg["surveys"]] == ["ix-later"]


def test_the_shared_contact_policy_caps_intercepts_too(app: Any, tmp_path: Any, client: Any, keys: dict[str, str]) -> None:
    pytest.importorskip("feedback.triggers.policy")
    policy = tmp_path / "policy.yaml"
    policy.write_text("policy_version: 1\nfrequency: {max_surveys: 1, per: 30d}\n", encoding="utf-8")
    app.config["CONTACT_POLICY"] = str(policy)
    who = signed(app, "ix-dwell", "cust-11")
    first = open_(client, keys["ix-dwell"], "ix-dwell", visitor="v11", contact=who).json
    assert first["open"] is True  # shown to the contact: that is one survey put to them
    later = open_(client, keys["ix-dwell"], "ix-later", visitor="v11", contact=who).json
    assert later["open"] is False and later["reason"] == "frequency_cap"


def test_a_display_to_a_known_contact_is_an_invitation_its_answer_closes(
    app: Any, client: Any, keys: dict[str, str]
) -> None:
    from tests.web.support import Respondent

    who = signed(app, "ix-dwell", "cust-12")
    first = open_(client, keys["ix-dwell"], "ix-dwell", visitor="v12", contact=who).json
    assert first["open"] is True
    from feedback.store.distribution import Invitation
    from feedback.store.models import Contact, Response, db

    with app.app_context():
        contact = db.session.scalar(db.select(Contact).where(Contact.external_id == "cust-12"))
        [inv] = db.session.scalars(db.select(Invitation).where(Invitation.contact_id == contact.id)).all()
        assert (inv.survey_id, inv.source, inv.status, inv.channels) == ("ix-dwell", "intercept", "in_progress", ["web"])
        inv_id = inv.id
    r = Respondent(client, first["url"])
    r.open()
    r.submit({"happy": "yes"})
    with app.app_context():
        response = db.session.scalar(db.select(Response).where(Response.survey_id == "ix-dwell"))
        assert response is not None and response.meta["invitation_id"] == inv_id


# -- the demo page ----------------------------------------------------------------------------------


def test_the_demo_page_embeds_the_loader_for_the_site(ix: Shared) -> None:
    client, keys = ix.client, ix.keys
    resp = client.get(f"/intercept/demo?site={keys['ix-dwell']}")
    assert resp.status_code == 200
    html = resp.data.decode("utf-8")
    assert f'<script src="/intercept.js" data-site="{keys["ix-dwell"]}" async></script>' in html
    assert "ix-dwell" in html and "ix-later" in html
    assert "identify" not in html.split("<script", 1)[1].split("</script>")[0]


def test_the_demo_page_never_signs_contact_ids(ix: Shared) -> None:
    client, keys = ix.client, ix.keys
    html = client.get(f"/intercept/demo?site={keys['ix-dwell']}&contact=cust-42").data.decode("utf-8")
    assert "cust-42" not in html


def test_the_demo_page_needs_a_known_key(ix: Shared) -> None:
    client = ix.client
    resp = client.get("/intercept/demo?site=nope", headers={"Accept": "text/html"})
    assert resp.status_code == 404
    assert "feedback sites create NAME" in resp.data.decode("utf-8")
