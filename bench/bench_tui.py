"""How iris-tui copes with a busy namespace: 1,000 pods and 200 jobs in the sandbox.

The sandbox runs with --no-pods (the pods stay objects, no processes). The app talks to it
through a counting proxy, so the requests it makes while idle can be counted. Measured:

- first full render: from starting the app to the frame with every pod and job;
- 1,000 pod status changes: 1,000 MODIFIED events handed to the app as its pod watcher does,
  to the frame showing them all (and the UI thread's time in ResourceTable.apply); then the
  same through the sandbox (1,000 PATCHes from 8 writers in another process, the watch
  carrying them), to the screen and to the last answer;
- key response with 1,000 rows: key event to the next frame, for cursor down, switching
  tabs (to the frame painting the new tab's table, beside the same switch between two empty
  tabs, interleaved) and typing in the filter (and when the filtered rows show);
- memory (RSS of this process, which runs the app);
- list requests (and all requests) during an idle window (default 60 s, --idle to shorten).

    .venv/bin/python bench/bench_tui.py [--pods 1000] [--jobs 200] [--idle 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route
from textual import events

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from sandbox.testing import start_sandbox  # noqa: E402
from tui.app import IrisApp  # noqa: E402
from tui.cluster.rows import row_key  # noqa: E402
from tui.cluster.watch import WatchEvent  # noqa: E402
from tui.session import ClusterSession, Options  # noqa: E402
from tui.status import LinkState  # noqa: E402
from tui.widgets.resource_table import FILTER_DELAY, ResourceTable  # noqa: E402

NAMESPACE = "ml-course"
SIZE = (160, 50)


# -- a proxy that counts the requests the app makes ------------------------------------------


class CountingProxy:
    """Forwards every request to ``upstream``, writing "METHOD path?query" lines to ``log``.

    It runs in a process of its own (``--proxy``), so that it does not take CPU time from
    the app being measured.
    """

    def __init__(self, upstream: str, log: Path) -> None:
        self.upstream = upstream
        self._log = log.open("a", buffering=1)
        app = Starlette(routes=[Route("/{path:path}", self._forward, methods=_METHODS)])
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        self._server = uvicorn.Server(config)
        self._upstream_client: httpx.AsyncClient | None = None

    async def _forward(self, request: Request) -> StreamingResponse:
        self._log.write(f"{request.method} {request.url.path}?{request.url.query}\n")
        client = self._client()
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        upstream = await client.send(
            client.build_request(
                request.method,
                request.url.path,
                params=request.url.query,
                headers=headers,
                content=await request.body(),
            ),
            stream=True,
        )

        async def body() -> Any:
            try:
                async for chunk in upstream.aiter_raw():
                    yield chunk
            except httpx.HTTPError:
                return  # the upstream went away (the bench stops it): end this response too
            finally:
                await upstream.aclose()

        drop = {"content-length", "transfer-encoding", "connection"}
        return StreamingResponse(
            body(),
            status_code=upstream.status_code,
            headers={k: v for k, v in upstream.headers.items() if k.lower() not in drop},
        )

    def _client(self) -> httpx.AsyncClient:
        # One client for every request, as a server keeps its connections: a client per
        # request (an SSL context, a new connection) added 100 ms or more to each request,
        # which the app's timings then carried.
        if self._upstream_client is None:
            self._upstream_client = httpx.AsyncClient(
                base_url=self.upstream,
                timeout=None,
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
            )
        return self._upstream_client

    def serve(self) -> None:
        """Serve until terminated, printing the URL once listening."""

        async def run() -> None:
            task = asyncio.create_task(self._server.serve())
            while not self._server.started:
                await asyncio.sleep(0.01)
            port = self._server.servers[0].sockets[0].getsockname()[1]
            print(f"http://127.0.0.1:{port}", flush=True)
            await task

        asyncio.run(run())


_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@contextmanager
def counting_proxy(upstream: str, log: Path) -> Iterator[str]:
    """Run ``CountingProxy`` in a subprocess; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--proxy", upstream, "--log", str(log)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        # Open watch streams would hold a graceful shutdown up; nothing is left to flush.
        process.kill()
        process.wait()


def count_requests(log: Path, since: int) -> tuple[int, int, int]:
    """(list requests, all requests, lines in the log) after the first ``since`` lines."""
    lines = log.read_text().splitlines()
    seen = [line.split(" ", 1) for line in lines[since:]]
    lists = [
        path
        for method, path in seen
        if method == "GET" and "watch=true" not in path and _is_collection(path.split("?")[0])
    ]
    return len(lists), len(seen), len(lines)


