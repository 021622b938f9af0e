"""The `iris-serve` HTTP API: `create_app(settings)` builds the FastAPI app, and
`with_fast_path(app, settings)` puts the fast path for valid predictions in front of it."""

from service.api.app import create_app, with_fast_path

__all__ = ["create_app", "with_fast_path"]
