"""The email channel: invitations with the first question embedded, reminders, unsubscribe.

``channels.email.invitations.request_email`` starts an email invitation (contracts §2);
``/email/unsubscribe/<token>`` is the unsubscribe page (and the one-click target of the
``List-Unsubscribe`` header).
"""

from __future__ import annotations

from typing import Any


def init_app(app: Any, csrf: Any) -> None:
    from .views import bp

    app.register_blueprint(bp)
    # The signed token in the URL is the authorisation; mail clients post the one-click
    # unsubscribe (RFC 8058) without any form token.
    csrf.exempt(bp)
