"""Fixtures of the image test: a Docker engine (or a skip saying why), the image built by
`make image`, overlays/minikube rendered, and a network for the containers.

IRIS_IMAGE_TEST=required (CI and `make image-test` set it) turns the skip into a failure.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.image import engine
from tests.manifests.rendering import REPO, Rendering, render

OVERLAY = "overlays/minikube"
REQUIRED = os.environ.get("IRIS_IMAGE_TEST") == "required"


@pytest.fixture(scope="session")
def docker_engine() -> None:
    problem = engine.engine_problem()
    if problem is None:
        return
    if REQUIRED:
        pytest.fail(f"IRIS_IMAGE_TEST=required, but {problem}")
    pytest.skip(f"{problem}; `make image-test` runs it where Docker is")


@pytest.fixture(scope="session")
def rendering() -> Rendering:
    return render(OVERLAY)


@dataclass(frozen=True)
class Image:
    name: str
    base: str
    build_seconds: float

    def megabytes(self, name: str | None = None) -> int:
        size = engine.run("image", "inspect", "--format", "{{.Size}}", name or self.name).stdout
        return round(int(size) / 1e6)


@pytest.fixture(scope="session")
def image(docker_engine: None, rendering: Rendering) -> Image:
    """`make image`, on the official base or, where that cannot be pulled, the stand-in
    scripts/base-image.sh makes; the name is the one the pods run."""
    [name] = {
        container["image"]
        for _, template in rendering.workloads()
        for container in template["spec"]["containers"]
    }
    base = subprocess.run(
        ["scripts/base-image.sh"], cwd=REPO, capture_output=True, text=True, timeout=900
    )
    assert base.returncode == 0, base.stderr
    cli, env = engine.buildkit_docker()
    # The build's RUN steps reach the package index through the host's network.
    flags = f"--network host --build-arg PYTHON_IMAGE={base.stdout.strip()}"
    started = time.monotonic()
    build = subprocess.run(
        ["make", "--no-print-directory", "image", f"DOCKER={cli}", f"BUILD_FLAGS={flags}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    built = Image(name=name, base=base.stdout.strip(), build_seconds=time.monotonic() - started)
    # `make image` tags IMAGE:TAG; the pods must run exactly that.
    assert engine.run("image", "inspect", name, check=False).returncode == 0, (
        f"make image did not build {name}, the image {OVERLAY} runs"
    )
    return built


@pytest.fixture(scope="session")
def network(docker_engine: None) -> Iterator[str]:
    """A network of their own for the containers: each has its own address and ports, as a
    pod has, so the API listens on its containerPort and Docker publishes it on a free one."""
    name = f"{engine.LABEL}-{uuid.uuid4().hex[:8]}"
    engine.run("network", "create", "--label", engine.LABEL, name)
    yield name
    engine.run("network", "rm", name, check=False)


@pytest.fixture(scope="session")
def api_key() -> str:
    """The key `make secret` would put in the Secret."""
    return secrets.token_urlsafe(32)
