"""Deploying overlays with kubectl: render, diff, apply and delete, output streamed line by line.

kubectl does the work (it is what the user would type, and what the TUI's command log shows);
this module finds the overlays, runs the commands and reports their exit status.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

from tui.cluster.connection import ClusterError, Connection
from tui.cluster.names import TRAINING_JOB

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
RENDER_TIMEOUT = 60


def is_overlay(path: Path) -> bool:
    """Whether ``path`` is a folder kustomize can build."""
    return any((path / name).is_file() for name in KUSTOMIZATION_FILES)


def list_overlays(repo_root: Path, extra: Sequence[Path] = ()) -> list[Path]:
    """Every overlay folder under ``repo_root/overlays`` (sorted), then the ``extra`` paths."""
    folder = repo_root / "overlays"
    found = (
        sorted(p for p in folder.iterdir() if p.is_dir() and is_overlay(p))
        if folder.is_dir()
        else []
    )
    known = {p.resolve() for p in found}
    return found + [p for p in extra if p.resolve() not in known]


def _kubectl() -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise ClusterError("kubectl not found on PATH: install it to render, diff and apply")
    return kubectl


def render_command(overlay: Path) -> list[str]:
    return ["kubectl", "kustomize", str(overlay)]


def render(overlay: Path) -> str:
    """The overlay's manifests as ``kubectl kustomize`` prints them."""
    if not is_overlay(overlay):
        raise ClusterError(f"{overlay} is not a kustomize overlay (no kustomization.yaml)")
    try:
        done = subprocess.run(
            [_kubectl(), *render_command(overlay)[1:]],
            capture_output=True,
            text=True,
            timeout=RENDER_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ClusterError(
            f"kubectl kustomize {overlay} took longer than {RENDER_TIMEOUT} s"
        ) from exc
    if done.returncode != 0:
        message = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
        raise ClusterError(f"cannot render {overlay}: {message}")
    return done.stdout


def split_documents(text: str) -> list[tuple[str, str]]:
    """Each YAML document of ``text`` as (``Kind/name``, its text), empty documents dropped."""
    documents = []
    chunk: list[str] = []
    for line in [*text.splitlines(keepends=True), "---\n"]:
        if line.rstrip() == "---":
            body = "".join(chunk)
            chunk = []
            try:
                obj = yaml.safe_load(body)
            except yaml.YAMLError:
                obj = None
            if isinstance(obj, dict):
                name = (obj.get("metadata") or {}).get("name", "")
                documents.append((f"{obj.get('kind', '?')}/{name}", body))
            elif body.strip():
                documents.append(("(unparsed)", body))
        else:
            chunk.append(line)
    return documents


class CommandRun:
    """One or more commands run in turn; iterate for their combined output lines.

    Each command is announced by a ``$ command`` line. The run stops at the first command whose
    exit status is not in ``ok_codes``; afterwards ``returncode`` is that status (or the last
    one). ``cancel()`` from another thread ends the running command.
    """

    def __init__(self, commands: Sequence[list[str]], ok_codes: frozenset[int] = frozenset({0})):
        self.commands = [list(c) for c in commands]
        self.command = " && ".join(shlex.join(c) for c in self.commands)
        self.ok_codes = ok_codes
        self.returncode: int | None = None
        self._process: subprocess.Popen[str] | None = None
        self._cancelled = threading.Event()

    def __iter__(self) -> Iterator[str]:
        kubectl = _kubectl()
        for argv in self.commands:
            if self._cancelled.is_set():
                break
            yield f"$ {shlex.join(argv)}"
            try:
                process = subprocess.Popen(
                    [kubectl, *argv[1:]],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    text=True,
                    bufsize=1,
                )
            except OSError as exc:
                raise ClusterError(f"cannot run kubectl: {exc}") from exc
            self._process = process
            try:
                assert process.stdout is not None
                with process.stdout:
                    for line in process.stdout:
                        yield line.rstrip("\n")
                self.returncode = process.wait()
            finally:
                # The reader stopped early (or failed): do not leave kubectl running.
                if process.poll() is None:
                    process.terminate()
                    process.wait()
                self._process = None
            if self.returncode not in self.ok_codes:
                break
        if self._cancelled.is_set() and self.returncode is None:
            self.returncode = -1

    def run(self) -> list[str]:
        """Run to the end and return every output line."""
        return list(self)

    def cancel(self) -> None:
        self._cancelled.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()

    @property
    def succeeded(self) -> bool:
        return self.returncode is not None and self.returncode in self.ok_codes


def diff(conn: Connection, overlay: Path) -> CommandRun:
    """``kubectl diff -k``: exit status 0 = no differences, 1 = differences, more = error."""
    return CommandRun([conn.kubectl("diff", "-k", str(overlay))], ok_codes=frozenset({0, 1}))


# (what kubectl says, what to do about it) for failures the kit is known to meet.
_KNOWN_FIXES = (
    (
        re.compile(r'The Job "[^"]+" is invalid: spec\.template: .*field is immutable', re.S),
        "a Job's pod template cannot change once the Job exists; Apply deletes the finished "
        f"training Job ({TRAINING_JOB}) first and creates it again, which retrains, so apply "
        "works where the diff cannot show this change",
    ),
    (
        re.compile(r'namespaces "[^"]+" not found'),
        "the namespace does not exist yet: Apply creates it (the diff then has nothing to "
        "compare with)",
    ),
    (
        re.compile(r"Apply failed with \d+ conflicts?"),
        "another manager changed these fields (kubectl scale, kubectl edit): apply with "
        "--force-conflicts takes them back, as the TUI's Apply does",
    ),
)


def known_fix(output: str) -> str | None:
    """What to do about a failure kubectl printed in ``output``, when the kit knows."""
    for pattern, fix in _KNOWN_FIXES:
        if pattern.search(output):
            return fix
    return None


def apply(conn: Connection, overlay: Path, *, force_conflicts: bool = True) -> CommandRun:
    """Delete the completed training Job (its template is immutable), then apply server-side.

    The Job is recreated by the apply, which retrains: what a user wants after an image or
    configuration change. The overlay is the source of truth, so by default the apply takes
    back fields another manager changed since (the replicas of a `kubectl scale` or of the
    TUI's scale keys), where a plain server-side apply would stop on a conflict.
    """
    apply_args = ["apply", "--server-side", "-k", str(overlay)]
    if force_conflicts:
        apply_args.insert(2, "--force-conflicts")
    return CommandRun(
        [
            conn.kubectl("delete", "job", TRAINING_JOB, "--ignore-not-found"),
            conn.kubectl(*apply_args),
        ]
    )


def delete(conn: Connection, overlay: Path) -> CommandRun:
    """Delete every resource of the overlay (what exists of it)."""
    return CommandRun([conn.kubectl("delete", "-k", str(overlay), "--ignore-not-found")])
