"""The README's "Break it on purpose" exercises, typed as a learner would, with the real kubectl.

Each breaks the minikube stack one way, checks what kubectl shows (status, reason, the Warning
event's message) and that the README's fix mends it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.testing import SandboxProcess, start_sandbox
from tests.polling import eventually

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
NS = ("-n", "ml-course")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """A sandbox of this module's own (the exercises break it) with the minikube overlay."""
    sandbox = start_sandbox(tmp_path_factory.mktemp("break-it"))
    try:
        sandbox.kubectl("apply", "--server-side", "-k", str(REPO / "overlays/minikube"))
        sandbox.kubectl(*NS, "wait", "--for=condition=complete", "job/iris-train-job",
                        "--timeout=120s", timeout=130)  # fmt: skip
        sandbox.kubectl(*NS, "rollout", "status", "deploy/iris-api", "--timeout=120s", timeout=130)
        yield sandbox
    finally:
        sandbox.stop()


def pod_statuses(stack: SandboxProcess, selector: str) -> list[str]:
    """The STATUS column of `kubectl get pods` for the pods ``selector`` picks."""
    out = stack.kubectl(*NS, "get", "pods", "-l", selector, "--no-headers").stdout
    return [line.split()[2] for line in out.splitlines()]


def warnings(stack: SandboxProcess) -> str:
    return stack.kubectl(*NS, "get", "events", "--field-selector", "type=Warning").stdout


API = "app.kubernetes.io/component=api"
TRAINING = "app.kubernetes.io/component=training"


def test_a_wrong_image_backs_off_while_the_old_pods_serve(stack: SandboxProcess) -> None:
    stack.kubectl(*NS, "set", "image", "deploy/iris-api", "iris-api=iris-ml:0.2.0")
    eventually(lambda: "ImagePullBackOff" in pod_statuses(stack, API) and "ok", "ImagePullBackOff")
    assert pod_statuses(stack, API).count("Running") == 2
    events = warnings(stack)
    assert 'Failed to pull image "iris-ml:0.2.0": failed to pull and unpack image' in events
    assert "Error: ImagePullBackOff" in events
    stack.kubectl(*NS, "rollout", "undo", "deploy/iris-api")
    stack.kubectl(*NS, "rollout", "status", "deploy/iris-api", "--timeout=60s", timeout=70)
    eventually(lambda: pod_statuses(stack, API) == ["Running", "Running"] and "ok", "the undo")


def test_a_bad_setting_crash_loops_with_back_off(stack: SandboxProcess) -> None:
    stack.kubectl(*NS, "set", "env", "deploy/iris-api", "LOG_LEVEL=loud")

    def crashing() -> str | None:
        out = stack.kubectl(*NS, "get", "pods", "-l", API, "--no-headers").stdout
        return next((ln.split()[0] for ln in out.splitlines() if "CrashLoopBackOff" in ln), None)

    pod = eventually(crashing, "CrashLoopBackOff")
    previous = stack.kubectl(*NS, "logs", pod, "--previous").stdout
    assert "LOG_LEVEL" in previous
    described = stack.kubectl(*NS, "describe", "pod", pod).stdout
    assert "Back-off restarting failed container iris-api in pod" in described
    restarts = int(stack.kubectl(*NS, "get", "pod", pod, "--no-headers").stdout.split()[3])
    assert restarts <= 3, "the kubelet backs off: 10 s, then 20 s, between restarts"
    stack.kubectl(*NS, "rollout", "undo", "deploy/iris-api")
    stack.kubectl(*NS, "rollout", "status", "deploy/iris-api", "--timeout=60s", timeout=70)


def test_the_finished_training_job_cannot_be_edited(stack: SandboxProcess) -> None:
    edit = stack.kubectl(*NS, "set", "env", "job/iris-train-job", "MIN_ACCURACY=0.99", check=False)
    assert edit.returncode == 1
    assert edit.stderr.startswith(
        'error: failed to patch env update to pod template: Job.batch "iris-train-job" is '
        "invalid: spec.template: Invalid value: "
    )
    assert edit.stderr.rstrip().endswith(": field is immutable")


def test_the_gpu_overlay_on_a_cpu_node_stays_pending(stack: SandboxProcess) -> None:
    stack.kubectl(*NS, "delete", "job", "iris-train-job")
    stack.kubectl("apply", "--server-side", "--force-conflicts", "-k", str(REPO / "overlays/gpu"))
    eventually(lambda: pod_statuses(stack, TRAINING) == ["Pending"] and "ok", "a Pending pod")
    message = eventually(
        # The training pod's: the API pods may have met a claim not yet bound at the start.
        lambda: next(
            (
                line
                for line in warnings(stack).splitlines()
                if "FailedScheduling" in line and "pod/iris-train-job-" in line
            ),
            None,
        ),
        "FailedScheduling",
    )
    assert message.endswith(
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    )
    # The fix: back to the overlay the node can run (make apply does exactly this).
    stack.kubectl(*NS, "delete", "job", "iris-train-job")
    stack.kubectl("apply", "--server-side", "-k", str(REPO / "overlays/minikube"))
    stack.kubectl(*NS, "wait", "--for=condition=complete", "job/iris-train-job",
                  "--timeout=120s", timeout=130)  # fmt: skip


def test_the_cloud_overlay_needs_its_image_and_its_secret(stack: SandboxProcess) -> None:
    stack.kubectl(*NS, "delete", "job", "iris-train-job")
    stack.kubectl(*NS, "delete", "secret", "iris-api-secret", "--ignore-not-found")
    # --force-conflicts, as make apply: the rollout undo above took the image field over.
    applied = stack.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "-k",
        str(REPO / "overlays/cloud-loadbalancer"),
        check=False,
    )
    # As on a real cluster, the bound claim of the minikube overlay keeps its spec; the rest
    # of the overlay is applied.
    assert applied.stderr.strip() == (
        'The PersistentVolumeClaim "ml-model-pvc" is invalid: spec: Forbidden: spec is '
        "immutable after creation except resources.requests and volumeAttributesClassName for "
        "bound claims"
    )
    eventually(
        lambda: "ImagePullBackOff" in pod_statuses(stack, TRAINING) and "ok", "the registry pull"
    )
    image = stack.kubectl(*NS, "get", "job", "iris-train-job", "-o",
                          "jsonpath={.spec.template.spec.containers[0].image}").stdout  # fmt: skip
    # As if pushed and pulled: the pull succeeds, and the missing Secret shows next.
    stack.load_image(image)
    eventually(
        lambda: "CreateContainerConfigError" in pod_statuses(stack, API) and "ok",
        "the missing Secret",
    )
    assert 'Error: secret "iris-api-secret" not found' in warnings(stack)
