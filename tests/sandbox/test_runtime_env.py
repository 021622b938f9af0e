"""A pod's environment: declared paths move into local folders, the sandbox's own do not."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.kubelet.podspec import Mount, environment
from sandbox.storage.store import Store

POD = {"metadata": {"name": "api-1", "namespace": "ml-course"}}


def test_only_declared_values_are_rewritten_to_the_volume_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A checkout under /tmp, as CI may have it: its venv is on PATH and /tmp is also the
    # mountPath of every pod's scratch emptyDir.
    monkeypatch.setattr("sandbox.kubelet.podspec.TOOLS_DIR", Path("/tmp/checkout/.venv/bin"))
    monkeypatch.setenv("PATH", "/usr/bin")
    scratch, models = tmp_path / "scratch", tmp_path / "models"
    container = {
        "name": "api",
        "env": [
            {"name": "MODEL_DIR", "value": "/models"},
            {"name": "CACHE", "value": "/tmp/cache"},
            {"name": "URL", "value": "http://example.invalid/models"},
        ],
    }
    mounts = [Mount("/models", models), Mount("/tmp", scratch)]
    container["ports"] = [{"containerPort": 8000}]
    env = environment(
        Store(None), POD, container, mounts, "127.244.0.7", scratch, host_ip="127.244.0.1"
    )
    assert env["MODEL_DIR"] == str(models)
    assert env["CACHE"] == f"{scratch}/cache"
    assert env["URL"] == "http://example.invalid/models"
    assert env["PATH"] == "/tmp/checkout/.venv/bin:/usr/bin"
    assert (env["HOST"], env["PORT"], env["TMPDIR"]) == ("127.244.0.7", "8000", str(scratch))
