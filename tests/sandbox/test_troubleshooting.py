"""The README's troubleshooting table, row by row, with the real kubectl on a sandbox.

Each test makes the symptom happen, checks what kubectl shows (the STATUS column, the event's
type, reason and message, /readyz's answer) and, where the sandbox can do it, that the table's
"Cause and fix" mends it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from typing import TypeVar

import httpx
import pytest

from sandbox.testing import SandboxProcess, start_sandbox
from tests.polling import eventually
from tests.sandbox import troubles
from tests.sandbox.troubles import REPO

pytestmark = pytest.mark.slow

T = TypeVar("T")
KIT = ("-n", "ml-course")
API = "app.kubernetes.io/component=api"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """A sandbox of this module's own: some rows take its default StorageClass away."""
    sandbox = start_sandbox(tmp_path_factory.mktemp("troubleshooting"))
    try:
        yield sandbox
    finally:
        sandbox.stop()


def apply(sandbox: SandboxProcess, namespace: str, *manifests: str) -> None:
    if sandbox.kubectl("get", "namespace", namespace, check=False).returncode:
        sandbox.kubectl("create", "namespace", namespace)
    sandbox.kubectl("apply", "-f", "-", input="---\n".join(manifests))


def column(sandbox: SandboxProcess, namespace: str, what: str, index: int) -> str:
    """One column of `kubectl get <what> --no-headers` (a single object)."""
    return sandbox.kubectl("-n", namespace, "get", what, "--no-headers").stdout.split()[index]


def events(sandbox: SandboxProcess, namespace: str, name: str) -> list[tuple[str, str, str]]:
    """(TYPE, REASON, MESSAGE) of each line `kubectl get events` prints for the object."""
    out = sandbox.kubectl(
        "-n", namespace, "get", "events", "--field-selector", f"involvedObject.name={name}"
    ).stdout
    rows = []
    for line in out.splitlines()[1:]:
        _, _, type_, reason, _, message = line.split(None, 5)
        rows.append((type_, reason, message))
    return rows


def has_event(sandbox: SandboxProcess, namespace: str, name: str, *wanted: str) -> bool:
    return tuple(wanted) in events(sandbox, namespace, name)


def test_err_image_pull_then_back_off_until_the_image_is_on_the_node(
    node: SandboxProcess,
) -> None:
    ns = "t-image"
    apply(node, ns, troubles.wrong_image(ns))
    eventually(
        lambda: column(node, ns, "pod/wrong-image", 2) == "ImagePullBackOff", "ImagePullBackOff"
    )

    def reported() -> bool:
        found = events(node, ns, "wrong-image")
        pulls = [m for t, r, m in found if (t, r) == ("Warning", "Failed")]
        return (
            any(m.startswith(f'Failed to pull image "{troubles.MISSING_IMAGE}": ') for m in pulls)
            and "Error: ErrImagePull" in pulls
            and "Error: ImagePullBackOff" in pulls
            and ("Normal", "BackOff", f'Back-off pulling image "{troubles.MISSING_IMAGE}"') in found
        )

    eventually(reported, "the pull's events")
    # The fix: the image built into the node (`minikube image build`; here `image load`).
    node.load_image(troubles.MISSING_IMAGE)
    eventually(lambda: column(node, ns, "pod/wrong-image", 2) == "Running", "Running", 120)


def test_crash_loop_back_off_and_the_previous_log_says_why(node: SandboxProcess) -> None:
    ns = "t-crash"
    apply(node, ns, troubles.crash_loop(ns))
    eventually(lambda: column(node, ns, "pod/crash", 2) == "CrashLoopBackOff", "CrashLoopBackOff")
    assert int(column(node, ns, "pod/crash", 3)) >= 1
    warnings = [(r, m) for t, r, m in events(node, ns, "crash") if t == "Warning"]
    assert any(
        r == "BackOff" and m.startswith("Back-off restarting failed container crash in pod crash_")
        for r, m in warnings
    )
    # The fix starts with the crashed run's own words.
    previous = node.kubectl("-n", ns, "logs", "crash", "--previous").stdout
    assert "LOG_LEVEL" in previous.strip().splitlines()[-1]


