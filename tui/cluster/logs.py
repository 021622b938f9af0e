"""Following a pod's log: lines as they come, a clear marker when the stream ends, reattaching.

``LogStream`` is an iterator for a thread worker. It yields ``LogLine`` for each log line,
``LogNotice`` when it attaches or waits for a container to start, and ``LogEnd`` when the
stream ends (pod deleted, container exited or restarted, connection lost). With ``follow`` it
then waits — on a watch of that one pod, not by polling — for the container to run again (a
restart, the pod recreated, the cluster back) and reattaches, skipping lines already shown.
"""

from __future__ import annotations

import json
import re
import shlex
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from tui.cluster.connection import (
    REQUEST_TIMEOUT,
    ClusterError,
    Connection,
    api_error_message,
    call_json,
    call_raw,
    cluster_error,
)
from tui.cluster.rows import pods_of_job
from tui.cluster.streams import StreamSlot, iter_lines

# How long one wait-for-the-pod watch lasts before it is renewed (the server ends it).
POD_WATCH_TIMEOUT = 60
MAX_BACKOFF = 10.0
# A followed log may be quiet for long; past this, reconnect (lines already shown are skipped).
FOLLOW_READ_TIMEOUT = 3600.0


@dataclass(frozen=True)
class LogLine:
    text: str


@dataclass(frozen=True)
class LogNotice:
    """Not a log line: attached to a container, or waiting for one to start."""

    reason: str


@dataclass(frozen=True)
class LogEnd:
    """The stream ended; ``reason`` says why (pod deleted, container exited/restarted …)."""

    reason: str


LogItem = LogLine | LogNotice | LogEnd


class _NotStarted(Exception):
    """The log request found the container waiting to start (it restarted meanwhile)."""


_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def pod_containers(conn: Connection, pod: str) -> list[str]:
    """The pod's container names, init containers last."""
    spec = _read_pod(conn, pod).get("spec") or {}
    return [c["name"] for c in spec.get("containers") or []] + [
        c["name"] for c in spec.get("initContainers") or []
    ]


def job_pods(conn: Connection, job: str) -> list[str]:
    """Names of the Job's pods, newest first."""
    try:
        found = call_json(
            client.BatchV1Api(conn.api_client).read_namespaced_job, job, conn.namespace
        )
        listed = call_json(client.CoreV1Api(conn.api_client).list_namespaced_pod, conn.namespace)
    except Exception as exc:
        raise cluster_error(exc, f"find the pods of job {job}") from exc
    pods = pods_of_job(listed.get("items") or [], found["metadata"]["uid"])
    pods.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True)
    return [p["metadata"]["name"] for p in pods]


def logs_command(
    conn: Connection,
    pod: str,
    container: str | None = None,
    *,
    tail_lines: int | None = 200,
    previous: bool = False,
    follow: bool = True,
) -> str:
    """The kubectl command that shows the same log."""
    args = ["logs", pod]
    if container:
        args += ["-c", container]
    if previous:
        args.append("--previous")
    elif follow:
        args.append("-f")
    if tail_lines is not None:
        args.append(f"--tail={tail_lines}")
    return shlex.join(conn.kubectl(*args))


