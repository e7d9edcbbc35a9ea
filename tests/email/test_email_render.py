"""Rendering invitation emails (no server): which first questions are embedded and how,
locales, SMTP_URL forms, and `feedback email preview`."""

from __future__ import annotations

import textwrap
from urllib.parse import parse_qs, urlsplit

import pytest

from channels.email.render import build_message, render_invitation
from channels.email.transport import parse_smtp_url
from feedback.definition.loader import load_text
from feedback.errors import BadRequest

SURVEY = """\
spec_version: 1
id: r
title: {en: Render, zh-CN: 渲染}
locales: [en, zh-CN]
channels: [web, email]
questions:
"""


def survey(questions: str, email: str = ""):  # type: ignore[no-untyped-def]
    text = SURVEY + textwrap.indent(textwrap.dedent(questions), "  ") + textwrap.dedent(email)
    return load_text(text, "r.yaml")


def render(compiled, locale: str = "en", context: dict | None = None):  # type: ignore[no-untyped-def]
    return render_invitation(
        compiled, context=context or {}, locale=locale,
        survey_url="https://fb.example/i/TOKEN", unsubscribe_url="https://fb.example/email/unsubscribe/U",
    )


def values(rendered) -> list[str]:  # type: ignore[no-untyped-def]
    return [parse_qs(urlsplit(o.url).query)["a"][0] for o in rendered.options]


def test_yes_no_and_single_choice_are_embedded_with_their_labels() -> None:
    yn = render(survey("""\
        - {id: ok, type: yes_no, text: {en: All good?, zh-CN: 都好吗？}}
        """), "zh-CN")
    assert values(yn) == ["yes", "no"] and [o.label for o in yn.options] == ["是", "否"]
    sc = render(survey("""\
        - id: topic
          type: single_choice
          text: {en: About?, zh-CN: 关于？}
          choices:
            - {code: billing, label: {en: Billing, zh-CN: 账单}}
            - {code: delivery, label: {en: Delivery, zh-CN: 配送}}
        """))
    assert values(sc) == ["billing", "delivery"] and [o.label for o in sc.options] == ["Billing", "Delivery"]
    assert all(parse_qs(urlsplit(o.url).query)["q"] == ["topic"] for o in sc.options)


@pytest.mark.parametrize(
    ("qtype", "extra", "expected"),
    [
        ("nps", "", [str(i) for i in range(11)]),
        ("csat", "", ["1", "2", "3", "4", "5"]),
        ("ces", "", [str(i) for i in range(1, 8)]),
        ("rating", ", scale: {min: 1, max: 10}", [str(i) for i in range(1, 11)]),
        ("rating", ", scale: {min: 0, max: 20}", []),  # too many to click
        ("text", "", []),
        ("number", "", []),
    ],
)
def test_which_first_questions_are_embedded(qtype: str, extra: str, expected: list[str]) -> None:
    compiled = survey(f"- {{id: q, type: {qtype}, text: {{en: Q?, zh-CN: 问？}}{extra}}}\n")
    rendered = render(compiled)
    assert values(rendered) == expected
    assert "https://fb.example/i/TOKEN" in rendered.html and "https://fb.example/i/TOKEN" in rendered.text
    if not expected:
        assert rendered.question_id is None and "Start the survey" in rendered.html


def test_the_first_question_asked_is_the_one_embedded() -> None:
    compiled = survey("""\
        - {id: vip, type: yes_no, show_if: contact.tier == "gold", text: {en: VIP?, zh-CN: 贵宾？}}
        - {id: score, type: csat, text: {en: Score?, zh-CN: 评分？}}
        """)
    assert render(compiled).question_id == "score"
    assert render(compiled, context={"contact": {"tier": "gold"}}).question_id == "vip"


def test_embedding_can_be_turned_off() -> None:
    compiled = survey("- {id: q, type: nps, text: {en: Q?, zh-CN: 问？}}\n", "email: {embed_first_question: false}\n")
    assert render(compiled).options == []


def test_subject_piping_and_locale() -> None:
    compiled = survey(
        "- {id: q, type: nps, text: {en: 'Hi {{ contact.first_name }}?', zh-CN: '{{ contact.first_name }}，好吗？'}}\n",
        "email: {subject: {en: 'Order {{ event.order_id }}', zh-CN: '订单 {{ event.order_id }}'}}\n",
    )
    ctx = {"contact": {"first_name": "Li"}, "event": {"order_id": "7"}}
    en = render(compiled, "en", ctx)
    zh = render(compiled, "zh-CN", ctx)
    assert (en.subject, zh.subject) == ("Order 7", "订单 7")
    assert "Hi Li?" in en.html and "Li，好吗？" in zh.html
    assert zh.locale == "zh-CN" and '<html lang="zh-CN"' in zh.html
    default = render(survey("- {id: q, type: nps, text: {en: Q?, zh-CN: 问？}}\n"), "zh-CN")
    assert default.subject == "诚邀您反馈：渲染"
    msg = build_message(en, to="a@example.com", sender="Acme <fb@acme.example>", message_id="<1@acme.example>")
    assert msg["List-Unsubscribe"] == "<https://fb.example/email/unsubscribe/U>"
    assert msg["Content-Language"] == "en"


def test_smtp_urls() -> None:
    s = parse_smtp_url("smtps://user%40x:p%3Ass@mail.example.com")
    assert (s.host, s.port, s.tls, s.username, s.password) == ("mail.example.com", 465, True, "user@x", "p:ss")
    s = parse_smtp_url("smtp://mail.example.com:587?starttls=require&timeout=5")
    assert (s.port, s.tls, s.starttls, s.timeout, s.username) == (587, False, "require", 5.0, None)
    assert parse_smtp_url("smtp://localhost").port == 25
    for bad in ("http://x", "smtp://", "smtp://x?starttls=maybe", "smtp://x:abc"):
        with pytest.raises(BadRequest):
            parse_smtp_url(bad)


def test_email_preview_command(sqlite_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from feedback.cli import cli

    env = {"DATABASE_URL": sqlite_app.config["DATABASE_URL"], "SECRET_KEY": "x", "REDIS_URL": ""}
    runner = CliRunner()
    out = tmp_path / "mail.html"
    result = runner.invoke(cli, ["email", "preview", "post-purchase", "--locale", "zh-CN", "-o", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "您对订单" in out.read_text(encoding="utf-8")
    result = runner.invoke(cli, ["email", "preview", "post-purchase", "--context", '{"event": {"order_id": "Q-1"}}'],
                           env=env)
    assert result.exit_code == 0 and "Q-1" in result.output and result.output.startswith("Subject: ")
    result = runner.invoke(cli, ["email", "preview", "nope"], env=env)
    assert result.exit_code == 1 and "no survey 'nope'" in result.output