@pytest.fixture
def untrained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """The minikube overlay on a fresh sandbox, its training data missing: nothing trains."""
    sandbox = start_sandbox(tmp_path_factory.mktemp("untrained"))
    try:
        sandbox.kubectl("apply", "--server-side", "-f", "-", input=troubles.untrained_kit())
        yield sandbox
    finally:
        sandbox.stop()


@pytest.mark.container_view
def test_a_failed_training_job_leaves_the_api_pods_never_ready(untrained: SandboxProcess) -> None:
    """Two rows at once, as they happen: the Job fails, so no model is published."""
    stack = untrained
    eventually(
        lambda: column(stack, "ml-course", "job/iris-train-job", 1) == "Failed",
        "the Job to fail",
        timeout=240,
    )
    eventually(
        lambda: has_event(
            stack,
            "ml-course",
            "iris-train-job",
            "Warning",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ),
        "BackoffLimitExceeded",
    )
    last = stack.kubectl(*KIT, "logs", "job/iris-train-job").stdout.strip().splitlines()[-1]
    assert json.loads(last)["message"] == (
        f"cannot read {troubles.BAD_TRAIN_DATA}: No such file or directory"
    )

    pods = stack.kubectl(*KIT, "get", "pods", "-l", API, "--no-headers").stdout.splitlines()
    assert [line.split()[1:3] for line in pods] == [["0/1", "Running"]] * 2
    pod = pods[0].split()[0]
    eventually(
        lambda: has_event(
            stack,
            "ml-course",
            pod,
            "Warning",
            "Unhealthy",
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
        ),
        "Unhealthy",
    )
    # /readyz through the API server's pod proxy, as `kubectl get --raw` reaches it.
    readyz = httpx.get(f"{stack.url}/api/v1/namespaces/ml-course/pods/{pod}:8000/proxy/readyz")
    assert readyz.status_code == 503
    # the pod names its mountPath, as on a cluster: it sees the volume where the spec mounts it
    assert readyz.json() == {"status": "unready", "reason": "no model published in /models yet"}

    # The fix: train again with good data (make apply: delete the Job, apply the overlay).
    stack.kubectl(*KIT, "delete", "job", "iris-train-job")
    stack.kubectl("apply", "--server-side", "-k", str(REPO / "overlays/minikube"))
    stack.kubectl(
        *KIT,
        "wait",
        "--for=condition=complete",
        "job/iris-train-job",
        "--timeout=120s",
        timeout=130,
    )
    stack.kubectl(*KIT, "wait", "--for=condition=ready", "pod", "-l", API, "--timeout=60s")


def default_classes(sandbox: SandboxProcess) -> list[str]:
    """The classes `kubectl get storageclass` marks "(default)"."""
    out = sandbox.kubectl("get", "storageclass", "--no-headers").stdout
    return [line.split()[0] for line in out.splitlines() if line.split()[1] == "(default)"]


def test_a_claim_stays_pending_without_a_default_storage_class(node: SandboxProcess) -> None:
    ns = "t-claim"
    assert default_classes(node) == ["standard"]
    standard = node.kubectl("get", "storageclass", "standard", "-o", "yaml").stdout
    node.kubectl("delete", "storageclass", "standard")
    try:
        listed = node.kubectl("get", "storageclass")
        assert (listed.stdout, listed.stderr) == ("", "No resources found\n")
        apply(node, ns, troubles.claim(ns, "data"))
        time.sleep(2)
        assert column(node, ns, "pvc/data", 1) == "Pending"
        eventually(
            lambda: has_event(
                node,
                ns,
                "data",
                "Normal",
                "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set",
            ),
            "FailedBinding",
        )
    finally:
        # The fix: a default class again (minikube's default-storageclass addon makes this one).
        node.kubectl("apply", "-f", "-", input=standard)
    eventually(lambda: column(node, ns, "pvc/data", 1) == "Bound", "the claim to bind", 40)
    assert column(node, ns, "pvc/data", 5) == "standard"
    assert default_classes(node) == ["standard"]


