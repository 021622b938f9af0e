"""Every command in the README works as written.

The make targets are dry-run (`make -n`: they start real clusters), the curl lines run against
a served model, and the kubectl lines run against a sandbox with the minikube overlay applied.
Commands that need minikube, kind or a cloud (`minikube ...`, `kind ...`, the Secret of a real
cluster) cannot run here; they are listed in REAL_CLUSTER_ONLY so that the rest is complete.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.testing import SandboxProcess
from service.model_store import ModelStore
from tests.service.api_fixtures import free_port, publish, serve_process

REPO_ROOT = Path(__file__).resolve().parents[2]
README = (REPO_ROOT / "README.md").read_text()

# Lines that only a real cluster can run.
REAL_CLUSTER_ONLY = ("minikube ", "kind ", "URL=", "KEY=", 'curl -s -X POST "$URL')


def shell_lines() -> list[str]:
    """The commands of every ```bash block, continuation lines joined, comments dropped."""
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            command = line.split("  #", 1)[0].strip()
            if command and not command.startswith("#"):
                lines.append(command)
    return lines


def inline_commands(program: str) -> list[str]:
    """Commands quoted inline (`kubectl ...`) in the README's prose and tables.

    Not those of "Break it on purpose": they break the stack on purpose, in an order, and
    tests/sandbox/test_break_it.py types them on a sandbox of its own.
    """
    start = README.index("## Break it on purpose")
    prose = README[:start] + README[README.index("\n## ", start + 1) :]
    return [c for c in re.findall(r"`(" + program + r" [^`]+)`", prose) if "<" not in c]


def runnable(line: str) -> bool:
    return not line.startswith(REAL_CLUSTER_ONLY)


def test_the_first_two_commands_are_demo_and_test() -> None:
    assert shell_lines()[:2] == ["make demo", "make test"]


def make_targets() -> list[str]:
    targets = set()
    for command in shell_lines() + inline_commands("make"):
        if command.startswith("make "):
            targets.add(command.removeprefix("make "))
    return sorted(targets)


@pytest.mark.parametrize("target", make_targets())
def test_make_target_dry_runs(target: str) -> None:
    result = subprocess.run(
        ["make", "-n", *shlex.split(target)], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_make_help_lists_every_documented_target() -> None:
    listed = subprocess.run(
        ["make", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    for target in make_targets():
        for name in target.split():
            if not name.startswith("-") and "=" not in name:
                assert f"make {name} " in listed, name


def test_the_developing_table_shows_what_make_runs() -> None:
    """A row `make X` | `command` is exactly what `make -n X` prints."""
    rows = re.findall(r"^\| `make ([a-z-]+)` \| `([^`]+)` \|$", README, flags=re.M)
    assert rows
    for target, command in rows:
        result = subprocess.run(
            ["make", "--no-print-directory", "-n", target],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
        assert result.stdout.splitlines() == [command], target


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    model_dir = tmp_path_factory.mktemp("readme-model")
    publish(ModelStore(model_dir))
    with serve_process(model_dir, tmp_path_factory.mktemp("readme-logs")) as server:
        yield server.url


def curl_lines() -> list[str]:
    """The curl lines for a served model; those that ask kubectl for an address need a cluster."""
    return [
        line
        for line in shell_lines()
        if line.startswith("curl") and runnable(line) and "$(kubectl" not in line
    ]


@pytest.mark.slow
@pytest.mark.parametrize("line", curl_lines())
def test_curl_line_answers(line: str, api_url: str) -> None:
    result = subprocess.run(
        ["bash", "-c", line], env=dict(os.environ, API=api_url), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    if line.endswith("/metrics"):
        assert "iris_http_requests_total" in result.stdout
        return
    answer = json.loads(result.stdout)
    assert not {"detail", "error", "errors"} & set(answer), answer
    if "/predict " in line + " " and "sepal_length" in line:
        assert answer["species_name"] == "setosa"


def kubectl_lines() -> list[str]:
    lines = [c for c in shell_lines() if c.startswith("kubectl ") or "$(kubectl" in c]
    lines += inline_commands("kubectl")
    return sorted({line for line in lines if "iris-api-secret -o" not in line})


def check_port_forward(line: str, sandbox: SandboxProcess) -> None:
    """Run a `kubectl port-forward` line (on a free local port) and call the API through it."""
    local = line.split()[-1].split(":")[0]
    command = line.replace(f" {local}:", f" {free_port()}:")
    forward = subprocess.Popen(
        shlex.split(command), env=sandbox.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert forward.stdout is not None
        first = forward.stdout.readline().decode()
        found = re.search(r"127\.0\.0\.1:(\d+) ->", first)
        assert found, f"{command}: {first}"
        with urllib.request.urlopen(f"http://127.0.0.1:{found[1]}/readyz", timeout=10) as answer:
            assert json.loads(answer.read())["status"] == "ready"
    finally:
        forward.terminate()
        forward.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("line", kubectl_lines())
def test_kubectl_line_works_on_the_sandbox(line: str, minikube_stack: SandboxProcess) -> None:
    if " port-forward " in line:
        check_port_forward(line, minikube_stack)
        return
    result = subprocess.run(
        ["bash", "-c", line],
        cwd=REPO_ROOT,
        env=minikube_stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"{line}\n{result.stderr}"
    assert "error" not in result.stderr.lower(), result.stderr
    if line.startswith("curl ") and line.endswith("/readyz"):
        assert json.loads(result.stdout)["status"] == "ready", result.stdout
