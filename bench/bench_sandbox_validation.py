"""What validation costs `kubectl apply --server-side -k overlays/minikube` on the sandbox.

The reference is the same apply without validation, measured in the same run: the code before
validation is gone, so a second sandbox runs the same server with the validation steps
replaced by pass-throughs, and the bench alternates its applies between the two. That second
server is this script run with ``--serve-unvalidated``: it swaps, in its own process only,
decoding's structural checks (the typed decoding of a create or an update, of an applied
configuration and of a patched object) for a plain JSON parse or nothing, and every
registry strategy's ``validate``/``validate_update`` for "no errors"; then it runs the
sandbox's own ``main``. Nothing of this is an option of the sandbox itself. Defaulting,
allocation, field ownership and storage stay in both, so the ratio is validation's share.

Each round applies the overlay to an empty namespace (every object created but the
namespace, kept between rounds: deleting it takes the namespace controller seconds), applies
it again (every object unchanged, still decoded and validated), then deletes what it created
(not timed). Before measuring, a pod with ``cpu: abc`` is sent to both: the validating
sandbox must refuse it and the other store it, or the reference is not what it claims.
The same round then sends the overlay's apply PATCHes straight to the server (no kubectl,
whose own start, discovery and OpenAPI download are most of the figure above): the
server's own time, where validation's share shows least diluted.
Both sandboxes run with --no-pods, so no pod process competes for the CPU. Prints one table
of medians, the goal beside the figure held to it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sandbox.resources import RESOURCES  # noqa: E402
from sandbox.testing import SandboxProcess  # noqa: E402

ROUNDS = 11
GOAL = 1.3
OVERLAY = str(REPO / "overlays" / "minikube")


class UnvalidatedSandbox(SandboxProcess):
    """The same sandbox started through this script, its validation switched off."""

    def command(self) -> list[str]:
        server = super().command()
        arguments = server[server.index("sandbox") + 1 :]  # after "python -m sandbox"
        return [sys.executable, __file__, "--serve-unvalidated", *arguments]


def serve_unvalidated(argv: list[str]) -> int:
    """Run the sandbox with decoding's checks and the registry's validation as pass-throughs."""
    from sandbox.__main__ import main as sandbox_main
    from sandbox.apiserver import decoding, registry
    from sandbox.apiserver.registry.strategy import Strategy

    def decode_object(resource: Any, body: bytes, directive: str) -> Any:
        return json.loads(body)

    def no_check(*args: Any) -> None:
        return None

    decoding.decode_object = decode_object
    decoding.check_apply = no_check
    decoding.check_patched = no_check
    for kind in {Strategy, *map(type, registry.STRATEGIES.values())}:
        kind.validate = lambda self, obj: []  # type: ignore[method-assign]
        kind.validate_update = lambda self, obj, old: []  # type: ignore[method-assign]
    return sandbox_main(argv)


BAD_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "bad-cpu", "namespace": "default"},
    "spec": {
        "containers": [
            {"name": "main", "image": "iris-ml", "resources": {"requests": {"cpu": "abc"}}}
        ]
    },
}


def kubectl(sandbox: SandboxProcess, *args: str, stdin: str | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["kubectl", *args], env=sandbox.env, check=True, capture_output=True, input=stdin, text=True
    )
    return time.perf_counter() - started


def check_seam(sandboxes: dict[str, SandboxProcess]) -> None:
    """The validating sandbox refuses an invalid pod; the reference stores it."""
    for which, sandbox in sandboxes.items():
        sent = sandbox.kubectl("create", "-f", "-", input=json.dumps(BAD_POD), check=False)
        if (sent.returncode == 0) != (which == "unvalidated"):
            raise SystemExit(f"the {which} sandbox answered {sent.returncode}: {sent.stderr}")


def overlay_objects() -> list[dict[str, Any]]:
    """The overlay's objects but its Namespace, as kustomize builds them."""
    built = subprocess.run(
        ["kubectl", "kustomize", OVERLAY], check=True, capture_output=True, text=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(built) if doc and doc["kind"] != "Namespace"]


