"""The web intercept: one script tag on a customer's site opens a survey when a rule fires.

``/intercept.js`` (the loader) fetches the rules of the site's surveys, evaluates them in
the browser and, only when one fires, loads the overlay that shows the web survey in an
iframe. This package's top level stays free of web imports so that the survey loader can
import :mod:`feedback.intercept.definition` from the pure core.
"""

from __future__ import annotations

from typing import Any


def init_app(app: Any, csrf: Any) -> None:
    from .views import bp

    app.register_blueprint(bp)
    csrf.exempt(bp)
