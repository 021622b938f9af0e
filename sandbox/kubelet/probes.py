"""Container probes (httpGet, tcpSocket, exec) and the counting that turns results into state."""

from __future__ import annotations

import http.client
import socket
import subprocess
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.kubelet.containerview import ContainerView

Obj = dict[str, Any]


def _port(probe_port: Any, named: dict[str, int]) -> int:
    """The containerPort a probe's port names (a number or a name)."""
    if isinstance(probe_port, str) and not probe_port.isdigit():
        container_port = named.get(probe_port)
        if container_port is None:
            raise ValueError(f'port "{probe_port}" is not a named port of the container')
        return container_port
    return int(probe_port)


def run(
    spec: Obj,
    pod_ip: str,
    named: dict[str, int],
    env: dict[str, str],
    view: ContainerView | None,
) -> tuple[bool, str]:
    """Probe once, as the kubelet does: the network ones at the pod's address, exec in the
    container's view; (success, message like the kubelet's on failure)."""
    timeout = float(spec.get("timeoutSeconds", 1))
    try:
        if "httpGet" in spec:
            return _http(spec["httpGet"], pod_ip, named, timeout)
        if "exec" in spec:
            return _exec(spec["exec"].get("command") or [], env, view, timeout)
        target = spec.get("tcpSocket") or spec.get("grpc") or {}
        return _tcp(target, pod_ip, named, timeout)
    except ValueError as error:
        return False, str(error)


def _http(action: Obj, pod_ip: str, named: dict[str, int], timeout: float):
    host = action.get("host") or pod_ip
    port = _port(action.get("port"), named)
    path = action.get("path") or "/"
    url = f"{(action.get('scheme') or 'HTTP').lower()}://{host}:{port}{path}"
    cls = (
        http.client.HTTPSConnection
        if action.get("scheme") == "HTTPS"
        else http.client.HTTPConnection
    )
    connection = cls(host, port, timeout=timeout)
    headers = {h["name"]: h["value"] for h in action.get("httpHeaders") or []}
    headers.setdefault("User-Agent", "kube-probe/1.32")
    try:
        connection.request("GET", path, headers=headers)
        code = connection.getresponse().status
    except ConnectionRefusedError:
        return False, f'Get "{url}": dial tcp {host}:{port}: connect: connection refused'
    except TimeoutError:
        why = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        return False, f'Get "{url}": {why}'
    except OSError as error:
        return False, f'Get "{url}": {error}'
    finally:
        connection.close()
    if 200 <= code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {code}"


def _tcp(target: Obj, pod_ip: str, named: dict[str, int], timeout: float):
    host = target.get("host") or pod_ip
    port = _port(target.get("port"), named)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, ""
    except OSError:
        return False, f"dial tcp {host}:{port}: connect: connection refused"


def _exec(command: list[str], env: dict[str, str], view: ContainerView | None, timeout: float):
    if view is None:
        return False, "the container is not running"
    try:
        process = view.popen(
            [view.path(word) for word in command],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    except OSError as error:
        return False, str(error)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return False, f"command {command!r} timed out"
    return process.returncode == 0, (out + err).strip()


class ProbeState:
    """Schedule and thresholds of one probe of one container run."""

    def __init__(self, spec: Obj, started: float) -> None:
        self.spec = spec
        self.period = float(spec.get("periodSeconds", 10))
        self.failure_threshold = int(spec.get("failureThreshold", 3))
        self.success_threshold = int(spec.get("successThreshold", 1))
        self.next_at = started + float(spec.get("initialDelaySeconds", 0))
        self.successes = 0
        self.failures = 0

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def record(self, ok: bool, now: float) -> None:
        self.next_at = now + self.period
        if ok:
            self.successes, self.failures = self.successes + 1, 0
        else:
            self.successes, self.failures = 0, self.failures + 1

    @property
    def passing(self) -> bool:
        return self.successes >= self.success_threshold

    @property
    def failed(self) -> bool:
        return self.failures >= self.failure_threshold
