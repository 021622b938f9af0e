"""`make demo` run a second time: it says the sandbox still holds the earlier cluster, and
FRESH=1 (or answering y) starts from an empty one. Also `make help` expands its variables.

scripts/demo.sh runs here with stand-ins for iris-sandbox, iris-tui and kubectl that record
what they were asked, so no cluster starts.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

FAKE_SANDBOX = """#!/usr/bin/env bash
# Writes the ready file the script waits for, then runs until stopped.
while [ $# -gt 0 ]; do [ "$1" = --state ] && state=$2; shift; done
echo http://127.0.0.1:1 > "$state/ready"
exec sleep 30
"""
FAKE_TUI = """#!/usr/bin/env bash
echo "iris-tui $*" >> "$CALLS"
"""
FAKE_KUBECTL = """#!/usr/bin/env bash
echo "kubectl $*" >> "$CALLS"
"""


def run_demo(tmp_path: Path, fresh: str | None) -> tuple[subprocess.CompletedProcess[str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (
        ("iris-sandbox", FAKE_SANDBOX),
        ("iris-tui", FAKE_TUI),
        ("kubectl", FAKE_KUBECTL),
    ):
        path = bin_dir / name
        path.write_text(text)
        path.chmod(0o755)
    state = tmp_path / "state"
    env = {
        **os.environ,
        "BIN": str(bin_dir),
        "STATE": str(state),
        "CALLS": str(tmp_path / "calls"),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("FRESH", None)
    if fresh is not None:
        env["FRESH"] = fresh
    done = subprocess.run(
        [str(REPO / "scripts" / "demo.sh")],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done, state


def test_a_first_demo_says_nothing_about_old_state(tmp_path: Path) -> None:
    done, _ = run_demo(tmp_path, None)
    assert done.returncode == 0, done.stderr
    assert "earlier make demo" not in done.stdout
    assert "iris-tui --namespace ml-course --overlay minikube" in (tmp_path / "calls").read_text()


def test_a_second_demo_says_it_starts_on_the_old_cluster(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "objects.json").write_text('{"old": "jobs"}')
    done, state = run_demo(tmp_path, None)
    assert done.returncode == 0, done.stderr
    assert "holds the cluster of an earlier make demo" in done.stdout
    assert "make demo FRESH=1 starts from an empty cluster" in done.stdout
    assert (state / "objects.json").read_text() == '{"old": "jobs"}'


def test_fresh_starts_from_an_empty_cluster(tmp_path: Path) -> None:
    (tmp_path / "state" / "logs").mkdir(parents=True)
    (tmp_path / "state" / "objects.json").write_text('{"old": "jobs"}')
    done, state = run_demo(tmp_path, "1")
    assert done.returncode == 0, done.stderr
    assert "a fresh start" in done.stdout
    assert not (state / "objects.json").exists()
    assert not (state / "logs").exists()


def test_make_help_shows_the_image_it_builds() -> None:
    listed = subprocess.run(
        ["make", "--no-print-directory", "help", "TAG=9.9.9"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "build the container image iris-ml:9.9.9" in listed
    assert "$(" not in listed