def test_no_multi_attach_error_on_the_one_node_sandbox(node: SandboxProcess) -> None:
    """Multi-Attach needs two nodes: ReadWriteOnce is one node's, and the sandbox has one."""
    ns = "t-attach"
    apply(
        node,
        ns,
        troubles.claim(ns, "shared"),
        troubles.claim_user(ns, "first", "shared"),
        troubles.claim_user(ns, "second", "shared"),
    )
    for pod in ("first", "second"):
        node.kubectl("-n", ns, "wait", "--for=condition=ready", f"pod/{pod}", "--timeout=60s")
    assert node.kubectl("get", "nodes", "--no-headers").stdout.count("\n") == 1
    assert "Multi-Attach" not in node.kubectl("-n", ns, "get", "events").stdout


def test_a_load_balancer_stays_pending_without_one(node: SandboxProcess) -> None:
    ns = "t-lb"
    apply(node, ns, troubles.load_balancer(ns))
    time.sleep(3)  # minikube without a tunnel: nothing ever allocates an address
    line = node.kubectl("-n", ns, "get", "svc", "web-lb", "--no-headers").stdout.split()
    assert line[1] == "LoadBalancer" and line[3] == "<pending>"
    assert events(node, ns, "web-lb") == []
    # The fix the sandbox can take: the NodePort the minikube overlay uses.
    node.kubectl("-n", ns, "patch", "svc", "web-lb", "-p", '{"spec":{"type":"NodePort"}}')
    line = node.kubectl("-n", ns, "get", "svc", "web-lb", "--no-headers").stdout.split()
    assert line[1] == "NodePort" and line[3] == "<none>"
    assert line[4].startswith("80:") and line[4].endswith("/TCP")


def test_an_hpa_shows_unknown_cpu_without_metrics_server(node: SandboxProcess) -> None:
    """The sandbox has no metrics-server: the fix (enable it) is minikube's only."""
    ns = "t-hpa"
    apply(node, ns, troubles.autoscaled(ns))
    eventually(
        lambda: has_event(
            node,
            ns,
            "web",
            "Warning",
            "FailedGetResourceMetric",
            "failed to get cpu utilization: unable to get metrics for resource cpu: unable to "
            "fetch metrics from resource metrics API: the server could not find the requested "
            "resource (get pods.metrics.k8s.io)",
        ),
        "FailedGetResourceMetric",
    )
    assert column(node, ns, "hpa/web", 2) + column(node, ns, "hpa/web", 3) == "cpu:<unknown>/50%"


def test_create_container_config_error_until_make_secret(node: SandboxProcess) -> None:
    ns = "ml-course"
    apply(node, ns, troubles.needs_secret(ns))
    eventually(
        lambda: column(node, ns, "pod/needs-secret", 2) == "CreateContainerConfigError",
        "CreateContainerConfigError",
    )
    eventually(
        lambda: has_event(
            node,
            ns,
            "needs-secret",
            "Warning",
            "Failed",
            'Error: secret "iris-api-secret" not found',
        ),
        "the Failed event",
    )
    # The fix, as written: `make secret` against this cluster.
    subprocess.run(
        ["make", "secret"],
        cwd=REPO,
        env={**os.environ, **node.env},
        check=True,
        capture_output=True,
    )
    eventually(lambda: column(node, ns, "pod/needs-secret", 2) == "Running", "Running", 90)


def test_create_container_config_error_names_a_missing_key(node: SandboxProcess) -> None:
    ns = "t-key"
    node.kubectl("create", "namespace", ns)
    node.kubectl(
        "-n", ns, "create", "secret", "generic", "iris-api-secret", "--from-literal=OTHER=1"
    )
    apply(node, ns, troubles.needs_key(ns))
    eventually(
        lambda: has_event(
            node,
            ns,
            "needs-key",
            "Warning",
            "Failed",
            f"Error: couldn't find key API_KEY in Secret {ns}/iris-api-secret",
        ),
        "the missing key",
    )
    assert column(node, ns, "pod/needs-key", 2) == "CreateContainerConfigError"
    node.kubectl(
        "-n", ns, "patch", "secret", "iris-api-secret", "-p", '{"stringData":{"API_KEY":"k"}}'
    )
    eventually(lambda: column(node, ns, "pod/needs-key", 2) == "Running", "Running", 90)
