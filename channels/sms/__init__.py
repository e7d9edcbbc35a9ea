"""The SMS / WhatsApp channel: two-way surveys on Twilio Messaging, one question per message.

``POST /sms/inbound`` takes customers' messages (SMS and ``whatsapp:`` senders alike),
``POST /sms/status`` takes delivery statuses; both check Twilio's signature. Outbound
surveys start with :func:`channels.sms.outbound.request_sms` or ``feedback sms``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

bp = Blueprint("sms", __name__, url_prefix="/sms")


def init_app(app: Any, csrf: Any) -> None:
    from . import views  # noqa: F401 - registers the routes on bp

    app.register_blueprint(bp)
    csrf.exempt(bp)
