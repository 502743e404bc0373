"""The Topaz SMS gateway: the send client and a runnable simulator.

``roko_app.gateway.topaz`` holds every assumption about the vendor's send API
(contract: ``docs/topaz-gateway.md``); ``roko_app.gateway.simulator`` is a fake
Topaz for dev and tests (``python -m roko_app.gateway.simulator``). Nothing here
imports the Flask application.
"""

from roko_app.gateway.topaz import SendOutcome, SendResult, StatusResult, StatusState, TopazClient

__all__ = ["SendOutcome", "SendResult", "StatusResult", "StatusState", "TopazClient"]
