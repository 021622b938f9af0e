"""Helpers shared by the API tests: a published model, an app, a real iris-serve process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression
from starlette.types import ASGIApp

from service.api import create_app, with_fast_path
from service.data import load_training_data
from service.model_store import ModelStore
from service.settings import ServeSettings, TrainSettings
from service.train import fit

BIN = Path(sys.executable).parent
FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def publish(store: ModelStore, c: float = 1.0) -> str:
    """Fit on Iris (regularisation `c`, so versions differ) and publish; returns the version."""
    model, metadata = fit(load_training_data(None), TrainSettings(model_c=c))
    return store.publish(model, metadata)


def fitted_iris(c: float = 1.0) -> LogisticRegression:
    model, _ = fit(load_training_data(None), TrainSettings(model_c=c))
    return model


def settings(model_dir: Path, **overrides: Any) -> ServeSettings:
    values: dict[str, Any] = {"model_dir": model_dir, "reload_interval": 0.05, **overrides}
    return ServeSettings(**values)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def serving_app(serve_settings: ServeSettings) -> ASGIApp:
    """The app as iris-serve runs it: the fast path in front of the FastAPI app."""
    return with_fast_path(create_app(serve_settings), serve_settings)


@contextmanager
def running_app(app: ASGIApp, ready: bool = True) -> Iterator[TestClient]:
    """A TestClient with the app's lifespan (so its reloader) running."""
    with TestClient(app, raise_server_exceptions=False) as client:
        if ready:
            wait_for(lambda: client.get("/readyz").status_code == 200, what="/readyz 200")
        yield client


@contextmanager
def client_for(model_dir: Path, **overrides: Any) -> Iterator[TestClient]:
    with running_app(serving_app(settings(model_dir, **overrides))) as client:
        yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """`iris-serve` as a real process on a free port (stopped by the context manager)."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def serve_process(model_dir: Path, tmp_path: Path, **env: str) -> Iterator[ServeProcess]:
    port = free_port()
    log = tmp_path / f"iris-serve-{port}.log"
    environment = {
        **os.environ,
        "MODEL_DIR": str(model_dir),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "RELOAD_INTERVAL": "0.1",
        **env,
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(BIN / "iris-serve")],
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ServeProcess(process, port, log)
    try:
        wait_for(lambda: _ready(server), timeout=20, what=f"iris-serve ready; log:\n{log}")
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def _ready(server: ServeProcess) -> bool:
    if server.process.poll() is not None:
        raise AssertionError(f"iris-serve exited early:\n{server.logs()}")
    try:
        return httpx.get(server.url + "/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
