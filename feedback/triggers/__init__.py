"""Touchpoint events -> invitations: triggers, the contact policy, the channel ladder.

The top level stays free of web and database imports so that the survey loader can import
:mod:`feedback.triggers.definition` (the ``triggers:`` section) from the pure core.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

#: Commands that serve the app: only they (and WSGI servers, which have no command) run jobs
#: in-process when there is no Redis. `feedback db upgrade` and the like never do.
SERVING_COMMANDS = ("serve", "run-demo", "run")


def init_app(app: Any, csrf: Any) -> None:
    from .api import bp

    app.register_blueprint(bp)
    csrf.exempt(bp)
    if should_run_jobs_in_process(app):
        from feedback.jobs import start_in_process_runner

        start_in_process_runner(app, float(app.config.get("JOBS_INTERVAL") or 1.0))


def should_run_jobs_in_process(app: Any) -> bool:
    """Without REDIS_URL a serving process runs due jobs itself (delays included); never in
    tests, in the rq worker, or in a command that is not serving."""
    if app.config.get("TESTING") or app.config.get("REDIS_URL"):
        return False
    if app.config.get("RUN_JOBS_IN_PROCESS") is False:
        return False
    try:
        import click

        ctx = click.get_current_context(silent=True)
    except Exception:  # noqa: BLE001
        ctx = None
    if ctx is not None and ctx.command is not None and ctx.command.name not in SERVING_COMMANDS:
        return False
    return True