def _is_collection(path: str) -> bool:
    """/api/v1/namespaces/NS/pods and /apis/G/V/namespaces/NS/jobs are lists; one more
    segment (a name) is a read."""
    parts = [p for p in path.split("/") if p]
    if "namespaces" not in parts:
        return False
    after = parts[parts.index("namespaces") + 1 :]
    return len(after) == 2


# -- filling the namespace -------------------------------------------------------------------


def pod_manifest(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"load-{i:04d}", "namespace": NAMESPACE, "labels": {"app": "load"}},
        "spec": {"containers": [{"name": "main", "image": "iris-ml", "command": ["iris-serve"]}]},
    }


def job_manifest(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"load-job-{i:03d}", "namespace": NAMESPACE},
        "spec": {
            # Suspended, so the 1,000 pods stay the only pods.
            "suspend": True,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "iris-ml", "command": ["iris-batch"]}],
                }
            },
        },
    }


def in_parallel(fn: Callable[[int], object], count: int) -> None:
    with ThreadPoolExecutor(8) as pool:
        for _ in pool.map(fn, range(count)):
            pass


def fill(url: str, pods: int, jobs: int) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        http.post(
            "/api/v1/namespaces",
            json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        ).raise_for_status()
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "http"):
            local.http = httpx.Client(base_url=url, timeout=30)
        return local.http  # type: ignore[no-any-return]

    def create_pod(i: int) -> None:
        client().post(
            f"/api/v1/namespaces/{NAMESPACE}/pods", json=pod_manifest(i)
        ).raise_for_status()

    def create_job(i: int) -> None:
        client().post(
            f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs", json=job_manifest(i)
        ).raise_for_status()

    in_parallel(create_pod, pods)
    in_parallel(create_job, jobs)


RUNNING: dict[str, Any] = {
    "status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [
            {
                "name": "main",
                "ready": True,
                "restartCount": 0,
                "image": "iris-ml",
                "imageID": "",
                "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
            }
        ],
    }
}


def mark_running(url: str, names: list[str]) -> None:
    """PATCH each pod's status to Running and ready (what a kubelet would report)."""
    local = threading.local()

    def patch(name: str) -> None:
        if not hasattr(local, "http"):
            local.http = httpx.Client(base_url=url, timeout=30)
        local.http.patch(
            f"/api/v1/namespaces/{NAMESPACE}/pods/{name}/status",
            json=RUNNING,
            headers={"Content-Type": "application/merge-patch+json"},
        ).raise_for_status()

    with ThreadPoolExecutor(8) as pool:
        for _ in pool.map(patch, names):
            pass


# -- measuring -------------------------------------------------------------------------------


class Frames:
    """Wakes waiters when the app writes a frame (what a terminal would then show).

    Wraps the app's private ``_display``: ``pilot.press`` waits for the process to look idle
    and for animations, which says little about when the user sees the result. A waiter can
    ask for the frame that shows something: frames keep coming for other reasons (the tab
    underline slides for 0.3 s after each switch), and the first frame after a key is not
    always the one with its effect.
    """

    def __init__(self, app: IrisApp) -> None:
        self._event = asyncio.Event()
        self._shows: Callable[[], bool] | None = None
        original = app._display

        def display(*args: Any, **kwargs: Any) -> None:
            original(*args, **kwargs)
            if self._shows is None or self._shows():
                self._event.set()

        app._display = display  # type: ignore[method-assign]

    def arm(self, shows: Callable[[], bool] | None = None) -> None:
        """Wait for the next frame, or the next one for which ``shows()`` is true."""
        self._shows = shows
        self._event.clear()

    async def next(self, timeout: float = 10) -> None:
        await asyncio.wait_for(self._event.wait(), timeout)


@contextmanager
def timed_applies() -> Iterator[list[float]]:
    """Collect the time spent in ResourceTable.apply (the UI thread's share)."""
    spent: list[float] = []
    original = ResourceTable.apply

    def apply(self: ResourceTable, events: Any) -> None:
        started = time.perf_counter()
        original(self, events)
        spent.append(time.perf_counter() - started)

    ResourceTable.apply = apply  # type: ignore[method-assign]
    try:
        yield spent
    finally:
        ResourceTable.apply = original  # type: ignore[method-assign]


async def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


def painted(app: IrisApp, kind: str, rows: int | None = None) -> Callable[[], bool]:
    """Whether the frame going out shows the table of ``kind`` (with ``rows`` rows laid out).

    A table is on screen (Textual's ``is_on_screen``: in the screen's layout) once it is laid
    out; the frame written then paints it (a newly shown widget's whole region is repainted).
    """
    table = app.dashboard.table(kind).table

    def shows() -> bool:
        if not table.is_on_screen:
            return False
        return rows is None or (
            table.row_count == rows and table.virtual_size.height >= rows + table.header_height
        )

    return shows


