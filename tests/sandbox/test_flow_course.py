"""The crash course's flow on the sandbox, with the real kubectl and the real services.

Apply overlays/minikube, let the training Job publish a model to the claim's directory, wait for
the API, predict through the service proxy, run the batch CronJob by hand, restart and scale the
API, kill an API process, and finally delete the namespace: no process may be left.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import httpx
import psutil
import pytest

from sandbox.testing import SandboxProcess
from tests.polling import eventually

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
NS = "ml-course"
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def _json(sandbox: SandboxProcess, *args: str) -> dict:
    return json.loads(sandbox.kubectl("-n", NS, "get", *args, "-o", "json").stdout)


def _api_pods(sandbox: SandboxProcess) -> list[dict]:
    """The API's pods that are not Terminating (old ones linger out their grace period)."""
    selector = "app.kubernetes.io/component=api"
    items = _json(sandbox, "pods", "-l", selector)["items"]
    return [pod for pod in items if not pod["metadata"].get("deletionTimestamp")]


def _pids(pods: list[dict]) -> list[int]:
    return [
        int(status["containerID"].removeprefix("sandbox://"))
        for pod in pods
        for status in pod["status"].get("containerStatuses") or []
        if "running" in status["state"]
    ]


def test_course_flow(sandbox: SandboxProcess) -> None:
    sandbox.kubectl("apply", "--server-side", "-k", str(REPO_ROOT / "overlays/minikube"))
    sandbox.kubectl(
        "-n",
        NS,
        "wait",
        "--for=condition=complete",
        "job/iris-train-job",
        "--timeout=120s",
        timeout=130,
    )
    claim = sandbox.claim_dir(NS, "ml-model-pvc")
    version = (claim / "current").read_text().strip()
    assert (claim / "versions" / version / "model.joblib").is_file()
    logs = sandbox.kubectl("-n", NS, "logs", "-f", "job/iris-train-job", timeout=30).stdout
    assert "published model" in logs

    sandbox.kubectl("-n", NS, "rollout", "status", "deploy/iris-api", "--timeout=120s", timeout=130)
    proxy = f"{sandbox.url}/api/v1/namespaces/{NS}/services/iris-api-svc:http/proxy/predict"
    answer = httpx.post(proxy, json=SETOSA, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["species_name"] == "setosa"

    # the batch CronJob, run by hand the way `kubectl create job --from=cronjob/...` does it
    inbox = claim / "batch" / "input"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "flowers.csv").write_text(
        "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"
    )
    cronjob = _json(sandbox, "cronjob/iris-batch-predict")
    manual = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "iris-batch-by-hand",
            "namespace": NS,
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": "iris-batch-predict",
                    "uid": cronjob["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": cronjob["spec"]["jobTemplate"]["spec"],
    }
    sandbox.kubectl("create", "-f", "-", input=json.dumps(manual))
    sandbox.kubectl(
        "-n",
        NS,
        "wait",
        "--for=condition=complete",
        "job/iris-batch-by-hand",
        "--timeout=90s",
        timeout=100,
    )
    scored = (claim / "batch" / "output" / "flowers.csv.predictions.csv").read_text()
    assert "setosa" in scored and "virginica" in scored

    before = {pod["metadata"]["name"] for pod in _api_pods(sandbox)}
    sandbox.kubectl("-n", NS, "rollout", "restart", "deploy/iris-api")
    sandbox.kubectl("-n", NS, "rollout", "status", "deploy/iris-api", "--timeout=120s", timeout=130)
    after = {pod["metadata"]["name"] for pod in _api_pods(sandbox)}
    assert len(after) == 2 and not before & after

    sandbox.kubectl("-n", NS, "scale", "deploy/iris-api", "--replicas=3")
    sandbox.kubectl("-n", NS, "rollout", "status", "deploy/iris-api", "--timeout=120s", timeout=130)
    assert _json(sandbox, "deploy/iris-api")["status"]["readyReplicas"] == 3

    # a killed API process is restarted in place and the pod becomes ready again
    victim = _api_pods(sandbox)[0]
    os.kill(_pids([victim])[0], signal.SIGKILL)

    def restarted_and_ready() -> bool:
        pod = _json(sandbox, "pod", victim["metadata"]["name"])
        status = pod["status"]["containerStatuses"][0]
        return status["restartCount"] >= 1 and status["ready"]

    eventually(restarted_and_ready, "the killed API container to be back", timeout=90)

    processes = [psutil.Process(pid) for pid in _pids(_api_pods(sandbox))]
    assert len(processes) == 3
    sandbox.kubectl("delete", "namespace", NS, "--timeout=60s", timeout=70)
    _, alive = psutil.wait_procs(processes, timeout=15)
    assert not alive
