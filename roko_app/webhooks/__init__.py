"""JSON webhooks called by partners (CSRF-exempt; authenticated by token or signature)."""

from roko_app.webhooks import optimove  # noqa: E402,F401  (registers its view on bp)
from roko_app.webhooks.routes import bp

__all__ = ["bp"]
