"""iris-sandbox: serve a simulated Kubernetes API on 127.0.0.1 and run pods as local processes.

``iris-sandbox image load NAME`` / ``iris-sandbox image ls`` manage the node's images, as
``minikube image load`` / ``minikube image ls`` do.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn
import yaml

from sandbox.apiserver.server import create_app
from sandbox.bootstrap import bootstrap
from sandbox.clock import Clock
from sandbox.cluster import start_components
from sandbox.kubelet import images
from sandbox.storage.store import Store

DEFAULT_NAMESPACE = "ml-course"


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


CONTEXT = "sandbox"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="iris-sandbox",
        description="A SIMULATED Kubernetes API server on 127.0.0.1 that runs each pod's "
        "command as a local process. For trying the kit without a cluster; not a cluster.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: free)")
    parser.add_argument(
        "--state",
        type=Path,
        default=Path(".sandbox"),
        help="folder for objects, logs and volumes (default: .sandbox)",
    )
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=None,
        help="kubeconfig to write (default: <state>/kubeconfig)",
    )
    parser.add_argument(
        "--clock-speed",
        type=float,
        default=1.0,
        help="run controller time this many times faster (CronJobs, back-offs)",
    )
    parser.add_argument(
        "--no-pods", action="store_true", help="never start pod processes; pods stay Pending"
    )
    parser.add_argument(
        "--gpus",
        type=int,
        default=0,
        help="nvidia.com/gpu devices the node reports (default: 0, a CPU-only node)",
    )
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started this one ends (for tests)",
    )
    args = parser.parse_args(argv)
    if args.clock_speed <= 0:
        parser.error("--clock-speed must be positive")
    if args.gpus < 0:
        parser.error("--gpus must not be negative")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    return args


def kubeconfig_text(url: str) -> str:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": CONTEXT, "user": {}}],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": DEFAULT_NAMESPACE},
            }
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)


def banner(url: str, state: Path, kubeconfig: Path, run_pods: bool) -> str:
    pods = "pods run as LOCAL PROCESSES on this machine" if run_pods else "pods are never started"
    return "\n".join(
        [
            f"iris-sandbox: a SIMULATED Kubernetes API at {url}",
            f"  This is not a real cluster: no containers, no isolation; {pods}.",
            f"  State: {state}    Stop: Ctrl-C",
            "",
            f"export KUBECONFIG={kubeconfig}",
            "",
        ]
    )


def stop_when_orphaned() -> None:
    """SIGTERM ourselves (a clean stop) once our parent is gone, e.g. a killed test run."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def lock_state(state: Path) -> int | None:
    """Hold ``<state>/lock`` for this process's life; None if another sandbox holds it.

    Two servers on one state folder would overwrite each other's objects and pods. The kernel
    drops the lock when the process ends, however it ends, so a crash never leaves it stale.
    """
    descriptor = os.open(state / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    os.ftruncate(descriptor, 0)
    os.write(descriptor, f"{os.getpid()}\n".encode())
    return descriptor


def image_main(argv: list[str]) -> int:
    """The ``image`` command: what is on the node, and putting more there."""
    parser = argparse.ArgumentParser(
        prog="iris-sandbox image", description="The images present on the sandbox's node."
    )
    state = argparse.ArgumentParser(add_help=False)
    state.add_argument(
        "--state", type=Path, default=Path(".sandbox"), help="the sandbox's state folder"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser(
        "load", parents=[state], help="put images on the node (minikube image load)"
    )
    load.add_argument("image", nargs="+", help="NAME[:TAG]")
    commands.add_parser(
        "ls", parents=[state], help="list the images on the node (minikube image ls)"
    )
    args = parser.parse_args(argv)
    store = images.ImageStore(args.state.resolve())
    if args.command == "load":
        try:
            for image in args.image:  # every name checked before any is loaded
                images.check_reference(image)
        except ValueError as error:
            print(f"iris-sandbox image load: {error}", file=sys.stderr)
            return 2
        for image in args.image:
            store.load(image)
    else:
        for name in store.names():
            print(name)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["image"]:
        return image_main(argv[1:])
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    state = args.state.resolve()
    kubeconfig = (args.kubeconfig or state / "kubeconfig").resolve()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        state.mkdir(parents=True, exist_ok=True)
        listener.bind(("127.0.0.1", args.port))
        kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"iris-sandbox: {error}", file=sys.stderr)
        return 1
    if lock_state(state) is None:
        holder = (state / "lock").read_text().strip() or "?"
        print(
            f"iris-sandbox: another sandbox (pid {holder}) is using {state}; "
            "stop it first, or give this one its own --state folder",
            file=sys.stderr,
        )
        return 1
    listener.listen(128)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    (state / "ready").unlink(missing_ok=True)
    kubeconfig.write_text(kubeconfig_text(url))

    # uvicorn re-raises the SIGTERM it caught once it has shut down; with the default handler
    # that would kill this process before the `finally` below stops the pods' processes.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if args.exit_with_parent:
        stop_when_orphaned()
    store = Store(state)
    bootstrap(store, state, gpus=args.gpus)
    store.flush()
    controllers = start_components(
        store, state, clock=Clock(args.clock_speed), run_pods=not args.no_pods
    )

    def started() -> None:
        (state / "ready").write_text(url + "\n")
        print(banner(url, state, kubeconfig, not args.no_pods), flush=True)

    app = create_app(store, state, on_started=started)
    config = uvicorn.Config(
        app,
        log_level="error",
        access_log=False,
        timeout_graceful_shutdown=2,
        http="h11",
        # wsproto, not websockets: kubectl asks for the subprotocol SPDY/3.1+portforward.k8s.io,
        # which websockets refuses as not an RFC 6455 token.
        ws="wsproto",
    )
    try:
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        controllers.stop()
        store.close()
        (state / "ready").unlink(missing_ok=True)
        print("iris-sandbox: stopped; every pod process has ended.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