TABS = {"1": "deployments", "2": "pods", "3": "jobs", "5": "services"}


async def key_latencies(
    app: IrisApp, frames: Frames, keys: list[str], tabs: bool = False
) -> list[float]:
    """Milliseconds from each key event to the frame that shows its effect (with ``tabs``,
    the frame painting the table of the tab the key switches to)."""
    assert app._driver is not None
    times = []
    for key in keys:
        await asyncio.sleep(0.05)  # let the previous frame go out
        frames.arm(painted(app, TABS[key]) if tabs else None)
        started = time.perf_counter()
        char = key if len(key) == 1 else None
        app._driver.send_message(events.Key(key, char))
        await frames.next()
        times.append((time.perf_counter() - started) * 1000)
    return times


def running_rows(app: IrisApp) -> int:
    table = app.dashboard.table("pods").table
    return sum(1 for value in table.get_column("STATUS") if str(value) == "Running")


def as_running(pod: dict[str, Any]) -> dict[str, Any]:
    pod = dict(pod, status=dict(RUNNING["status"]))
    return pod


async def measure(
    kubeconfig: Path, log: Path, upstream: str, pods: int, jobs: int, idle: float
) -> list[tuple[str, str, str]]:
    process = psutil.Process()
    rss_before = process.memory_info().rss
    results: list[tuple[str, str, str]] = []
    app = IrisApp(ClusterSession(Options(kubeconfig=str(kubeconfig))))
    frames = Frames(app)
    started = time.perf_counter()
    async with app.run_test(size=SIZE):
        app_up = time.perf_counter() - started
        pods_table = app.dashboard.table("pods")
        await wait_for(lambda: app.status.state is LinkState.CONNECTED, 60, "the connection")
        connected = time.perf_counter() - started
        await wait_for(
            lambda: (
                pods_table.shown_count == pods and app.dashboard.table("jobs").shown_count == jobs
            ),
            60,
            "the first full render",
        )
        frames.arm(painted(app, "pods", pods))
        await frames.next()
        first = time.perf_counter() - started
        results.append(
            ("first full render (start to frame)", f"{first * 1000:.0f} ms", "< 1000 ms")
        )
        results.append(
            (
                "  app up / watches listed / rows on screen",
                f"{app_up * 1000:.0f} / {connected * 1000:.0f} / {first * 1000:.0f} ms",
                "",
            )
        )

        # The UI's part: 1,000 MODIFIED events, as the pod watcher would deliver them.
        with timed_applies() as spent:
            changed = [as_running(obj) for obj in pods_table.objects.values()]
            frames.arm()
            started = time.perf_counter()
            for obj in changed:
                app._events.put(WatchEvent("pods", "MODIFIED", obj=obj))
            await wait_for(lambda: running_rows(app) == pods, 60, "the status changes")
            frames.arm()
            await frames.next()
            shown = time.perf_counter() - started
        results.append(
            (f"{pods} pod status changes, events to frame", f"{shown * 1000:.0f} ms", "< 1000 ms")
        )
        results.append(
            (
                "  of which ResourceTable.apply",
                f"{sum(spent) * 1000:.0f} ms in {len(spent)} batches",
                "",
            )
        )

        downs = await key_latencies(app, frames, ["down"] * 40)
        results.append((f"key: cursor down ({pods} rows)", _ms(downs), "< 50 ms"))
        # The reference: the same switch between two empty tabs, what Textual's tabs cost
        # without rows. Interleaved, so that both see the same load on the machine.
        tabs: list[float] = []
        empty: list[float] = []
        for _ in range(5):
            tabs += await key_latencies(app, frames, ["3", "2"] * 2, tabs=True)
            empty += await key_latencies(app, frames, ["1", "5"] * 2, tabs=True)
        await key_latencies(app, frames, ["2"], tabs=True)
        ratio = statistics.median(tabs) / statistics.median(empty)
        results.append(
            (
                f"key: switch tab (jobs <-> {pods} pods), to its frame",
                f"{_ms(tabs)} ({ratio:.1f} x the reference)",
                "< 50 ms",
            )
        )
        results.append(("  reference: switch between two empty tabs", _ms(empty), ""))
        await key_latencies(app, frames, ["slash"])
        typing = await key_latencies(app, frames, list("load-09"))
        results.append(("key: filter keystroke echo", _ms(typing), "< 50 ms"))
        started = time.perf_counter()
        await wait_for(lambda: pods_table.shown_count == pods // 10, 10, "the filtered rows")
        frames.arm()
        await frames.next()
        filtered = (time.perf_counter() - started) * 1000
        results.append(
            (
                f"  filter applied, {pods} -> {pods // 10} rows",
                f"{filtered:.0f} ms after the last key",
                f"(waits {FILTER_DELAY * 1000:.0f} ms for a typing pause)",
            )
        )
        await key_latencies(app, frames, ["escape", "escape"])

        rss = process.memory_info().rss
        results.append(
            (
                "memory (RSS of the process running the app)",
                f"{rss / 2**20:.0f} MiB (+{(rss - rss_before) / 2**20:.0f} MiB after start)",
                "",
            )
        )

        _, _, since = count_requests(log, 0)
        await asyncio.sleep(idle)
        lists, everything, _ = count_requests(log, since)
        results.append((f"list requests in {idle:g} idle s", str(lists), "0"))
        results.append((f"  all requests in {idle:g} idle s", str(everything), ""))

        # End to end through the sandbox, for scale: the server applies 1,000 PATCHes and
        # its watch carries them to the app.
        pending = [obj["metadata"]["name"] for obj in pods_table.objects.values()]
        for obj in list(pods_table.objects.values()):
            pods_table.objects[row_key(obj)] = dict(obj, status={"phase": "Pending"})
        pods_table.refresh_rows()
        # The patcher is this script, which imports the app and the kubernetes client: ten
        # seconds and more on a busy machine, which the figure once carried. It says when it
        # is ready, and the clock starts when it is told to go.
        patcher = subprocess.Popen(
            [sys.executable, __file__, "--patch", upstream, *pending],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert patcher.stdin is not None and patcher.stdout is not None
        await asyncio.to_thread(patcher.stdout.readline)
        started = time.perf_counter()
        patcher.stdin.write("go\n")
        patcher.stdin.close()
        await wait_for(lambda: running_rows(app) == pods, 300, "the patched statuses")
        shown = time.perf_counter() - started
        answered = float(patcher.stdout.readline())
        patcher.wait()
        results.append(
            (
                f"{pods} status PATCHes to the sandbox, to screen",
                f"{shown * 1000:.0f} ms, {pods / shown:.0f} a second",
                ">= 250 a second",
            )
        )
        results.append(
            (
                "  of which the sandbox answering them (8 writers)",
                f"{answered * 1000:.0f} ms, {pods / answered:.0f} a second",
                "",
            )
        )
    return results


def _ms(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms"


def proxied_kubeconfig(original: Path, proxy_url: str, folder: Path) -> Path:
    config = yaml.safe_load(original.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = proxy_url
    path = folder / "kubeconfig-proxied"
    path.write_text(yaml.safe_dump(config))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--idle", type=float, default=60.0, help="idle window in seconds")
    parser.add_argument("--proxy", metavar="UPSTREAM", help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--patch", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.proxy:
        CountingProxy(args.proxy, args.log).serve()
        return 0
    if args.patch:
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.perf_counter()
        mark_running(args.patch[0], args.patch[1:])
        print(time.perf_counter() - started, flush=True)
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-tui-") as tmp:
        folder = Path(tmp)
        cluster = start_sandbox(folder / "sandbox", run_pods=False)
        log = folder / "requests.log"
        try:
            with counting_proxy(cluster.url, log) as proxy_url:
                started = time.perf_counter()
                fill(cluster.url, args.pods, args.jobs)
                print(
                    f"created {args.pods} pods and {args.jobs} jobs in "
                    f"{time.perf_counter() - started:.1f} s; measuring (idle {args.idle:g} s)…",
                    flush=True,
                )
                kubeconfig = proxied_kubeconfig(cluster.kubeconfig, proxy_url, folder)
                load_before = os.getloadavg()[0]
                results = asyncio.run(
                    measure(kubeconfig, log, cluster.url, args.pods, args.jobs, args.idle)
                )
        finally:
            cluster.stop()

    load = os.getloadavg()[0]
    print(
        f"\nmachine: {os.cpu_count()} cores, 1-minute load average {load_before:.1f} before "
        f"measuring, {load:.1f} after (timings grow with it; the sandbox and the app share "
        "the cores)"
    )
    width = max(len(name) for name, _, _ in results)
    value_width = max(len(value) for _, value, _ in results)
    print(f"\n{'measure'.ljust(width)}  {'result'.ljust(value_width)}  goal")
    print(f"{'-' * width}  {'-' * value_width}  ----")
    for name, value, goal in results:
        print(f"{name.ljust(width)}  {value.ljust(value_width)}  {goal}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
