"""iris-serve as a real process: chunked bodies, JSON logs, and a graceful SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.model_store import ModelStore
from tests.service.api_fixtures import FLOWER, ServeProcess, publish, serve_process, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    tmp: Path = tmp_path_factory.mktemp("process")
    publish(ModelStore(tmp / "models"))
    with serve_process(tmp / "models", tmp, MAX_BODY_BYTES="2048", LOG_LEVEL="debug") as process:
        yield process


def test_chunked_body_over_the_limit_is_413(server):
    row = b"[5.1, 3.5, 1.4, 0.2], "

    def chunks() -> Iterator[bytes]:
        yield b'{"instances": ['
        for _ in range(200):  # about 4.4 kB, sent without a Content-Length
            yield row
        yield b"[5.1, 3.5, 1.4, 0.2]]}"

    response = httpx.post(
        server.url + "/predict/batch",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert "MAX_BODY_BYTES (2048 bytes)" in response.json()["detail"]
    small = httpx.post(server.url + "/predict/batch", json={"instances": [[5.1, 3.5, 1.4, 0.2]]})
    assert small.status_code == 200


def test_logs_are_json_lines_with_an_access_line_per_request(server):
    httpx.post(server.url + "/predict", json=FLOWER)
    wait_for(lambda: '"path": "/predict"' in server.logs(), what="an access log line")
    lines = [json.loads(line) for line in server.logs().splitlines() if line.strip()]
    messages = [entry["message"] for entry in lines]
    assert messages.count("API_KEY is not set: the API runs without authentication") == 1
    assert any(m == "serving model" for m in messages)
    access = [e for e in lines if e["logger"] == "iris.access" and e["path"] == "/predict"]
    assert access[0]["status"] == 200 and access[0]["method"] == "POST"


def test_fast_path_off_leaves_every_request_to_fastapi(server, tmp_path):
    starting = [json.loads(line) for line in server.logs().splitlines() if '"starting"' in line]
    assert starting[0]["fast_path"] is True
    publish(ModelStore(tmp_path / "models"))
    with serve_process(tmp_path / "models", tmp_path, FAST_PATH="false") as plain:
        answer = httpx.post(plain.url + "/predict", json=FLOWER)
        assert (answer.status_code, answer.json()["species_name"]) == (200, "setosa")
        logs = [json.loads(line) for line in plain.logs().splitlines() if line.strip()]
    assert [e["fast_path"] for e in logs if e["message"] == "starting"] == [False]


BODY = json.dumps(FLOWER).encode()


def _partial_request(port: int) -> socket.socket:
    """A /predict request whose body is only half sent: in flight until we finish it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(BODY)}\r\n\r\n".encode()
        + BODY[:20]
    )
    return sock


def _read_until_closed(sock: socket.socket) -> str:
    """The whole reply: a draining server answers with Connection: close and hangs up."""
    with sock:
        return b"".join(iter(lambda: sock.recv(65536), b"")).decode()


def _accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def test_sigterm_turns_unready_keeps_serving_then_finishes_in_flight_requests(tmp_path):
    publish(ModelStore(tmp_path / "models"))
    with serve_process(tmp_path / "models", tmp_path, SHUTDOWN_DELAY="4") as server:
        with httpx.Client(base_url=server.url) as client:
            assert client.post("/predict", json=FLOWER).status_code == 200
            in_flight = _partial_request(server.port)
            server.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()

            wait_for(lambda: client.get("/readyz").status_code == 503, what="unready")
            assert client.get("/readyz").json()["reason"] == "shutting down"
            assert client.get("/healthz").status_code == 200
            # During (the first half of) the delay, a steady stream of requests is answered.
            statuses = []
            while time.monotonic() - signalled < 2 or len(statuses) < 3:
                statuses.append(client.post("/predict", json=FLOWER).status_code)
                time.sleep(0.02)
            assert statuses == [200] * len(statuses)
            assert server.process.poll() is None

        # After the delay uvicorn stops accepting; the half-sent request still completes.
        wait_for(lambda: not _accepts_connections(server.port), timeout=15, what="draining")
        in_flight.sendall(BODY[20:])
        reply = _read_until_closed(in_flight)
        assert reply.startswith("HTTP/1.1 200")
        assert '"species_name":"setosa"' in reply
        assert server.process.wait(15) == 0
        assert "shutting down: unready now" in server.logs()