class LogStream:
    """Iterate to follow one container's log; ``stop()`` from any thread ends the iteration."""

    def __init__(
        self,
        conn: Connection,
        pod: str,
        *,
        container: str | None = None,
        tail_lines: int | None = 200,
        previous: bool = False,
        follow: bool = True,
        stop: threading.Event | None = None,
    ) -> None:
        self.conn = conn
        self.pod = pod
        self.container = container
        self.tail_lines = tail_lines
        self.previous = previous
        self.follow = follow and not previous
        self.kubectl = logs_command(
            conn, pod, container, tail_lines=tail_lines, previous=previous, follow=follow
        )
        self._stop = stop or threading.Event()
        self._slot = StreamSlot()
        self._core = client.CoreV1Api(conn.api_client)

    def stop(self) -> None:
        self._stop.set()
        self._slot.close()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def __iter__(self) -> Iterator[LogItem]:
        if self.previous:
            yield from self._read_previous()
            return
        shown: tuple[str, int] | None = None  # (pod uid, restart count) whose lines were shown
        last_key: tuple[str, str] | None = None  # newest line timestamp shown from it
        last_marker = ""
        need_change = False
        fresh = False  # pod/version are from a lookup made since the last decision
        pod: dict[str, Any] | None = None
        version = ""
        backoff = 1.0
        while not self.stopped:
            try:
                if not fresh:
                    pod, version = self._lookup()
                fresh = False
                if need_change:
                    # From the version the decision to wait was based on: no change is missed.
                    if not self._wait_change(version):
                        return
                    pod, version = self._lookup()
                    need_change = False
                blocked = self._blocked(pod, shown)
                if blocked is not None:
                    if not self.follow:
                        yield LogEnd(blocked or "log stream ended")
                        return
                    if blocked and blocked != last_marker:
                        last_marker = blocked
                        yield LogNotice(blocked)
                    need_change = fresh = True
                    continue
                assert pod is not None
                container = self.container or _default_container(pod)
                instance = (pod["metadata"]["uid"], _restart_count(pod, container))
                tail = self.tail_lines if shown is None else None
                if instance != shown:
                    last_key = None
                    yield LogNotice(f"attached to {self.pod}/{container}")
                shown = instance
                new_lines = 0
                for stamp, text in self._read(container, tail, follow=self.follow):
                    key = _stamp_key(stamp)
                    if key and last_key and key <= last_key:
                        continue
                    last_key = key
                    new_lines += 1
                    backoff = 1.0
                    yield LogLine(text)
                if self.stopped:
                    return
                pod, version = self._lookup()
                fresh = True
                reason = self._end_reason(pod, container, instance)
                if new_lines or reason != last_marker:
                    last_marker = reason
                    yield LogEnd(reason)
                if not self.follow:
                    return
                # Reattach at once only if the container still runs and this read brought
                # something; otherwise wait for the pod to change.
                need_change = not new_lines or not _running(pod, container)
            except _NotStarted as waiting:
                # The container restarted between the lookup and the log request.
                if not self.follow:
                    yield LogEnd(str(waiting))
                    return
                if str(waiting) != last_marker:
                    last_marker = str(waiting)
                    yield LogNotice(str(waiting))
                need_change = fresh = True
            except ClusterError as error:
                yield LogEnd(str(error))
                return
            except Exception as exc:
                if self.stopped:
                    return
                failure = cluster_error(exc, f"read the log of {self.pod}")
                yield LogEnd(f"{failure}; retrying in {backoff:g} s")
                if not self.follow or self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2, MAX_BACKOFF)

    def _read_previous(self) -> Iterator[LogItem]:
        try:
            pod, _ = self._lookup()
            if pod is None:
                yield LogEnd(f"pod {self.pod} not found")
                return
            container = self.container or _default_container(pod)
            yield LogNotice(f"previous log of {self.pod}/{container}")
            for _, text in self._read(container, self.tail_lines, follow=False):
                yield LogLine(text)
            yield LogEnd("end of the previous container's log")
        except Exception as exc:
            yield LogEnd(str(cluster_error(exc, f"read the previous log of {self.pod}")))

    def _blocked(self, pod: dict[str, Any] | None, shown: tuple[str, int] | None) -> str | None:
        """Why there is nothing to read now ("" to wait silently), or None to read."""
        if pod is None:
            return f"pod {self.pod} deleted" if shown else f"pod {self.pod} not found"
        container = self.container or _default_container(pod)
        state = _container_state(pod, container)
        if state is None:
            raise ClusterError(f"pod {self.pod} has no container {container!r}")
        instance = (pod["metadata"]["uid"], _restart_count(pod, container))
        if instance == shown:
            # Everything of this container instance was shown; wait for a restart.
            return None if "running" in state else ""
        if "waiting" in state:
            reason = state["waiting"].get("reason") or "Pending"
            return f"waiting for container {container} to start ({reason})"
        return None

    def _read(self, container: str, tail: int | None, *, follow: bool) -> Iterator[tuple[str, str]]:
        try:
            response = call_raw(
                self._core.read_namespaced_pod_log,
                self.pod,
                self.conn.namespace,
                container=container,
                follow=follow,
                previous=self.previous,
                tail_lines=tail,
                timestamps=True,
                _request_timeout=(REQUEST_TIMEOUT[0], FOLLOW_READ_TIMEOUT if follow else 30.0),
            )
        except ApiException as exc:
            if exc.status == 404:
                return
            if exc.status == 400:
                message = api_error_message(exc)
                if "waiting to start" in message:
                    reason = message.rpartition(":")[2].strip() or "Pending"
                    raise _NotStarted(
                        f"waiting for container {container} to start ({reason})"
                    ) from exc
                raise ClusterError(f"no log for {self.pod}/{container}: {message}") from exc
            raise
        if not self._slot.hold(response):
            return
        try:
            for line in iter_lines(response):
                if self.stopped:
                    return
                stamp, _, text = line.partition(" ")
                # A server that ignores timestamps=true sends bare lines: keep them whole.
                if _TIMESTAMP.match(stamp):
                    yield stamp, text
                else:
                    yield "", line
        finally:
            self._slot.release()

    def _lookup(self) -> tuple[dict[str, Any] | None, str]:
        """The pod (None if absent) and the resourceVersion to watch it from."""
        try:
            body = call_json(
                self._core.list_namespaced_pod,
                self.conn.namespace,
                field_selector=f"metadata.name={self.pod}",
            )
        except ApiException as exc:
            if exc.status in (401, 403):
                raise cluster_error(exc, f"read pod {self.pod}") from exc
            raise
        items = body.get("items") or []
        return (items[0] if items else None), body["metadata"]["resourceVersion"]

    def _wait_change(self, version: str) -> bool:
        """Block until the pod changes (or appears, or goes); False when stopped."""
        while not self.stopped:
            try:
                response = call_raw(
                    self._core.list_namespaced_pod,
                    self.conn.namespace,
                    field_selector=f"metadata.name={self.pod}",
                    watch=True,
                    resource_version=version,
                    timeout_seconds=POD_WATCH_TIMEOUT,
                    _request_timeout=(REQUEST_TIMEOUT[0], POD_WATCH_TIMEOUT + 30),
                )
            except ApiException as exc:
                if exc.status == 410:
                    return True
                raise
            if not self._slot.hold(response):
                return False
            try:
                for line in iter_lines(response):
                    if line.strip() and json.loads(line).get("type") != "BOOKMARK":
                        return True
            finally:
                self._slot.release()
        return False

    def _end_reason(
        self, pod: dict[str, Any] | None, container: str, instance: tuple[str, int]
    ) -> str:
        if pod is None:
            return f"pod {self.pod} deleted"
        if pod["metadata"].get("deletionTimestamp"):
            return f"pod {self.pod} is terminating"
        if pod["metadata"]["uid"] != instance[0]:
            return f"pod {self.pod} was recreated"
        if _restart_count(pod, container) != instance[1]:
            return f"container {container} restarted"
        state = _container_state(pod, container) or {}
        end = state.get("terminated") or _last_terminated(pod, container)
        if end and "running" not in state:
            detail = end.get("reason") or "exited"
            return f"container {container} ended: {detail} (exit code {end.get('exitCode')})"
        return "log stream ended"


