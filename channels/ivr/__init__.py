"""The IVR channel: phone surveys on Twilio Voice, answered on the keypad or by voice.

``POST /ivr/voice`` is the Voice URL of a Twilio number (and of the outbound calls the
:mod:`channels.ivr.jobs` place); ``POST /ivr/status`` takes call status callbacks. Every
webhook checks Twilio's signature. Outbound survey calls start with
:func:`channels.ivr.outbound.request_call` or ``feedback call SURVEY PHONE``. See docs/ivr.md.
"""

from __future__ import annotations

from typing import Any


def init_app(app: Any, csrf: Any) -> None:
    from .views import bp

    app.register_blueprint(bp)
    csrf.exempt(bp)
