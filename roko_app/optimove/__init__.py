"""Calls we make to Optimove (the aggregator contract's delivery reports, incoming
messages and handshake) and a runnable Optimove simulator. Nothing here imports the
Flask application; the outbox of these calls is ``roko_app.services.optimove_callbacks``."""
