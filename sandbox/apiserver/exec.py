"""pods/NAME/exec: what `kubectl exec` talks to.

kubectl (1.30 and later) opens a WebSocket with the subprotocol v5.channel.k8s.io: each binary
message starts with its channel (0 stdin, 1 stdout, 2 stderr, 3 the final status, 4 terminal
resizes; 255 followed by a channel closes it, as stdin's end; every channel carries raw
bytes, so `kubectl cp` can stream tar through it). The command runs as a local process with
the container's environment, in its working directory and in its view of the filesystem
(sandbox.containerview: the pod's volumes at their mountPaths, its emptyDir at /tmp), so
`ls /models` lists the model volume and `echo hi > /tmp/x` writes the pod's /tmp. With a TTY
(`kubectl exec -it`) it gets a pseudo-terminal as its controlling terminal. It is not a
container: the command runs on this machine, as the sandbox's user.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import struct
import subprocess
import termios
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from sandbox import paths
from sandbox.apimachinery.errors import ApiError
from sandbox.kubelet import podspec
from sandbox.kubelet.containerview import ContainerView
from sandbox.storage.store import Store

SUBPROTOCOL = "v5.channel.k8s.io"
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
_CHUNK = 32 * 1024

Obj = dict[str, Any]


@dataclass(frozen=True)
class ExecRequest:
    command: list[str]
    container: str | None
    stdin: bool
    tty: bool


@dataclass(frozen=True)
class Prepared:
    argv: list[str]
    env: dict[str, str]
    view: ContainerView


def prepare(store: Store, state_dir: Path, pod: Obj, request: ExecRequest) -> Prepared:
    """Where and how the command runs; ApiError for what kubectl should print instead."""
    containers = pod["spec"].get("containers") or []
    name = request.container or (containers[0]["name"] if containers else "")
    container = next((c for c in containers if c["name"] == name), None)
    if container is None:
        raise ApiError.bad_request(
            f"container {name} is not valid for pod {pod['metadata']['name']}"
        )
    if not request.command:
        raise ApiError.bad_request("you must specify at least 1 command")
    meta = pod["metadata"]
    scratch = paths.pod_dir(state_dir, meta["namespace"], meta["name"], meta["uid"])
    dirs = podspec.volume_dirs(store, state_dir, pod)
    mounts = podspec.mounts(container, dirs)
    # the pod's /tmp: a volume mounted there in any container (as the kubelet's worker
    # found it), else its scratch folder
    tmpdir = scratch / "tmp"
    for each in containers:
        for mount in podspec.mounts(each, dirs):
            if mount.mount_path == "/tmp":
                tmpdir = mount.local
    tmpdir.mkdir(parents=True, exist_ok=True)
    root = paths.view_root(state_dir)
    view = ContainerView(mounts, tmpdir, container.get("workingDir") or "", root)
    pod_ip = (pod.get("status") or {}).get("podIP") or "127.0.0.1"
    try:
        env = podspec.environment(
            store,
            pod,
            container,
            view.rewritten,
            pod_ip,
            view.tmp,
            host_ip=(pod.get("status") or {}).get("hostIP") or "",
        )
    except podspec.ConfigError as error:
        raise ApiError.bad_request(str(error)) from error
    argv = [view.path(word) for word in request.command]
    return Prepared(argv, env, view)


def _status(code: int | None, error: str | None = None) -> bytes:
    if error is not None:
        body: Obj = {"status": "Failure", "message": error, "reason": "InternalError", "code": 500}
    elif code == 0:
        body = {"status": "Success"}
    else:
        body = {
            "status": "Failure",
            "message": f"command terminated with non-zero exit code: exit status {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
        }
    return bytes([ERROR]) + json.dumps({"metadata": {}, **body}).encode()


class ExecSession:
    """One kubectl exec: the process, its pipes (or terminal) and the WebSocket."""

    def __init__(
        self, websocket: WebSocket, store: Store, state_dir: Path, pod: Obj, request: ExecRequest
    ) -> None:
        self.websocket = websocket
        self.store = store
        self.state_dir = state_dir
        self.pod = pod
        self.request = request
        self.send_lock = asyncio.Lock()
        self.stdin: int | None = None  # the fd that feeds the process's input
        self.terminal: int | None = None

    async def run(self) -> None:
        # Refusals come as a status on the open WebSocket: a refused upgrade would make
        # kubectl retry without WebSockets and print that retry's error instead.
        try:
            prepared = await run_in_threadpool(
                prepare, self.store, self.state_dir, self.pod, self.request
            )
            process, outputs = self._spawn(prepared)
        except ApiError as error:
            await self._refuse(error.message)
            return
        except OSError as error:
            await self._refuse(
                f'exec: "{self.request.command[0]}": executable file not found in $PATH'
                if isinstance(error, FileNotFoundError)
                else str(error)
            )
            return
        if self.stdin is not None:
            os.set_blocking(self.stdin, False)
        pumps = [asyncio.create_task(self._pump(fd, channel)) for fd, channel in outputs]
        reader = asyncio.create_task(self._read_client())
        try:
            code = await _exited(process)
            await asyncio.gather(*pumps)
            await self._send(_status(code))
            await self._close_socket()
        finally:
            # The tasks stop watching the fds before the fds are closed.
            for task in (reader, *pumps):
                task.cancel()
            await asyncio.gather(reader, *pumps, return_exceptions=True)
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            for fd, _ in outputs:
                _close(fd)
            self._close_stdin()

    async def _refuse(self, reason: str) -> None:
        await self._send(_status(None, f"error executing command in container: {reason}"))
        await self._close_socket()

    def _spawn(self, prepared: Prepared) -> tuple[subprocess.Popen[bytes], list[tuple[int, int]]]:
        """The process, and its output fds with the channel each goes to."""
        common: Any = {"env": prepared.env, "start_new_session": True}
        view = prepared.view
        if self.request.tty:

            def in_terminal() -> None:
                # The terminal becomes the new session's controlling terminal, so that
                # ctrl-c reaches the foreground job as SIGINT: one ioctl in the child.
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)

            terminal, child = os.openpty()
            try:
                process = view.popen(
                    prepared.argv,
                    then=in_terminal,
                    stdin=child,
                    stdout=child,
                    stderr=child,
                    **common,
                )
            except OSError:
                _close(terminal)
                raise
            finally:
                _close(child)
            self.stdin, self.terminal = os.dup(terminal), terminal
            return process, [(terminal, STDOUT)]
        stdin_read, self.stdin = os.pipe() if self.request.stdin else (None, None)
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        try:
            process = view.popen(
                prepared.argv,
                stdin=subprocess.DEVNULL if stdin_read is None else stdin_read,
                stdout=out_write,
                stderr=err_write,
                **common,
            )
        except OSError:
            for output in (out_read, err_read):
                _close(output)
            self._close_stdin()
            raise
        finally:
            for child_end in (stdin_read, out_write, err_write):
                if child_end is not None:
                    _close(child_end)
        return process, [(out_read, STDOUT), (err_read, STDERR)]

    async def _pump(self, fd: int, channel: int) -> None:
        """Copy what the process writes on `fd` to `channel`, until its end."""
        loop = asyncio.get_running_loop()
        os.set_blocking(fd, False)
        readable = asyncio.Event()
        loop.add_reader(fd, readable.set)
        try:
            while True:
                await readable.wait()
                readable.clear()
                try:
                    chunk = os.read(fd, _CHUNK)
                except BlockingIOError:
                    continue
                except OSError:  # a terminal whose last writer has gone reports EIO
                    return
                if not chunk:
                    return
                await self._send(bytes([channel]) + chunk)
        finally:
            loop.remove_reader(fd)

    async def _read_client(self) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                message = await self.websocket.receive_bytes()
                channel, payload = (message[0], message[1:]) if message else (None, b"")
                if channel == RESIZE and self.terminal is not None:
                    _resize(self.terminal, payload)
                elif self.stdin is None:
                    continue
                elif channel == STDIN and payload:
                    await self._feed(payload)
                elif channel == CLOSE and payload[:1] == bytes([STDIN]):
                    if self.terminal is not None:
                        await self._feed(b"\x04")  # end of input, as a terminal says it
                    else:
                        self._close_stdin()

    async def _feed(self, data: bytes) -> None:
        """Write to the process's input, waiting (not blocking the loop) while it is full.

        Not an asyncio write-pipe transport: on a terminal, uvloop's would read the
        process's output too.
        """
        loop = asyncio.get_running_loop()
        view = memoryview(data)
        while view and self.stdin is not None:
            try:
                view = view[os.write(self.stdin, view) :]
            except BlockingIOError:
                writable = asyncio.Event()
                loop.add_writer(self.stdin, writable.set)
                try:
                    await writable.wait()
                finally:
                    loop.remove_writer(self.stdin)
            except OSError:  # it closed its input
                self._close_stdin()

    def _close_stdin(self) -> None:
        if self.stdin is not None:
            _close(self.stdin)
            self.stdin = None

    async def _close_socket(self) -> None:
        # kubectl cp hangs up as soon as it has the status: the socket may be closed already
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.websocket.close()

    async def _send(self, message: bytes) -> None:
        async with self.send_lock:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self.websocket.send_bytes(message)


async def _exited(process: subprocess.Popen[bytes]) -> int:
    """The exit code, awaited without a thread: Linux signals a pidfd when the process ends."""
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        while process.poll() is None:
            await asyncio.sleep(0.05)
        return process.returncode
    loop = asyncio.get_running_loop()
    ended = asyncio.Event()
    loop.add_reader(pidfd, ended.set)
    try:
        await ended.wait()
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    return process.wait()


def _resize(terminal: int, payload: bytes) -> None:
    with contextlib.suppress(ValueError, KeyError, TypeError, OSError):
        size = json.loads(payload)
        packed = struct.pack("HHHH", int(size["Height"]), int(size["Width"]), 0, 0)
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, packed)


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def exec_request(query: Any) -> ExecRequest:
    def flag(name: str) -> bool:
        return str(query.get(name, "")).lower() in ("true", "1")

    return ExecRequest(
        command=list(query.getlist("command")),
        container=query.get("container") or None,
        stdin=flag("stdin"),
        tty=flag("tty"),
    )
