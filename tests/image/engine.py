"""The Docker engine as the image test uses it: is one there, build with BuildKit, run, stop.

Every container and network it creates carries the label below, so whatever a failed run
left behind can be found (`docker ps -a --filter label=iris-image-test`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

LABEL = "iris-image-test"


def docker() -> str | None:
    found = shutil.which("docker")
    return found


def engine_problem() -> str | None:
    """Why no Docker engine can be used, or None when one answers."""
    cli = docker()
    if cli is None:
        return "no docker command on PATH"
    try:
        result = subprocess.run(
            [cli, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        return "the Docker engine did not answer within 20 s"
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        return f"no Docker engine answers: {lines[-1] if lines else 'docker version failed'}"
    return None


def buildkit_docker() -> tuple[str, dict[str, str]]:
    """A docker command that builds with BuildKit (the Dockerfile's RUN --mount needs it),
    with the environment it needs: one with the buildx plugin, or a client older than 23,
    which carries BuildKit itself and uses it with DOCKER_BUILDKIT=1.
    """
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    seen: set[str] = set()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder) / "docker"
        if not os.access(candidate, os.X_OK) or str(candidate.resolve()) in seen:
            continue
        seen.add(str(candidate.resolve()))
        buildx = subprocess.run([candidate, "buildx", "version"], capture_output=True, env=env)
        if buildx.returncode == 0:
            return str(candidate), env
        version = subprocess.run(
            [candidate, "version", "--format", "{{.Client.Version}}"],
            capture_output=True,
            text=True,
            env=env,
        ).stdout.strip()
        if version.split(".")[0].isdigit() and int(version.split(".")[0]) < 23:
            return str(candidate), env
    raise AssertionError(
        "no docker command on PATH builds with BuildKit: install the buildx plugin "
        "(or Debian's docker.io, whose client has BuildKit built in)"
    )


def run(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    cli = docker()
    assert cli is not None
    result = subprocess.run(
        [cli, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:2])} failed:\n{result.stderr}")
    return result


@dataclass
class Container:
    """A started container and when it was started."""

    id: str
    started: float

    def inspect(self, template: str) -> str:
        return run("inspect", "--format", template, self.id).stdout.strip()

    def running(self) -> bool:
        return self.inspect("{{.State.Running}}") == "true"

    def wait(self, timeout: float) -> int:
        """The exit status, once the container has stopped (fails after `timeout` s)."""
        return int(run("wait", self.id, timeout=timeout).stdout.strip())

    def logs(self) -> str:
        result = run("logs", self.id)
        return result.stdout + result.stderr

    def host_port(self, port: int) -> int:
        published = run("port", self.id, f"{port}/tcp").stdout.split()[0]
        return int(published.rsplit(":", 1)[1])

    def remove(self) -> None:
        run("rm", "--force", "--volumes", self.id, check=False)


def start(options: list[str], image: str, argv: list[str]) -> Container:
    started = time.monotonic()
    result = run("run", "--detach", "--label", LABEL, *options, image, *argv)
    return Container(id=result.stdout.strip(), started=started)
