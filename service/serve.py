"""`iris-serve`: the prediction API, one uvicorn worker (scale with replicas, not workers).

Shutdown on SIGTERM follows Kubernetes' order: readiness turns false at once, the server keeps
serving for SHUTDOWN_DELAY seconds while endpoints drop the pod, then uvicorn stops accepting
connections and lets in-flight requests finish.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

import uvicorn

from service.api import create_app, with_fast_path
from service.api.model_holder import ModelHolder
from service.logs import configure_logging
from service.settings import ServeSettings, load_settings

log = logging.getLogger("iris.serve")


class DrainingServer(uvicorn.Server):
    """A uvicorn server that turns unready and waits `delay` seconds before shutting down."""

    def __init__(self, config: uvicorn.Config, holder: ModelHolder, delay: float) -> None:
        super().__init__(config)
        self.holder = holder
        self.delay = delay

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.holder.draining:
            # A second signal: uvicorn's own handling (a second Ctrl-C forces the exit).
            super().handle_exit(sig, frame)
            return
        self.holder.draining = True
        log.info(
            "shutting down: unready now, stopping after the delay",
            extra={"signal": signal.Signals(sig).name, "delay_seconds": self.delay},
        )
        if self.delay <= 0:
            self._begin_shutdown()
            return
        timer = threading.Timer(self.delay, self._begin_shutdown)
        timer.daemon = True
        timer.start()

    def _begin_shutdown(self) -> None:
        # uvicorn's documented way to stop a running server; unlike its signal path, it
        # does not re-raise SIGTERM afterwards, so a drained server exits with status 0.
        self.should_exit = True


def main(argv: list[str] | None = None) -> int:
    settings = load_settings(
        ServeSettings,
        prog="iris-serve",
        description="Serve the Iris classifier over HTTP (REST, KServe V1 and V2 protocols).",
        argv=argv,
    )
    configure_logging(settings.log_level)
    log.info(
        "starting",
        extra={"host": settings.host, "port": settings.port, "fast_path": settings.fast_path},
    )
    app = create_app(settings)
    config = uvicorn.Config(
        with_fast_path(app, settings) if settings.fast_path else app,
        host=settings.host,
        port=settings.port,
        workers=1,
        log_config=None,
        access_log=False,  # the app logs each request itself, at debug level
        server_header=False,
        lifespan="on",
    )
    server = DrainingServer(config, app.state.holder, settings.shutdown_delay)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
