"""pods/NAME/portforward: what `kubectl port-forward` talks to.

kubectl (1.31 and later) opens a WebSocket with the subprotocol SPDY/3.1+portforward.k8s.io
and speaks SPDY inside its binary messages. For each connection to its local port it opens
two SPDY streams with the headers streamtype (error or data), port (the pod's container port)
and requestid. Here the data stream is joined to a TCP connection to the pod's process, on
the pod's own address (status.podIP) and that port, where its process listens; a failure is
written on the error stream, which kubectl prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from sandbox.apimachinery.errors import ApiError
from sandbox.apiserver import spdy
from sandbox.apiserver.proxy import pod_address
from sandbox.storage.store import Store

log = logging.getLogger("sandbox.portforward")

SUBPROTOCOL = "SPDY/3.1+portforward.k8s.io"
_CHUNK = 32 * 1024


@dataclass
class _Forward:
    """One client connection: its two streams and the TCP connection to the pod."""

    request: str  # kubectl's requestid, shared by the two streams
    port: str
    error_stream: int | None = None
    data_stream: int | None = None
    writer: asyncio.StreamWriter | None = None
    copier: asyncio.Task[None] | None = None  # the pod's bytes to the client
    finished: bool = False


class PortForwardSession:
    """One kubectl port-forward connection to one pod."""

    def __init__(self, websocket: WebSocket, store: Store, pod: dict[str, Any]) -> None:
        self.websocket = websocket
        self.store = store
        self.namespace: str = pod["metadata"]["namespace"]
        self.pod: str = pod["metadata"]["name"]
        self.codec = spdy.HeaderCodec()
        self.outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.forwards: dict[str, _Forward] = {}  # by requestid
        self.by_stream: dict[int, _Forward] = {}

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_all())
        reader = spdy.FrameReader()
        try:
            while True:
                message = await self.websocket.receive_bytes()
                for frame in reader.feed(message):
                    await self._handle(frame)
        except (WebSocketDisconnect, spdy.SpdyError, RuntimeError) as error:
            log.debug("port-forward to %s/%s ended: %s", self.namespace, self.pod, error)
        finally:
            for forward in list(self.forwards.values()):
                if forward.copier is not None:
                    forward.copier.cancel()
                self._close(forward)
            self.outbox.put_nowait(None)
            await sender

    async def _send_all(self) -> None:
        while (frame := await self.outbox.get()) is not None:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self.websocket.send_bytes(frame)

    async def _handle(self, frame: spdy.Frame) -> None:
        if isinstance(frame, spdy.DataFrame):
            await self._from_client(frame)
        elif frame.kind == spdy.SYN_STREAM:
            stream_id, headers = spdy.syn_stream_of(frame, self.codec)
            self.outbox.put_nowait(spdy.syn_reply(stream_id, self.codec))
            await self._open(stream_id, headers)
        elif frame.kind == spdy.PING:
            self.outbox.put_nowait(spdy.control(spdy.PING, frame.payload))
        elif frame.kind == spdy.RST_STREAM:
            forward = self.by_stream.get(spdy.stream_id_of(frame))
            if forward is not None:
                self._close(forward)
        elif frame.kind == spdy.GOAWAY:
            raise spdy.SpdyError("the client went away")

    async def _open(self, stream_id: int, headers: dict[str, str]) -> None:
        request = headers.get("requestid", str(stream_id))
        forward = self.forwards.setdefault(request, _Forward(request, headers.get("port", "")))
        self.by_stream[stream_id] = forward
        if headers.get("streamtype") == "error":
            forward.error_stream = stream_id
            return
        forward.data_stream = stream_id
        try:
            pod = self.store.get("pods", self.namespace, self.pod)
            address = pod_address(pod, forward.port) if forward.port.isdigit() else None
            if address is None:
                reason = f"no process of the pod listens on port {forward.port}"
            else:
                reader, forward.writer = await asyncio.open_connection(*address)
                forward.copier = asyncio.create_task(self._to_client(forward, reader))
                return
        except ConnectionRefusedError:
            reason = f"no process of the pod listens on port {forward.port}"
        except (ApiError, OSError) as error:
            reason = error.message if isinstance(error, ApiError) else str(error)
        self._fail(forward, f"error forwarding port {forward.port} to pod {self.pod}: {reason}")

    async def _from_client(self, frame: spdy.DataFrame) -> None:
        forward = self.by_stream.get(frame.stream_id)
        if forward is None or frame.stream_id != forward.data_stream or forward.writer is None:
            return  # the error stream's close, or a stream already gone
        writer = forward.writer
        try:
            if frame.data:
                writer.write(frame.data)
                await writer.drain()
            if frame.fin and writer.can_write_eof():
                writer.write_eof()
        except OSError:
            self._close(forward)

    async def _to_client(self, forward: _Forward, reader: asyncio.StreamReader) -> None:
        assert forward.data_stream is not None
        with contextlib.suppress(OSError):
            while chunk := await reader.read(_CHUNK):
                self.outbox.put_nowait(spdy.data(forward.data_stream, chunk))
        self._finish(forward)

    def _fail(self, forward: _Forward, message: str) -> None:
        if forward.error_stream is not None:
            self.outbox.put_nowait(spdy.data(forward.error_stream, message.encode()))
        self._finish(forward)

    def _finish(self, forward: _Forward) -> None:
        """The pod's side is done: end both streams, and forget the connection."""
        if not forward.finished:
            forward.finished = True
            for stream_id in (forward.data_stream, forward.error_stream):
                if stream_id is not None:
                    self.outbox.put_nowait(spdy.data(stream_id, b"", fin=True))
        self._close(forward)

    def _close(self, forward: _Forward) -> None:
        forward.finished = True
        if forward.writer is not None:
            forward.writer.close()
            forward.writer = None
        for stream_id in (forward.error_stream, forward.data_stream):
            if stream_id is not None:
                self.by_stream.pop(stream_id, None)
        self.forwards.pop(forward.request, None)
