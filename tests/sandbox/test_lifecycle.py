"""Deletion as kubectl users see it: finalizers, cascading policies and namespace termination."""

from __future__ import annotations

import json
import time

import pytest

from sandbox.testing import SandboxProcess

SLEEPER = ["--", "python", "-c", "import time; time.sleep(300)"]


@pytest.fixture(autouse=True)
def lab_image(shared_sandbox: SandboxProcess) -> None:
    """The image these pods name, put on the node as `minikube image load` would."""
    shared_sandbox.load_image("lab:1")


def _deployment(sandbox: SandboxProcess, ns: str, name: str, replicas: int = 2) -> None:
    sandbox.kubectl(
        "create", "deployment", name, "-n", ns, "--image=lab:1", f"--replicas={replicas}", *SLEEPER
    )
    sandbox.kubectl("rollout", "status", f"deployment/{name}", "-n", ns, "--timeout=60s")


def _names(sandbox: SandboxProcess, ns: str, kind: str) -> list[str]:
    out = sandbox.kubectl("get", kind, "-n", ns, "-o", "name").stdout
    return out.split()


def test_deleting_a_namespace_waits_until_its_content_is_gone(
    shared_sandbox: SandboxProcess,
) -> None:
    shared_sandbox.kubectl("create", "namespace", "lc-ns")
    _deployment(shared_sandbox, "lc-ns", "web")
    deleted = shared_sandbox.kubectl("delete", "namespace", "lc-ns", timeout=90)
    assert deleted.stdout == 'namespace "lc-ns" deleted\n'
    missing = shared_sandbox.kubectl("get", "namespace", "lc-ns", check=False)
    assert missing.stderr == 'Error from server (NotFound): namespaces "lc-ns" not found\n'


def test_a_namespace_with_a_finalizer_left_stays_terminating(
    shared_sandbox: SandboxProcess,
) -> None:
    kubectl = shared_sandbox.kubectl
    kubectl("create", "namespace", "lc-held")
    kubectl("create", "configmap", "held", "-n", "lc-held")
    kubectl(
        "patch",
        "configmap",
        "held",
        "-n",
        "lc-held",
        "-p",
        '{"metadata":{"finalizers":["example.com/hold"]}}',
    )
    kubectl("delete", "namespace", "lc-held", "--wait=false")
    listed = kubectl("get", "namespace", "lc-held").stdout.splitlines()
    assert listed[0].split() == ["NAME", "STATUS", "AGE"]
    assert listed[1].split()[:2] == ["lc-held", "Terminating"]
    refused = kubectl("create", "configmap", "late", "-n", "lc-held", check=False)
    assert refused.returncode == 1
    assert refused.stderr == (
        'error: failed to create configmap: configmaps "late" is forbidden: unable to create new '
        "content in namespace lc-held because it is being terminated\n"
    )
    deadline = time.monotonic() + 20
    conditions: dict[str, str] = {}
    while time.monotonic() < deadline and "NamespaceFinalizersRemaining" not in conditions:
        ns = json.loads(kubectl("get", "namespace", "lc-held", "-o", "json").stdout)
        conditions = {c["type"]: c["message"] for c in ns["status"].get("conditions") or []}
        time.sleep(0.2)
    assert conditions["NamespaceFinalizersRemaining"] == (
        "Some finalizers are remaining: example.com/hold in 1 resource instances"
    )
    held = kubectl("get", "configmap", "held", "-n", "lc-held", "-o", "json").stdout
    assert json.loads(held)["metadata"]["deletionTimestamp"]
    added = kubectl(
        "patch", "configmap", "held", "-n", "lc-held", "--type=json",
        "-p", '[{"op":"add","path":"/metadata/finalizers/-","value":"example.com/more"}]',
        check=False,
    )  # fmt: skip
    assert added.returncode == 1
    assert added.stderr == (
        'The ConfigMap "held" is invalid: metadata.finalizers: Forbidden: no new finalizers can be '
        'added if the object is being deleted, found new finalizers []string{"example.com/more"}\n'
    )
    kubectl(
        "patch",
        "configmap",
        "held",
        "-n",
        "lc-held",
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/metadata/finalizers"}]',
    )
    kubectl("wait", "--for=delete", "namespace/lc-held", "--timeout=30s", timeout=40)


