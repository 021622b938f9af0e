"""One sandbox per state folder: a second one says so and leaves the first untouched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sandbox.testing import SandboxProcess


@pytest.mark.slow
def test_a_second_sandbox_on_the_same_state_refuses_to_start(sandbox: SandboxProcess) -> None:
    kubeconfig = sandbox.kubeconfig.read_text()
    second = subprocess.run(
        [sys.executable, "-m", "sandbox", "--state", str(sandbox.state_dir), "--no-pods"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 1
    assert second.stderr.count("\n") == 1
    assert "another sandbox" in second.stderr and str(sandbox.state_dir) in second.stderr
    assert "Traceback" not in second.stderr
    assert sandbox.kubeconfig.read_text() == kubeconfig
    assert httpx.get(f"{sandbox.url}/version", timeout=5).status_code == 200


@pytest.mark.slow
def test_the_lock_is_released_when_the_sandbox_stops(sandbox: SandboxProcess) -> None:
    sandbox.restart()
    assert httpx.get(f"{sandbox.url}/version", timeout=5).status_code == 200
    assert Path(sandbox.state_dir / "lock").read_text().strip().isdigit()
