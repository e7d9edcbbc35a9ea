"""Sending an email: SMTP from ``SMTP_URL``, or ``.eml`` files in the outbox folder.

``SMTP_URL`` forms:

* ``smtp://host:25`` plain SMTP; upgraded with STARTTLS when the server offers it
  (``?starttls=require`` to insist, ``?starttls=no`` never);
* ``smtps://user:password@host:465`` SMTP over TLS;
* user and password are URL-encoded (``%40`` for ``@``); ``?timeout=20`` in seconds.

Without ``SMTP_URL`` (the embedded default) every message is written as an ``.eml`` file
under ``instance/outbox/`` (or ``EMAIL_OUTBOX``), which any mail client opens.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from feedback.errors import BadRequest


class PermanentFailure(Exception):
    """The server refused the message for good (e.g. no such mailbox): do not retry."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: bool
    starttls: str  # auto | require | no
    username: str | None
    password: str | None
    timeout: float


def parse_smtp_url(url: str) -> SmtpSettings:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise BadRequest(f"SMTP_URL must start with smtp:// or smtps://, not {scheme or 'nothing'}://")
    if not parts.hostname:
        raise BadRequest("SMTP_URL has no host, e.g. smtp://mail.example.com:587")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    starttls = (query.get("starttls") or "auto").lower()
    if starttls in ("1", "true", "yes", "required"):
        starttls = "require"
    if starttls in ("0", "false", "off", "none"):
        starttls = "no"
    if starttls not in ("auto", "require", "no"):
        raise BadRequest("SMTP_URL starttls must be auto, require or no")
    try:
        timeout = float(query.get("timeout") or 20)
        port = parts.port or (465 if scheme == "smtps" else 25)
    except ValueError:
        raise BadRequest("SMTP_URL has a port or timeout that is not a number") from None
    return SmtpSettings(
        host=parts.hostname,
        port=port,
        tls=scheme == "smtps",
        starttls="no" if scheme == "smtps" else starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        timeout=timeout,
    )


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """Loading the system's certificates takes tens of milliseconds: once per process."""
    return ssl.create_default_context()


def send_smtp(msg: EmailMessage, settings: SmtpSettings) -> None:
    client: smtplib.SMTP
    if settings.tls:
        client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=_tls_context())
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    with client:
        client.ehlo()
        if not settings.tls and settings.starttls != "no":
            if client.has_extn("starttls"):
                client.starttls(context=_tls_context())
                client.ehlo()
            elif settings.starttls == "require":
                raise PermanentFailure(f"{settings.host} does not offer STARTTLS, and SMTP_URL requires it")
        if settings.username:
            client.login(settings.username, settings.password or "")
        try:
            refused = client.send_message(msg)
        except smtplib.SMTPRecipientsRefused as e:
            raise PermanentFailure(f"the server refused the recipient: {_refusal(e.recipients)}") from None
        except smtplib.SMTPResponseException as e:
            if 500 <= e.smtp_code < 600:
                raise PermanentFailure(f"the server refused the message: {e.smtp_code} {_text(e.smtp_error)}") from None
            raise
        if refused:
            raise PermanentFailure(f"the server refused the recipient: {_refusal(refused)}")


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _refusal(recipients: dict[str, Any]) -> str:
    return "; ".join(f"{addr}: {code} {_text(text)}" for addr, (code, text) in recipients.items())


def write_eml(msg: EmailMessage, folder: Path, name: str) -> Path:
    """Write the message as ``folder/<time>-<name>.eml`` (atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    path = folder / f"{stamp}-{name}.eml"
    tmp = path.with_suffix(".eml.tmp")
    tmp.write_bytes(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))
    os.replace(tmp, path)
    return path


def deliver(msg: EmailMessage, config: Any, instance_path: str, name: str) -> tuple[str, str | None]:
    """Send ``msg`` as the configuration says: ``("smtp", None)`` or ``("outbox", path)``."""
    url = config.get("SMTP_URL")
    if url:
        send_smtp(msg, parse_smtp_url(str(url)))
        return "smtp", None
    folder = Path(config.get("EMAIL_OUTBOX") or Path(instance_path) / "outbox")
    return "outbox", str(write_eml(msg, folder, name))
