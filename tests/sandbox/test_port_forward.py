"""kubectl port-forward through the sandbox: SPDY streams in a WebSocket, to a pod's port."""

from __future__ import annotations

import hashlib
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from sandbox.apiserver import spdy
from sandbox.testing import SandboxProcess

NS = "pf-test"
BIG = 1024 * 1024 + 17  # more than one DATA frame, and not a multiple of the chunk size
# Serves a folder holding `big.bin`: BIG deterministic bytes, so the test can check them.
SERVE = (
    "import http.server, os, functools; os.makedirs('site', exist_ok=True); "
    f"open('site/big.bin', 'wb').write(bytes(i % 251 for i in range({BIG}))); "
    "handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory='site'); "
    "http.server.ThreadingHTTPServer((os.environ['HOST'], int(os.environ['PORT'])), handler)"
    ".serve_forever()"
)
POD = f"""
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: {NS}
spec:
  containers:
    - name: web
      image: lab:1
      command: ["python", "-c", "{SERVE}"]
      ports:
        - name: http
          containerPort: 8000
      readinessProbe:
        httpGet: {{path: /, port: http}}
        periodSeconds: 1
"""


@pytest.fixture(scope="module")
def web(shared_sandbox: SandboxProcess) -> SandboxProcess:
    shared_sandbox.load_image("lab:1")
    shared_sandbox.ready_pod(NS, POD, "web")
    return shared_sandbox


@contextmanager
def port_forward(
    sandbox: SandboxProcess, remote: int
) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """`kubectl port-forward pod/web :<remote>`, and the local port it chose."""
    process = subprocess.Popen(
        ["kubectl", "port-forward", "-n", NS, "pod/web", f":{remote}", "--address", "127.0.0.1"],
        env=sandbox.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"127\.0\.0\.1:(\d+) -> (\d+)", line)
        assert found and int(found[2]) == remote, (line, process.stderr and process.stderr.read())
        yield int(found[1]), process
    finally:
        process.terminate()
        process.wait(timeout=10)


def fetch(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=20) as response:
        return bytes(response.read())


def test_port_forward_carries_requests_to_the_pod(web: SandboxProcess) -> None:
    expected = hashlib.sha256(bytes(i % 251 for i in range(BIG))).hexdigest()
    with port_forward(web, 8000) as (port, _):
        assert hashlib.sha256(fetch(port, "/big.bin")).hexdigest() == expected
        # Each connection is a new pair of streams on the same WebSocket, some at once.
        for _ in range(3):
            assert b"big.bin" in fetch(port, "/")
        with ThreadPoolExecutor(4) as pool:
            bodies = list(pool.map(lambda _: fetch(port, "/big.bin"), range(4)))
        assert {hashlib.sha256(body).hexdigest() for body in bodies} == {expected}


def test_port_forward_reports_a_port_nobody_listens_on(web: SandboxProcess) -> None:
    with port_forward(web, 9999) as (port, process):
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            fetch(port, "/")
        process.terminate()
        _, errors = process.communicate(timeout=10)
    assert "no process of the pod listens on port 9999" in errors


def test_port_forward_to_a_missing_pod_says_so(web: SandboxProcess) -> None:
    result = web.kubectl("port-forward", "-n", NS, "pod/nope", ":8000", check=False, timeout=20)
    assert result.returncode != 0
    assert 'pods "nope" not found' in result.stderr


def test_frames_survive_any_split_and_headers_round_trip() -> None:
    client, server = spdy.HeaderCodec(), spdy.HeaderCodec()
    headers = {"streamtype": "data", "port": "8000", "requestid": "0"}
    syn = spdy.control(spdy.SYN_STREAM, (1).to_bytes(4, "big") + bytes(6) + client.encode(headers))
    wire = syn + spdy.data(1, b"hello") + spdy.data(1, b"", fin=True)
    reader = spdy.FrameReader()
    frames = [frame for byte in range(len(wire)) for frame in reader.feed(wire[byte : byte + 1])]
    assert [type(frame).__name__ for frame in frames] == ["ControlFrame", "DataFrame", "DataFrame"]
    first = frames[0]
    assert isinstance(first, spdy.ControlFrame)
    assert spdy.syn_stream_of(first, server) == (1, headers)
    assert frames[1] == spdy.DataFrame(1, 0, b"hello")
    assert isinstance(frames[2], spdy.DataFrame) and frames[2].fin
    with pytest.raises(spdy.SpdyError):
        list(spdy.FrameReader().feed(b"\x80\x02" + bytes(6)))  # a SPDY/2 control frame
