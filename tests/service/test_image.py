"""The container image, without an engine: lint the Dockerfile and check what the build context
admits. tests/image builds the real image and runs it as the manifests say."""

from __future__ import annotations

import fnmatch
import subprocess
from pathlib import Path

from tests.service.core_fixtures import BIN

REPO = Path(__file__).resolve().parents[2]


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
        "sandbox/apiserver/server.py",
        "service/__pycache__/batch.cpython-311.pyc",
        "Makefile",
    ]:
        assert not in_build_context(path), path
