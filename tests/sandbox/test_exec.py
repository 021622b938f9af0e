"""kubectl exec through the sandbox: a local process with the container's environment."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import threading
import time
from typing import IO

import pytest

from sandbox.testing import SandboxProcess

NS = "exec-test"
POD = f"""
apiVersion: v1
kind: Pod
metadata:
  name: shell
  namespace: {NS}
spec:
  containers:
    - name: shell
      image: lab:1
      command: ["python", "-c", "import time; time.sleep(100000)"]
      env:
        - name: GREETING
          value: hello from the pod
      volumeMounts:
        - name: data
          mountPath: /data
  volumes:
    - name: data
      emptyDir: {{}}
"""


@pytest.fixture(scope="module")
def shell(shared_sandbox: SandboxProcess) -> SandboxProcess:
    shared_sandbox.load_image("lab:1")
    shared_sandbox.ready_pod(NS, POD, "shell")
    return shared_sandbox


def run(
    sandbox: SandboxProcess, *command: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    flags = ["-i"] if stdin is not None else []
    return sandbox.kubectl(
        "exec", "-n", NS, *flags, "shell", "--", *command, check=False, input=stdin
    )


def test_exec_runs_with_the_containers_environment_and_volumes(shell: SandboxProcess) -> None:
    greeting = run(shell, "sh", "-c", "echo $GREETING; echo $HOSTNAME")
    assert greeting.stdout.splitlines() == ["hello from the pod", "shell"], greeting.stderr
    # A path under the volume's mountPath is the folder that backs the volume.
    assert run(shell, "touch", "/data/made-by-exec").returncode == 0
    assert run(shell, "ls", "/data").stdout.split() == ["made-by-exec"]


def test_exec_streams_stdin_stdout_stderr_and_the_exit_code(shell: SandboxProcess) -> None:
    assert run(shell, "cat", stdin="first\nsecond\n").stdout == "first\nsecond\n"
    both = run(shell, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (both.returncode, both.stdout) == (3, "out\n")
    assert "err" in both.stderr and "command terminated with exit code 3" in both.stderr
    missing = run(shell, "no-such-program")
    assert missing.returncode != 0
    assert 'exec: "no-such-program": executable file not found in $PATH' in missing.stderr


def test_exec_with_a_terminal(shell: SandboxProcess) -> None:
    # kubectl exec -it wants a terminal of its own: give it one, and type into it.
    terminal, child = os.openpty()
    process = subprocess.Popen(
        ["kubectl", "exec", "-it", "-n", NS, "shell", "--", "sh"],
        env=shell.env,
        stdin=child,
        stdout=child,
        stderr=child,
        start_new_session=True,
    )
    os.close(child)
    seen = b""
    try:
        os.write(terminal, b"tty; echo done-$((6 * 7)); exit 4\n")
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            if select.select([terminal], [], [], 0.2)[0]:
                try:
                    seen += os.read(terminal, 4096)
                except OSError:
                    break
        assert process.wait(timeout=10) == 4, seen
    finally:
        if process.poll() is None:
            process.kill()
        os.close(terminal)
    assert b"/dev/pts/" in seen and b"done-42" in seen, seen


def test_input_the_command_does_not_read_never_stalls_the_sandbox(shell: SandboxProcess) -> None:
    # A megabyte for a command that never reads it: the pipe fills up, and the sandbox must
    # keep serving everyone else (it once wrote stdin with a blocking write on its event loop).
    exec_ = subprocess.Popen(
        ["kubectl", "exec", "-i", "-n", NS, "shell", "--", "sleep", "100000"],
        env=shell.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert exec_.stdin is not None
    feeder = threading.Thread(target=_feed, args=(exec_.stdin, b"x" * 1_000_000), daemon=True)
    feeder.start()
    try:
        time.sleep(1)  # let the megabyte reach the full pipe
        listed = shell.kubectl("get", "pod", "shell", "-n", NS, "-o", "name", timeout=20)
        assert listed.stdout.strip() == "pod/shell"
    finally:
        exec_.kill()
        exec_.wait(timeout=10)


def _feed(pipe: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(OSError):
        pipe.write(data)
        pipe.close()


def test_exec_into_a_pod_not_running_says_so(shell: SandboxProcess) -> None:
    # Its ConfigMap does not exist, so the pod stays Pending. The refused WebSocket makes
    # kubectl retry without one; that answer must still say why.
    waiting = POD.replace("name: shell", "name: waiting", 1).replace(
        "      env:\n", "      envFrom:\n        - configMapRef: {name: missing}\n      env:\n"
    )
    shell.kubectl("apply", "-f", "-", input=waiting)
    refused = shell.kubectl("exec", "-n", NS, "waiting", "--", "true", check=False)
    assert refused.returncode != 0
    assert 'pod "waiting" is not running (phase Pending)' in refused.stderr