def test_cascade_foreground_returns_once_the_pods_are_gone(shared_sandbox: SandboxProcess) -> None:
    shared_sandbox.kubectl("create", "namespace", "lc-fg")
    _deployment(shared_sandbox, "lc-fg", "web")
    deleted = shared_sandbox.kubectl(
        "delete", "deployment", "web", "-n", "lc-fg", "--cascade=foreground", timeout=90
    )
    assert deleted.stdout == 'deployment.apps "web" deleted\n'
    assert _names(shared_sandbox, "lc-fg", "pods") == []
    assert _names(shared_sandbox, "lc-fg", "replicasets") == []


def test_cascade_orphan_keeps_the_replicaset_and_its_pods(shared_sandbox: SandboxProcess) -> None:
    shared_sandbox.kubectl("create", "namespace", "lc-orphan")
    _deployment(shared_sandbox, "lc-orphan", "web", replicas=1)
    shared_sandbox.kubectl("delete", "deployment", "web", "-n", "lc-orphan", "--cascade=orphan")
    (replica_set,) = _names(shared_sandbox, "lc-orphan", "replicasets")
    owners = shared_sandbox.kubectl(
        "get", replica_set, "-n", "lc-orphan", "-o", "jsonpath={.metadata.ownerReferences}"
    )
    assert owners.stdout == ""
    pods = _names(shared_sandbox, "lc-orphan", "pods")
    assert len(pods) == 1
    # The same Deployment again adopts the orphan: no new ReplicaSet, the same pod.
    _deployment(shared_sandbox, "lc-orphan", "web", replicas=1)
    assert _names(shared_sandbox, "lc-orphan", "replicasets") == [replica_set]
    uid = shared_sandbox.kubectl(
        "get", "deployment", "web", "-n", "lc-orphan", "-o", "jsonpath={.metadata.uid}"
    ).stdout
    owner = shared_sandbox.kubectl(
        "get", replica_set, "-n", "lc-orphan", "-o", "jsonpath={.metadata.ownerReferences[0].uid}"
    )
    assert owner.stdout == uid
    assert _names(shared_sandbox, "lc-orphan", "pods") == pods
    shared_sandbox.kubectl("delete", "namespace", "lc-orphan", timeout=90)


def test_background_deletes_the_replicaset_after_the_deployment(
    shared_sandbox: SandboxProcess,
) -> None:
    shared_sandbox.kubectl("create", "namespace", "lc-bg")
    _deployment(shared_sandbox, "lc-bg", "web", replicas=1)
    shared_sandbox.kubectl("delete", "deployment", "web", "-n", "lc-bg")
    shared_sandbox.kubectl(
        "wait", "--for=delete", "replicasets", "--all", "-n", "lc-bg", "--timeout=30s"
    )
    deadline = time.monotonic() + 30
    while _names(shared_sandbox, "lc-bg", "pods") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _names(shared_sandbox, "lc-bg", "pods") == []
    shared_sandbox.kubectl("delete", "namespace", "lc-bg", timeout=90)


CLAIM = """apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: lc-pv}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
"""
# The script lists the volume, then writes to it: a new claim must show an empty listing.
USER = """apiVersion: v1
kind: Pod
metadata: {name: %(name)s, namespace: lc-pv}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: lab:1
    command: [python, -c, "import os, sys; print(sorted(os.listdir(sys.argv[1]))); open(sys.argv[1] + '/f', 'w').write('x')", /data]
    volumeMounts: [{name: d, mountPath: /data}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]
"""  # noqa: E501


def _run_user(sandbox: SandboxProcess, name: str) -> str:
    sandbox.kubectl("apply", "-f", "-", input=USER % {"name": name})
    sandbox.kubectl(
        "wait", "-n", "lc-pv", "--for=jsonpath={.status.phase}=Succeeded", f"pod/{name}",
        "--timeout=30s",
    )  # fmt: skip
    return sandbox.kubectl("logs", "-n", "lc-pv", name).stdout


