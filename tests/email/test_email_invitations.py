"""Email invitations end to end with a real SMTP server (aiosmtpd): the MIME message, the
embedded first question, finishing on the web, reminders, unsubscribe, the .eml outbox."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from feedback.store.distribution import EmailMessage
from tests.triggers.support import (
    Dist,
    SmtpSink,
    answer_link,
    contact,
    html_of,
    links,
    local,
    text_of,
)
from tests.web.support import Respondent


@pytest.fixture
def mail(dist: Dist, smtp: SmtpSink) -> Dist:
    dist.app.config.update(SMTP_URL=smtp.url, MAIL_FROM="Acme Feedback <feedback@acme.example>")
    dist.extra["smtp"] = smtp
    return dist


def test_an_event_becomes_an_email_whose_score_link_starts_one_response(mail: Dist) -> None:
    smtp: SmtpSink = mail.extra["smtp"]
    body = mail.send("ord-1", "t.email", contact(1, locale="zh-CN", first_name="Ann"), {"order_id": "A-17"})
    invitation_id = body["decisions"][0]["invitation"]["id"]
    mail.run()
    [received] = smtp.messages
    assert received.rcpt_tos == ["c1@example.com"]
    msg = received.message
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Subject"] == "订单 A-17 怎么样？"
    assert msg["From"] == "Acme Feedback <feedback@acme.example>"
    assert msg["Content-Language"] == "zh-CN"
    assert msg["Message-ID"].endswith("@acme.example>")
    unsubscribe = msg["List-Unsubscribe"]
    assert re.fullmatch(r"<http://localhost/email/unsubscribe/[^>]+>", unsubscribe)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    html = html_of(msg)
    assert '<html lang="zh-CN"' in html
    assert "您有多大可能向朋友推荐我们？" in html and "点击您的答案" in html
    # Renders in mail clients: tables and inline styles, nothing fetched from elsewhere.
    assert "<table" in html and "<img" not in html and "<script" not in html
    assert "src=" not in html and "<link" not in html and "<style" not in html
    scores = [u for u in links(msg) if "a=" in u]
    assert [parse_qs(urlsplit(u).query)["a"][0] for u in scores] == [str(i) for i in range(11)]
    assert all(parse_qs(urlsplit(u).query)["q"] == ["nps"] for u in scores)
    text = text_of(msg)
    assert "您有多大可能向朋友推荐我们？" in text
    assert answer_link(msg, "8") in text

    # The customer clicks 8 in the email, then finishes on the web.
    r = Respondent(mail.client, local(answer_link(msg, "8")))
    page = r.open()
    assert page.status == 200
    assert page.visible() == ["comment"]
    page = r.submit({"comment": "快递很快"})
    assert page.is_thanks
    # Clicking another score later changes nothing and starts nothing new.
    again = Respondent(mail.client, local(answer_link(msg, "3"))).open()
    assert again.status == 200

    [resp] = mail.responses("t-email")
    assert resp["status"] == "complete"
    assert resp["contact_id"] == "cust-1"
    assert resp["event"] == {"id": "ord-1", "type": "t.email", "data": {"order_id": "A-17"}}
    assert resp["meta"]["invitation_id"] == invitation_id
    assert resp["answers"]["nps"]["value"] == 8 and resp["answers"]["nps"]["modality"] == "email"
    assert resp["answers"]["comment"]["value"] == "快递很快"
    assert mail.event_detail("ord-1")["decisions"][0]["invitation"]["status"] == "answered"


def test_reminders_go_only_to_those_who_have_not_answered(mail: Dist) -> None:
    smtp: SmtpSink = mail.extra["smtp"]
    mail.send("rem-1", "t.email", contact(1))
    mail.send("rem-2", "t.email", contact(2))
    mail.run()
    assert len(smtp.messages) == 2
    first = smtp.to("c1@example.com")[0]
    Respondent(mail.client, local(answer_link(first, "10"))).open()
    mail.advance(days=2, hours=23)
    assert len(smtp.messages) == 2
    mail.advance(hours=1)  # reminder_days: [3]
    assert len(smtp.to("c1@example.com")) == 1
    [original, reminder] = smtp.to("c2@example.com")
    assert reminder["Subject"].startswith("Reminder: How was order")
    # The reminder opens the same invitation as the first email.
    assert reminder["X-Feedback-Invitation"] == original["X-Feedback-Invitation"]
    Respondent(mail.client, local(answer_link(original, "5"))).open()
    Respondent(mail.client, local(answer_link(reminder, "6"))).open()
    answered = [r for r in mail.responses("t-email") if r["contact_id"] == "cust-2"]
    # One response for the invitation; a later click replaces the earlier one.
    assert len(answered) == 1 and answered[0]["answers"]["nps"]["value"] == 6
    mail.advance(days=5)
    assert len(smtp.messages) == 3  # one reminder, once
    with mail.ctx():
        from sqlalchemy import select

        from feedback.store.models import db

        skipped = db.session.scalars(select(EmailMessage).where(EmailMessage.kind == "reminder")).all()
        assert sorted((m.to_address, m.status, m.reason) for m in skipped) == [
            ("c1@example.com", "skipped", "answered"), ("c2@example.com", "sent", None)
        ]


def test_the_unsubscribe_page_and_one_click(mail: Dist) -> None:
    smtp: SmtpSink = mail.extra["smtp"]
    mail.send("u-1", "t.email", contact(1, locale="zh-CN"))
    mail.send("u-2", "t.b", contact(2))
    mail.run()
    msg = smtp.to("c1@example.com")[0]
    url = local(msg["List-Unsubscribe"].strip("<>"))
    page = mail.client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "不再向 c1@example.com 发送调查邮件？" in html and "确认退订" in html
    done = mail.client.post(url)
    assert done.status_code == 200 and "您已退订" in done.get_data(as_text=True)
    assert "您已退订" in mail.client.get(url).get_data(as_text=True)
    # One click from the mail client (RFC 8058), no form token needed.
    other = local(smtp.to("c2@example.com")[0]["List-Unsubscribe"].strip("<>"))
    assert mail.client.post(other, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert mail.client.get(url[:-3] + "abc").status_code == 404
    # The reminder does not go, and the next event is suppressed.
    mail.advance(days=3)
    assert len(smtp.to("c1@example.com")) == 1
    mail.clock.advance(days=30)
    d = mail.send("u-3", "t.c", contact(1))["decisions"][0]
    assert (d["outcome"], d["reason"]) == ("suppressed", "opted_out")
    d = mail.send("u-4", "t.c", contact(2))["decisions"][0]
    assert (d["outcome"], d["reason"]) == ("suppressed", "opted_out")


def test_without_smtp_emails_are_eml_files_in_the_outbox(dist: Dist) -> None:
    dist.send("e-1", "t.email", contact(1), {"order_id": "Z-9"})
    dist.run()
    files = list(dist.outbox.glob("*.eml"))
    assert len(files) == 1 and files[0].name.endswith("-invitation-1.eml")
    [msg] = dist.eml()
    assert msg["To"] == "c1@example.com" and msg["Subject"] == "How was order Z-9?"
    assert "How likely are you to recommend us?" in text_of(msg)
    with dist.ctx():
        from feedback.store.models import db

        row = db.session.get(EmailMessage, 1)
        assert row.transport == "outbox" and row.outbox_path == str(files[0])


def test_request_email_refuses_clearly_and_stores_nothing(sqlite_dist: Dist) -> None:
    from channels.email.invitations import request_email
    from feedback.errors import BadRequest, Forbidden, NotFound
    from feedback.store import operations as ops
    from feedback.store.distribution import Invitation

    with sqlite_dist.ctx():
        with pytest.raises(BadRequest, match="not offered by email"):
            request_email("support-call", "a@example.com")
        with pytest.raises(BadRequest, match="not an email address"):
            request_email("t-email", "nope")
        with pytest.raises(NotFound):
            request_email("no-such-survey", "a@example.com")
        c = ops.find_or_create_contact(email="out@example.com")
        ops.record_opt_out(c, "email", "test")
        with pytest.raises(Forbidden, match="opted out"):
            request_email("t-email", "out@example.com")
    assert sqlite_dist.count(EmailMessage) == 0
    assert sqlite_dist.count(Invitation) == 0


def test_an_email_sent_by_hand_is_an_invitation_too(sqlite_dist: Dist) -> None:
    from channels.email.invitations import request_email
    from feedback.triggers import policy

    with sqlite_dist.ctx():
        request_email("t-b", "hand@example.com", locale="en")
    sqlite_dist.run()
    [msg] = sqlite_dist.eml()
    Respondent(sqlite_dist.client, local(answer_link(msg, "4"))).open()
    [resp] = sqlite_dist.responses("t-b")
    assert resp["answers"]["csat"]["value"] == 4 and resp["meta"]["invitation_id"]
    with sqlite_dist.ctx():
        from feedback.store import operations as ops

        c = ops.find_or_create_contact(email="hand@example.com")
        assert policy.check(c, "t-b", "email").reason == "min_gap"
    # Unanswered invitations sent by hand close after a week, like the others.
    with sqlite_dist.ctx():
        request_email("t-c", "quiet@example.com")
    sqlite_dist.run()
    sqlite_dist.advance(days=7)
    with sqlite_dist.ctx():
        from sqlalchemy import select

        from feedback.store.distribution import Invitation
        from feedback.store.models import db

        statuses = {i.survey_id: i.status for i in db.session.scalars(select(Invitation))}
        assert statuses == {"t-b": "answered", "t-c": "unanswered"}


def test_smtp_with_a_login(sqlite_dist: Dist) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from tests.conftest import free_port

    got: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            got.append(envelope)
            return "250 OK"

    def check(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = auth_data.login == b"mailer" and auth_data.password == b"p@ss word"
        return AuthResult(success=ok)

    port = free_port()
    ctl = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=check, auth_require_tls=False)
    ctl.start()
    try:
        sqlite_dist.app.config["SMTP_URL"] = f"smtp://mailer:p%40ss%20word@127.0.0.1:{port}?starttls=auto"
        sqlite_dist.send("auth-1", "t.email", contact(1))
        sqlite_dist.run()
        assert len(got) == 1 and got[0].rcpt_tos == ["c1@example.com"]
    finally:
        ctl.stop()


def test_the_list_unsubscribe_headers_go_out_raw_for_one_click(mail: Dist) -> None:
    """RFC 2369 / RFC 8058: mail clients read the header as sent; an RFC 2047 encoded-word
    or a fold inside the URL would hide it."""
    smtp: SmtpSink = mail.extra["smtp"]
    mail.app.config["PUBLIC_BASE_URL"] = "https://feedback.customer-experience.example.com/a/rather/long/prefix"
    mail.send("lu-1", "t.email", contact(1))
    mail.run()
    [received] = smtp.messages
    head = received.raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    lines = head.split("\r\n")
    [line] = [x for x in lines if x.lower().startswith("list-unsubscribe:")]
    url = received.message["List-Unsubscribe"].strip("<>")
    assert line == f"List-Unsubscribe: <{url}>"
    assert url.startswith("https://feedback.customer-experience.example.com/a/rather/long/prefix/email/unsubscribe/")
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines
    token = url.rsplit("/", 1)[1]
    resp = mail.client.post(f"/email/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert resp.status_code == 200
    from feedback.store.models import Contact, db

    with mail.ctx():
        c = db.session.scalar(db.select(Contact).where(Contact.external_id == "cust-1"))
        assert [o.channel for o in c.opt_outs] == ["email"]


def test_the_personal_link_carries_the_invitation_id_only(mail: Dist) -> None:
    """The link names the invitation; the contact and the event's data stay in the database."""
    from itsdangerous import URLSafeTimedSerializer

    smtp: SmtpSink = mail.extra["smtp"]
    body = mail.send("tok-1", "t.email", contact(1, first_name="Ann"), {"order_id": "A-17"})
    mail.run()
    [received] = smtp.messages
    link = answer_link(received.message, "9")
    token = urlsplit(link).path.rsplit("/", 1)[1]
    payload = URLSafeTimedSerializer(mail.app.config["SECRET_KEY"], salt="feedback.web.invitation").loads(token)
    assert set(payload) <= {"s", "n", "i", "l"}, payload
    assert payload["i"] == body["decisions"][0]["invitation"]["id"]
    assert "A-17" not in str(payload) and "Ann" not in str(payload)
    assert Respondent(mail.client, local(link)).open().status == 200
    [resp] = [x for x in mail.responses("t-email") if x["answers"]]
    assert resp["event"]["data"] == {"order_id": "A-17"} and resp["contact_id"] == "cust-1"


def test_the_unsubscribe_page_can_stop_every_channel(mail: Dist) -> None:
    smtp: SmtpSink = mail.extra["smtp"]
    mail.send("all-1", "t.email", contact(1, phone="+15551234567"))
    mail.run()
    [msg] = smtp.to("c1@example.com")
    token = msg["List-Unsubscribe"].strip("<>").rsplit("/", 1)[1]
    page = mail.client.get(f"/email/unsubscribe/{token}").data.decode("utf-8")
    assert 'name="scope" value="all"' in page
    done = mail.client.post(f"/email/unsubscribe/{token}", data={"scope": "all"})
    assert "any channel" in done.data.decode("utf-8")
    resp = mail.get("/api/v1/contacts/cust-1/opt-outs")
    assert [o["channel"] for o in resp.get_json()["opt_outs"]] == ["all"]
    mail.clock.advance(days=40)
    d = mail.send("all-2", "t.email", contact(1, phone="+15551234567"))["decisions"][0]
    assert (d["outcome"], d["reason"]) == ("suppressed", "opted_out")
