"""The web survey channel (``/s/<survey_id>``, ``/i/<token>``)."""

from flask import Blueprint

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/static/web")

from . import views  # noqa: E402,F401  (routes register on bp)
