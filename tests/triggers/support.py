"""Fixtures shared by the touchpoint and email tests: the application with the test surveys
and contact policy, a clock the tests move, an SMTP server (aiosmtpd), an isolated rq queue
on the real Redis, and helpers to post events and read what happened."""

from __future__ import annotations

import datetime as dt
import email
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, make_app

HERE = Path(__file__).parent
SURVEYS = HERE / "surveys"
POLICY = HERE / "policy.yaml"
#: A Monday at noon in London: outside quiet hours.
T0 = dt.datetime(2026, 11, 23, 12, 0)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@dataclass
class Dist:
    """The application under test and what a test does with it."""

    app: Any
    client: Any
    key: str
    clock: Clock
    outbox: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def post(self, payload: Any) -> Any:
        return self.client.post("/api/v1/events", json=payload, headers=self.headers)

    def send(self, event_id: str, event_type: str, contact: dict[str, Any], data: dict[str, Any] | None = None,
             **fields: Any) -> dict[str, Any]:
        resp = self.post(event(event_id, event_type, contact, data, **fields))
        assert resp.status_code == 202, resp.get_json()
        return resp.get_json()

    def get(self, path: str, **params: Any) -> Any:
        resp = self.client.get(path, query_string=params, headers=self.headers)
        return resp

    def event_detail(self, event_id: str) -> dict[str, Any]:
        resp = self.get(f"/api/v1/events/{event_id}")
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    def run(self) -> int:
        """Run every job due by the test clock (in-process, like the embedded default)."""
        from feedback.jobs import dispatch_all

        with self.app.app_context():
            return dispatch_all(now=self.clock.now)

    def advance(self, **delta: float) -> int:
        self.clock.advance(**delta)
        return self.run()

    def eml(self) -> list[EmailMessage]:
        """The emails written to the outbox folder, oldest first."""
        files = sorted(self.outbox.glob("*.eml")) if self.outbox.exists() else []
        return [email.message_from_bytes(f.read_bytes(), policy=email_policy.default) for f in files]  # type: ignore[misc]

    def responses(self, survey: str, **params: Any) -> list[dict[str, Any]]:
        resp = self.get(f"/api/v1/surveys/{survey}/responses", **params)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()["responses"]

    def ctx(self) -> Any:
        return self.app.app_context()

    def count(self, model: Any) -> int:
        from sqlalchemy import func, select

        from feedback.store.models import db

        with self.app.app_context():
            return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def event(event_id: str, event_type: str, contact: dict[str, Any], data: dict[str, Any] | None = None,
          **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": event_id, "type": event_type, "contact": contact, "data": data or {}}
    body.update(fields)
    return body


def contact(n: int | str, **fields: Any) -> dict[str, Any]:
    """A contact with an id and an email address (and whatever else is given)."""
    return {"id": f"cust-{n}", "email": f"c{n}@example.com", "timezone": "Europe/London", **fields}


def make_dist(tmp_path: Path, backend: str, pg: str | None = None, **overrides: Any) -> Dist:
    from feedback.store import operations as ops

    clock = Clock(T0)
    outbox = tmp_path / "outbox"
    config: dict[str, Any] = {
        "CONTACT_POLICY": str(POLICY),
        "EMAIL_OUTBOX": str(outbox),
        "CLOCK": clock,
        "JOBS_QUEUE": f"feedback-test-{uuid.uuid4().hex[:10]}",
    }
    config.update(overrides)
    app = make_app(tmp_path, backend, pg, **config)
    with app.app_context():
        report = ops.load_surveys([SURVEYS])
        assert not report.problems, report.problems
        key = ops.create_api_key("touchpoint tests")
    return Dist(app, app.test_client(), key, clock, outbox)


def close_dist(d: Dist) -> None:
    from feedback.store.models import db

    with d.app.app_context():
        db.session.remove()
        db.engine.dispose()
    cleanup = d.app.extensions.get("test_cleanup")
    if cleanup:
        cleanup()


@pytest.fixture(params=["sqlite", "postgres"])
def dist(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Dist]:
    """The application on SQLite and on PostgreSQL with the test surveys and policy."""
    pg = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    d = make_dist(tmp_path, request.param, pg)
    yield d
    close_dist(d)


@pytest.fixture
def sqlite_dist(tmp_path: Path) -> Iterator[Dist]:
    d = make_dist(tmp_path, "sqlite")
    yield d
    close_dist(d)


# -- SMTP -----------------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes = b""


class SmtpSink:
    """A real SMTP server (aiosmtpd) that keeps what it receives. Recipients at
    ``@refused.example`` are refused with 550."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:  # noqa: N802
        if address.lower().endswith("@refused.example"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=email_policy.default)
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg, bytes(envelope.content)))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [r.message for r in self.messages if address in r.rcpt_tos]

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


# -- reading emails -----------------------------------------------------------------------------


def html_of(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None
    return part.get_content()


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return part.get_content()


def links(msg: EmailMessage) -> list[str]:
    import html as htmlmod
    import re

    return [htmlmod.unescape(u) for u in re.findall(r'href="([^"]+)"', html_of(msg))]


def answer_link(msg: EmailMessage, value: str) -> str:
    """The link of one embedded answer (``?...a=<value>``)."""
    from urllib.parse import parse_qs, urlsplit

    found = [u for u in links(msg) if parse_qs(urlsplit(u).query).get("a") == [value]]
    assert len(found) == 1, links(msg)
    return found[0]


def local(url: str) -> str:
    """The path and query of an absolute link, for the test client."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
