"""Start and stop a sandbox as a subprocess, for tests and scripts.

``start_sandbox(state_dir)`` runs ``python -m sandbox`` in its own process group on a free port,
waits until ``/version`` answers and returns a ``SandboxProcess`` whose ``kubectl(...)`` runs the
real kubectl against it.  ``stop()`` ends the server, which ends every pod process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


class SandboxError(RuntimeError):
    """The sandbox did not start; the message carries its output."""


class SandboxProcess:
    """A running ``iris-sandbox`` and how to reach it."""

    def __init__(
        self, state_dir: Path, *, clock_speed: float = 1.0, run_pods: bool = True, gpus: int = 0
    ):
        self.state_dir = Path(state_dir).resolve()
        self.kubeconfig = self.state_dir / "kubeconfig"
        self.clock_speed = clock_speed
        self.run_pods = run_pods
        self.gpus = gpus
        self.url = ""
        self.port = 0
        self.env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        self._process: subprocess.Popen[bytes] | None = None
        self._output = self.state_dir / "sandbox.out"

    def command(self) -> list[str]:
        """The server's command line (a bench may run the same server through a wrapper)."""
        command = [
            sys.executable,
            "-m",
            "sandbox",
            "--state",
            str(self.state_dir),
            "--port",
            str(self.port),
            "--clock-speed",
            str(self.clock_speed),
            "--exit-with-parent",
            "--gpus",
            str(self.gpus),
        ]
        if not self.run_pods:
            command.append("--no-pods")
        return command

    def start(self) -> SandboxProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ready = self.state_dir / "ready"
        ready.unlink(missing_ok=True)
        with self._output.open("ab") as output:
            self._process = subprocess.Popen(
                self.command(),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise SandboxError(f"the sandbox exited at start:\n{self.output()}")
            if ready.exists() and (url := ready.read_text().strip()):
                try:
                    httpx.get(f"{url}/version", timeout=2).raise_for_status()
                except httpx.HTTPError:
                    pass
                else:
                    self.url = url
                    self.port = int(url.rsplit(":", 1)[1])
                    return self
            time.sleep(0.05)
        self.stop()
        raise SandboxError(f"the sandbox did not answer within {START_TIMEOUT}s:\n{self.output()}")

    @property
    def pid(self) -> int:
        """The running server's process id."""
        if self._process is None:
            raise SandboxError("the sandbox is not running")
        return self._process.pid

    def output(self) -> str:
        return self._output.read_text(errors="replace") if self._output.exists() else ""

    def ready_pod(self, namespace: str, manifest: str, name: str) -> None:
        """Create `namespace`, apply the pod `manifest` into it, and wait for the pod `name`."""
        self.kubectl("create", "namespace", namespace)
        self.kubectl("apply", "-f", "-", input=manifest)
        self.kubectl(
            "wait", "-n", namespace, "--for=condition=ready", f"pod/{name}", "--timeout=60s"
        )

    def load_image(self, *names: str) -> None:
        """Put images on the sandbox's node, as ``minikube image load`` does."""
        command = [sys.executable, "-m", "sandbox", "image", "load", *names]
        subprocess.run([*command, "--state", str(self.state_dir)], check=True, capture_output=True)

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this sandbox; raise with its output on failure."""
        result = subprocess.run(
            ["kubectl", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def claim_dir(self, namespace: str, claim: str) -> Path:
        """Where a bound claim's data lives: the hostPath of its PersistentVolume, as kubectl
        shows it."""
        volume = self.kubectl(
            "-n", namespace, "get", "pvc", claim, "-o", "jsonpath={.spec.volumeName}"
        ).stdout
        path = self.kubectl("get", "pv", volume, "-o", "jsonpath={.spec.hostPath.path}").stdout
        return Path(path)

    def stop(self) -> None:
        """SIGTERM the server's process group, then SIGKILL what is left."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def restart(self) -> SandboxProcess:
        """Stop and start again on the same port and state folder."""
        self.stop()
        return self.start()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandbox(
    state_dir: Path, *, clock_speed: float = 1.0, run_pods: bool = True, gpus: int = 0
) -> SandboxProcess:
    """Start a sandbox on a free port with its state (and kubeconfig) in ``state_dir``, its
    node reporting ``gpus`` nvidia.com/gpu devices."""
    return SandboxProcess(state_dir, clock_speed=clock_speed, run_pods=run_pods, gpus=gpus).start()