def stream_logs(conn: Connection, pod: str, **options: Any) -> LogStream:
    """A ``LogStream`` (see its options); iterate it in a worker thread."""
    return LogStream(conn, pod, **options)


def _read_pod(conn: Connection, pod: str) -> dict[str, Any]:
    try:
        return call_json(client.CoreV1Api(conn.api_client).read_namespaced_pod, pod, conn.namespace)
    except Exception as exc:
        raise cluster_error(exc, f"read pod {pod}") from exc


def _default_container(pod: dict[str, Any]) -> str:
    annotations = pod["metadata"].get("annotations") or {}
    default = annotations.get("kubectl.kubernetes.io/default-container")
    return str(default or pod["spec"]["containers"][0]["name"])


def _container_status(pod: dict[str, Any], container: str) -> dict[str, Any] | None:
    status = pod.get("status") or {}
    for entry in (status.get("containerStatuses") or []) + (
        status.get("initContainerStatuses") or []
    ):
        if entry.get("name") == container:
            return dict(entry)
    return None


def _container_state(pod: dict[str, Any], container: str) -> dict[str, Any] | None:
    """The container's state; ``{"waiting": …}`` before the kubelet reports it."""
    spec = pod.get("spec") or {}
    names = [c["name"] for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])]
    if container not in names:
        return None
    status = _container_status(pod, container)
    state = (status or {}).get("state") or {}
    return dict(state) or {"waiting": {"reason": "Pending"}}


def _restart_count(pod: dict[str, Any], container: str) -> int:
    return int((_container_status(pod, container) or {}).get("restartCount") or 0)


def _last_terminated(pod: dict[str, Any], container: str) -> dict[str, Any] | None:
    last = ((_container_status(pod, container) or {}).get("lastState") or {}).get("terminated")
    return dict(last) if last else None


def _running(pod: dict[str, Any] | None, container: str) -> bool:
    return pod is not None and "running" in (_container_state(pod, container) or {})


def _stamp_key(stamp: str) -> tuple[str, str] | None:
    """Order RFC 3339 timestamps whose fractions have different lengths (None: no stamp)."""
    if not stamp:
        return None
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    return whole, fraction.ljust(9, "0")
