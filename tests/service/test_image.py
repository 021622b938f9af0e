"""The container image, without an engine: lint the Dockerfile, check what the build context
admits, and run the three commands from a venv built the way the image is built."""

from __future__ import annotations

import csv
import fnmatch
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.service.core_fixtures import BIN, clean_env, random_features, write_features_csv

REPO = Path(__file__).resolve().parents[2]
ABSENT_FROM_IMAGE = ("textual", "kubernetes", "sandbox", "tui")


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [str(BIN / "hadolint"), "Dockerfile"], cwd=REPO, capture_output=True, text=True
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def builder_sources() -> list[str]:
    """What the Dockerfile's build stage COPYs from the context."""
    dockerfile = (REPO / "Dockerfile").read_text()
    builder = dockerfile.split("\nFROM ", 2)[1]
    sources: list[str] = []
    for line in builder.splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources += words[1:-1]
    return sources


def in_build_context(path: str) -> bool:
    """Docker's .dockerignore rule: the last pattern that matches a path decides."""
    included = True
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        # Patterns are anchored at the context's root, except those starting with **/.
        if pattern.startswith("**/"):
            candidates = parts
            pattern = pattern.removeprefix("**/")
        else:
            candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(candidate, pattern) for candidate in candidates):
            included = negated
    return included


def test_build_context_holds_only_the_service() -> None:
    assert builder_sources() == ["pyproject.toml", "README.md", "service/"]
    for path in ["pyproject.toml", "README.md", "service/batch.py", "service/api/app.py"]:
        assert in_build_context(path), path
    for path in [
        ".venv/bin/python",
        ".tools/checkov/bin/checkov",
        ".git/config",
        ".models/current",
        ".sandbox/state.json",
        "tests/service/test_image.py",
        "tui/app.py",
        "sandbox/server.py",
        "service/__pycache__/batch.cpython-311.pyc",
        "Makefile",
    ]:
        assert not in_build_context(path), path


def scripts_removed_by_the_image() -> set[str]:
    """The console scripts the runtime stage deletes (`rm /usr/local/bin/<name>`)."""
    runtime = (REPO / "Dockerfile").read_text().rsplit("\nFROM ", 1)[1]
    words = runtime.replace("\\\n", " ").split()
    return {
        word.removeprefix("/usr/local/bin/")
        for i, word in enumerate(words)
        if word.startswith("/usr/local/bin/") and "rm" in words[max(0, i - 3) : i]
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(method: str, url: str, body: object | None = None) -> tuple[int, dict[str, object]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, json.loads(response.read())


def wait_ready(url: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "iris-serve exited before it was ready"
        try:
            if http("GET", url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready within {timeout} s")


@pytest.mark.slow
def test_service_only_install_runs_train_batch_and_serve(tmp_path: Path) -> None:
    # The build stage's context: only what the Dockerfile copies.
    context = tmp_path / "context"
    context.mkdir()
    for source in builder_sources():
        origin = REPO / source
        if origin.is_dir():
            shutil.copytree(origin, context / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, context / source)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"]
    options = ["--quiet", "--no-compile", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, *options, f"{context}[service]"],
        check=True,
        capture_output=True,
        timeout=300,
    )

    workdir, home = tmp_path / "workdir", tmp_path / "home"
    for folder in (workdir, home, tmp_path / "tmp"):
        folder.mkdir()
    env = clean_env(
        HOME=home,
        TMPDIR=tmp_path / "tmp",
        MODEL_DIR=tmp_path / "models",
        INPUT_DIR=tmp_path / "data" / "input",
        OUTPUT_DIR=tmp_path / "data" / "output",
    )
    for name in ("PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(name, None)

    def run(command: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(venv / "bin" / command)],
            env={**env, **extra},
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=120,
        )

    probe = "\n".join(
        [
            "import importlib",
            "found = []",
            f"for name in {ABSENT_FROM_IMAGE!r}:",
            "    try:",
            "        importlib.import_module(name)",
            "        found.append(name)",
            "    except ImportError:",
            "        pass",
            "import service.batch, service.serve, service.train",
            "print(found)",
        ]
    )
    imports = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    assert (imports.returncode, imports.stdout.strip()) == (0, "[]"), imports.stderr

    # The wheel installs every console script; those whose packages the image leaves out
    # would fail with an ImportError, so the image deletes exactly those.
    scripts = {path.name for path in (venv / "bin").glob("iris-*")}
    removed = scripts_removed_by_the_image()
    assert scripts - removed == {"iris-train", "iris-serve", "iris-batch"}
    assert removed <= scripts
    for name in removed:
        failed = run(name)
        assert failed.returncode != 0 and "ModuleNotFoundError" in failed.stderr, name

    train = run("iris-train")
    assert train.returncode == 0, train.stderr
    assert '"message": "published model"' in train.stderr

    demo = run("iris-batch", DEMO_ROWS="5")
    assert demo.returncode == 0, demo.stderr
    assert demo.stderr.count('"message": "demo prediction"') == 5

    (tmp_path / "data" / "input").mkdir(parents=True)
    write_features_csv(tmp_path / "data" / "input" / "flowers.csv", random_features(50))
    batch = run("iris-batch")
    assert batch.returncode == 0, batch.stderr
    with (tmp_path / "data" / "output" / "flowers.csv.predictions.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 50

    port = free_port()
    serve = subprocess.Popen(
        [str(venv / "bin" / "iris-serve")],
        env={**env, "HOST": "127.0.0.1", "PORT": str(port)},
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/readyz", serve)
        flower = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
        status, prediction = http("POST", f"{base}/predict", flower)
        assert (status, prediction["species_name"]) == (200, "setosa")
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=30)
        # Uvicorn re-raises the signal once it has drained, so the exit is "killed by SIGTERM".
        assert serve.returncode in (0, -signal.SIGTERM)
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait()

    assert list(workdir.iterdir()) == []
    assert list(home.iterdir()) == []
