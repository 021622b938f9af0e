"""Regenerate docs/tui.svg: the TUI on the demo stack, as `make demo` shows it.

Starts a sandbox, applies overlays/minikube, waits for training and the API, then drives the
TUI headless and saves what it draws. Run by `make screenshot`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from sandbox.testing import start_sandbox
from tui.app import IrisApp
from tui.session import ClusterSession, Options

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT = REPO_ROOT / "docs" / "tui.svg"
SIZE = (140, 42)


async def capture(kubeconfig: Path) -> None:
    app = IrisApp(ClusterSession(Options(kubeconfig=str(kubeconfig), repo_root=REPO_ROOT)))
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(300):
            await pilot.pause(0.1)
            if app.status.model_version:
                break
        else:
            raise SystemExit("screenshot: the TUI never showed a served model version")
        await pilot.pause(1.0)
        app.save_screenshot(filename=OUTPUT.name, path=str(OUTPUT.parent))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="iris-screenshot-") as state:
        sandbox = start_sandbox(Path(state))
        try:
            sandbox.kubectl("apply", "--server-side", "-k", str(REPO_ROOT / "overlays/minikube"))
            sandbox.kubectl(
                "-n",
                "ml-course",
                "wait",
                "--for=condition=complete",
                "job/iris-train-job",
                "--timeout=120s",
                timeout=130,
            )
            sandbox.kubectl(
                "-n",
                "ml-course",
                "rollout",
                "status",
                "deployment/iris-api",
                "--timeout=120s",
                timeout=130,
            )
            asyncio.run(capture(sandbox.kubeconfig))
        finally:
            sandbox.stop()
    print(f"wrote {OUTPUT.relative_to(REPO_ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
