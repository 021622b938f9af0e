"""JSON rendering for every response: orjson, which writes numpy arrays directly and refuses
NaN instead of emitting invalid JSON."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


def render(payload: Any) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return render(content)
