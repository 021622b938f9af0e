"""The `iris-serve` HTTP API (FastAPI): `create_app(settings, store=...)` builds one app."""

from service.api.app import create_app

__all__ = ["create_app"]
