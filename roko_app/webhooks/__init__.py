"""JSON webhooks called by partners (CSRF-exempt; authenticated by token or signature)."""

from roko_app.webhooks import optimove, topaz_status  # noqa: F401  (each registers its view on bp)
from roko_app.webhooks.routes import bp

__all__ = ["bp"]
