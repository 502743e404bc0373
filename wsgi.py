"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``."""

from roko_app import create_app

app = create_app()
