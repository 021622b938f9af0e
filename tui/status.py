"""What the header shows about the cluster: one immutable value the app replaces on change."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum


class LinkState(Enum):
    """How the TUI is connected, as the header says it."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    FAILED = "not connected"


@dataclass(frozen=True)
class ClusterStatus:
    context: str = "?"
    namespace: str = "ml-course"
    overlay: str = "minikube"
    state: LinkState = LinkState.CONNECTING
    detail: str = ""
    server_version: str = ""
    model_version: str = ""

    def with_(self, **changes: object) -> ClusterStatus:
        return replace(self, **changes)  # type: ignore[arg-type]
