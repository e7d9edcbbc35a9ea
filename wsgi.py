"""WSGI entry point: ``gunicorn wsgi:app``."""

from feedback.app import create_app

app = create_app()
