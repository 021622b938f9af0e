"""pods/log: container logs from the files the runtime writes, optionally followed.

Each stored line is ``<RFC3339Nano timestamp> <text>``; the timestamp is stripped unless the
client asks for ``timestamps=true``.  Logs belong to one container instance (its containerID
in the pod's status): a re-created pod starts empty, ``previous`` is the last terminated one.
A follow ends when the pod is deleted, the container restarts, or the instance has stopped
and everything it wrote has been sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox.apimachinery.errors import ApiError
from sandbox.paths import log_path
from sandbox.storage.store import Store

Obj = dict[str, Any]

POLL_INTERVAL = 0.2


@dataclass
class LogRequest:
    namespace: str
    pod: str
    container: str | None
    follow: bool
    previous: bool
    timestamps: bool
    tail_lines: int | None
    since_seconds: int | None
    limit_bytes: int | None


@dataclass
class LogTarget:
    path: Path
    container: str
    container_id: str


def _container_status(pod: Obj, container: str) -> Obj:
    status = pod.get("status") or {}
    statuses = [
        *(status.get("containerStatuses") or []),
        *(status.get("initContainerStatuses") or []),
    ]
    return next((s for s in statuses if s.get("name") == container), {})


def _container_id(status: Obj, container: str, pod: str, previous: bool) -> str:
    """Which instance's log, or the error, as the kubelet's validateContainerLogStatus."""
    state, last = status.get("state") or {}, (status.get("lastState") or {}).get("terminated")
    terminated = state.get("terminated")
    last_id = (last or {}).get("containerID") or ""
    if previous:
        if not last_id:
            raise ApiError.bad_request(
                f'previous terminated container "{container}" in pod "{pod}" not found'
            )
        return str(last_id)
    if "running" in state:
        return str(status.get("containerID") or "")
    if terminated is not None or last is not None:
        found = (terminated or {}).get("containerID") or last_id
        if not found:
            raise ApiError.bad_request(f'container "{container}" in pod "{pod}" is terminated')
        return str(found)
    reason = (state.get("waiting") or {}).get("reason")
    why = {
        "ErrImagePull": "image can't be pulled",
        "ImagePullBackOff": "trying and failing to pull image",
    }.get(str(reason), str(reason))
    if reason:
        raise ApiError.bad_request(
            f'container "{container}" in pod "{pod}" is waiting to start: {why}'
        )
    raise ApiError.bad_request(
        f'container "{container}" in pod "{pod}" is waiting to start - no logs yet'
    )


def resolve(store: Store, state_dir: Path, request: LogRequest) -> LogTarget:
    """Which file to read, or the 400/404 the real API server answers."""
    pod = store.get("pods", request.namespace, request.pod)
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    names += [c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []]
    container = request.container
    if container is None:
        if len(names) != 1:
            raise ApiError.bad_request(
                f"a container name must be specified for pod {request.pod}, choose one of: "
                f"[{' '.join(str(name) for name in names)}]"
            )
        container = str(names[0])
    if container not in names:
        raise ApiError.bad_request(f"container {container} is not valid for pod {request.pod}")
    status = _container_status(pod, container)
    container_id = _container_id(status, container, request.pod, request.previous)
    uid = pod["metadata"]["uid"]
    path = log_path(state_dir, request.namespace, request.pod, uid, container, container_id)
    if not path.exists():
        raise ApiError.bad_request(
            f'container "{container}" in pod "{request.pod}" is waiting to start - no logs yet'
        )
    return LogTarget(path, container, container_id)


def _render(line: str, request: LogRequest, since: datetime | None) -> str | None:
    stamp, _, text = line.partition(" ")
    if since is not None:
        try:
            if datetime.fromisoformat(stamp.replace("Z", "+00:00")) < since:
                return None
        except ValueError:
            pass
    return line if request.timestamps else text


def _finished(store: Store, request: LogRequest, target: LogTarget) -> bool:
    try:
        pod = store.get("pods", request.namespace, request.pod)
    except ApiError:
        return True
    status = _container_status(pod, target.container)
    if pod["metadata"].get("deletionTimestamp") and not status.get("state", {}).get("running"):
        return True
    if status.get("containerID") != target.container_id:
        return True  # restarted: a new instance writes another log
    return "running" not in (status.get("state") or {})


async def stream(store: Store, request: LogRequest, target: LogTarget) -> AsyncIterator[bytes]:
    """The log text, then (with follow) new lines as they are written."""
    since = (
        datetime.now(UTC) - timedelta(seconds=request.since_seconds)
        if request.since_seconds
        else None
    )
    sent = 0
    with target.path.open("r", encoding="utf-8", errors="replace") as handle:
        lines = handle.readlines()
        partial = lines.pop() if lines and not lines[-1].endswith("\n") else ""
        if request.tail_lines is not None:
            lines = lines[-request.tail_lines :] if request.tail_lines > 0 else []
        for line in lines:
            text = _render(line, request, since)
            if text is not None:
                chunk = text.encode()
                if request.limit_bytes is not None and sent + len(chunk) > request.limit_bytes:
                    yield chunk[: request.limit_bytes - sent]
                    return
                sent += len(chunk)
                yield chunk
        if not request.follow:
            return
        while True:
            finished = _finished(store, request, target)
            more = handle.readline()
            while more:
                partial += more
                if partial.endswith("\n"):
                    text = _render(partial, request, since)
                    partial = ""
                    if text is not None:
                        yield text.encode()
                more = handle.readline()
            if finished:
                return
            await asyncio.sleep(POLL_INTERVAL)