def apply_url(obj: dict[str, Any]) -> str:
    """Where kubectl sends an object's apply patch."""
    resource = next(
        r for r in RESOURCES if r.kind == obj["kind"] and r.api_version == obj["apiVersion"]
    )
    prefix = f"/apis/{resource.api_version}" if resource.group else "/api/v1"
    namespace = obj["metadata"].get("namespace")
    where = f"/namespaces/{namespace}" if resource.namespaced and namespace else ""
    return f"{prefix}{where}/{resource.plural}/{obj['metadata']['name']}"


def apply_directly(http: httpx.Client, objects: list[dict[str, Any]]) -> float:
    """The apply PATCHes kubectl sends for ``objects``, sent one after the other."""
    started = time.perf_counter()
    for obj in objects:
        http.patch(
            apply_url(obj),
            params={"fieldManager": "kubectl", "fieldValidation": "Strict", "force": "false"},
            content=json.dumps(obj),
            headers={"Content-Type": "application/apply-patch+yaml"},
        ).raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    load = os.getloadavg()[0]
    steps = ("create", "unchanged", "server create", "server unchanged")
    times: dict[str, dict[str, list[float]]] = {
        which: {step: [] for step in steps} for which in ("validated", "unvalidated")
    }
    with tempfile.TemporaryDirectory() as folder:
        sandboxes = {
            "validated": SandboxProcess(Path(folder) / "validated", run_pods=False),
            "unvalidated": UnvalidatedSandbox(Path(folder) / "unvalidated", run_pods=False),
        }
        objects = overlay_objects()
        created = yaml.safe_dump_all(objects)
        try:
            for sandbox in sandboxes.values():
                sandbox.start()
            check_seam(sandboxes)
            for sandbox in sandboxes.values():
                kubectl(sandbox, "apply", "--server-side", "-k", OVERLAY)  # warm-up, untimed
                kubectl(sandbox, "delete", "-f", "-", "--wait", stdin=created)
            for round_ in range(ROUNDS):
                order = ["validated", "unvalidated"]
                for which in order if round_ % 2 == 0 else reversed(order):
                    sandbox = sandboxes[which]
                    for step in ("create", "unchanged"):
                        taken = kubectl(sandbox, "apply", "--server-side", "-k", OVERLAY)
                        times[which][step].append(taken)
                    kubectl(sandbox, "delete", "-f", "-", "--wait", stdin=created)
                    with httpx.Client(base_url=sandbox.url, timeout=30) as http:
                        for step in ("server create", "server unchanged"):
                            times[which][step].append(apply_directly(http, objects))
                    kubectl(sandbox, "delete", "-f", "-", "--wait", stdin=created)
        finally:
            for sandbox in sandboxes.values():
                sandbox.stop()
    rows: list[tuple[str, str, str]] = []
    for step, what, goal in (
        ("create", "apply --server-side -k overlays/minikube, all created", f"<= {GOAL}x"),
        ("unchanged", "apply --server-side -k overlays/minikube, unchanged", f"<= {GOAL}x"),
        ("server create", "  its apply PATCHes alone (no kubectl), created", "(the server's part)"),
        ("server unchanged", "  its apply PATCHes alone (no kubectl), unchanged", ""),
    ):
        validated = statistics.median(times["validated"][step])
        reference = statistics.median(times["unvalidated"][step])
        rows.append(
            (
                what,
                f"{validated * 1000:.0f} ms, {validated / reference:.2f}x the reference",
                goal,
            )
        )
        rows.append((f"  reference: validation off ({step})", f"{reference * 1000:.0f} ms", ""))
    rows.append((f"  medians of {ROUNDS} alternated rounds; load at start", f"{load:.2f}", ""))
    width = max(len(name) for name, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    print(f"{'measure'.ljust(width)}  {'result'.ljust(value_width)}  goal")
    for name, value, goal in rows:
        print(f"{name.ljust(width)}  {value.ljust(value_width)}  {goal}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-unvalidated"]:
        sys.exit(serve_unvalidated(sys.argv[2:]))
    main()