def test_a_claim_gets_a_volume_that_goes_with_it(shared_sandbox: SandboxProcess) -> None:
    kubectl = shared_sandbox.kubectl
    kubectl("create", "namespace", "lc-pv")
    kubectl("apply", "-f", "-", input=CLAIM)
    kubectl("wait", "-n", "lc-pv", "--for=jsonpath={.status.phase}=Bound", "pvc/data")
    uid = kubectl("get", "pvc", "data", "-n", "lc-pv", "-o", "jsonpath={.metadata.uid}").stdout
    listed = kubectl("get", "pv", f"pvc-{uid}").stdout.splitlines()
    assert listed[0].split() == [
        "NAME", "CAPACITY", "ACCESS", "MODES", "RECLAIM", "POLICY", "STATUS", "CLAIM",
        "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON", "AGE",
    ]  # fmt: skip
    assert listed[1].split()[:8] == [
        f"pvc-{uid}",
        "1Gi",
        "RWO",
        "Delete",
        "Bound",
        "lc-pv/data",
        "standard",
        "<unset>",
    ]
    assert _run_user(shared_sandbox, "first") == "[]\n"

    kubectl("delete", "pvc", "data", "-n", "lc-pv", "--wait=false")
    claims = kubectl("get", "pvc", "-n", "lc-pv").stdout.splitlines()
    assert claims[1].split()[:2] == ["data", "Terminating"]  # the finished pod still names it
    kubectl("delete", "pod", "first", "-n", "lc-pv")
    kubectl("wait", "--for=delete", "-n", "lc-pv", "pvc/data", "--timeout=30s")
    kubectl("wait", "--for=delete", f"pv/pvc-{uid}", "--timeout=30s")

    kubectl("apply", "-f", "-", input=CLAIM)
    kubectl("wait", "-n", "lc-pv", "--for=jsonpath={.status.phase}=Bound", "pvc/data")
    assert _run_user(shared_sandbox, "second") == "[]\n"
    kubectl("delete", "namespace", "lc-pv", timeout=90)


def test_a_namespace_left_terminating_finishes_after_a_restart(sandbox: SandboxProcess) -> None:
    kubectl = sandbox.kubectl
    kubectl("create", "namespace", "lc-restart")
    kubectl("create", "configmap", "held", "-n", "lc-restart")
    hold = '{"metadata":{"finalizers":["example.com/hold"]}}'
    kubectl("patch", "configmap", "held", "-n", "lc-restart", "-p", hold)
    kubectl("delete", "namespace", "lc-restart", "--wait=false")
    sandbox.restart()
    phase = kubectl("get", "namespace", "lc-restart", "-o", "jsonpath={.status.phase}").stdout
    assert phase == "Terminating"
    release = '[{"op":"remove","path":"/metadata/finalizers"}]'
    kubectl("patch", "configmap", "held", "-n", "lc-restart", "--type=json", "-p", release)
    kubectl("wait", "--for=delete", "namespace/lc-restart", "--timeout=30s", timeout=40)


def test_the_finalize_subresource_lets_a_stuck_namespace_go(
    shared_sandbox: SandboxProcess,
) -> None:
    kubectl = shared_sandbox.kubectl
    kubectl("create", "namespace", "lc-stuck")
    hold = '{"metadata":{"finalizers":["example.com/hold"]}}'
    kubectl("create", "configmap", "held", "-n", "lc-stuck")
    kubectl("patch", "configmap", "held", "-n", "lc-stuck", "-p", hold)
    kubectl("delete", "namespace", "lc-stuck", "--wait=false")
    ns = json.loads(kubectl("get", "namespace", "lc-stuck", "-o", "json").stdout)
    assert ns["spec"] == {"finalizers": ["kubernetes"]}
    ns["spec"]["finalizers"] = []
    # The well-known way out: PUT the namespace without its finalizer to .../finalize.
    kubectl(
        "replace", "--raw", "/api/v1/namespaces/lc-stuck/finalize", "-f", "-",
        input=json.dumps(ns),
    )  # fmt: skip
    missing = kubectl("get", "namespace", "lc-stuck", check=False)
    assert missing.stderr == 'Error from server (NotFound): namespaces "lc-stuck" not found\n'
    # What it leaves behind, as on a real cluster: the held object stays in etcd.
    left = kubectl("get", "configmap", "held", "-n", "lc-stuck", "-o", "name").stdout
    assert left == "configmap/held\n"
    release = '[{"op":"remove","path":"/metadata/finalizers"}]'
    kubectl("patch", "configmap", "held", "-n", "lc-stuck", "--type=json", "-p", release)
    kubectl("delete", "configmap", "held", "-n", "lc-stuck")
