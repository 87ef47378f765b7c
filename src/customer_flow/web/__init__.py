"""The web door: a FastAPI app with the REST API (``api/``) and the HTML pages (``pages/``).

Both call the Hub and nothing else. ``create_app`` builds the app around one Hub.
"""

from __future__ import annotations

from customer_flow.web.app import create_app

__all__ = ["create_app"]
