"""HTTP endpoints of the web intercept (being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("intercept", __name__)
