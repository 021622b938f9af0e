"""The README's "Adapting the kit to your own model" on a copy of the kit: its three keys set
in base/kustomization.yaml, as a user edits them, without touching the repository's own, and
the copy's `make apply` run against a sandbox."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from sandbox.testing import SandboxProcess

REPO_ROOT = Path(__file__).resolve().parent.parent
# What `make apply` and `kubectl kustomize overlays/...` read.
KIT = ("Makefile", "base", "components", "overlays")


def copy_kit(destination: Path) -> Path:
    destination.mkdir(parents=True)
    for name in KIT:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name)
        else:
            shutil.copy(source, destination / name)
    return destination


def set_keys(kit: Path, **keys: str) -> None:
    """Set literals of the ConfigMap's generator in base/kustomization.yaml, each exactly once."""
    path = kit / "base/kustomization.yaml"
    text = path.read_text()
    for key, value in keys.items():
        text, found = re.subn(rf"^(\s*- {key}=).*$", rf"\g<1>{value}", text, flags=re.M)
        assert found == 1, f"{key} is not a literal of the ConfigMap in base/kustomization.yaml"
    path.write_text(text)


def make_apply(sandbox: SandboxProcess, kit: Path) -> str:
    """The README's `make apply`, verbatim, in the copy ``kit``: what it printed."""
    done = subprocess.run(
        ["make", "-C", str(kit), "--no-print-directory", "apply"],
        env=sandbox.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"make apply exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout
