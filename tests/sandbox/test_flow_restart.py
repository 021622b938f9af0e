"""A sandbox that stops and starts again picks its pods up like a rebooted node."""

from __future__ import annotations

import json

import psutil
import pytest
import yaml

from sandbox.testing import SandboxProcess

pytestmark = pytest.mark.slow

SERVE = (
    "import http.server, os; print('serving', flush=True); "
    "http.server.HTTPServer((os.environ['HOST'], int(os.environ['PORT'])), "
    "http.server.SimpleHTTPRequestHandler).serve_forever()"
)
MANIFESTS = [
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "web:1",
                            "command": ["python", "-c", SERVE],
                            "ports": [{"name": "http", "containerPort": 8000}],
                            "readinessProbe": {
                                "httpGet": {"path": "/", "port": "http"},
                                "periodSeconds": 1,
                            },
                        }
                    ]
                },
            },
        },
    },
    {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "once", "namespace": "default"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "once",
                            "image": "web:1",
                            "command": ["python", "-c", "print(1)"],
                        }
                    ],
                }
            }
        },
    },
]


def _web_pod(sandbox: SandboxProcess) -> dict:
    pods = sandbox.kubectl("-n", "default", "get", "pods", "-l", "app=web", "-o", "json").stdout
    (pod,) = json.loads(pods)["items"]
    return pod


def test_restarted_sandbox_resumes_pods(sandbox: SandboxProcess) -> None:
    sandbox.load_image("web:1")
    sandbox.kubectl("-n", "default", "apply", "-f", "-", input=yaml.safe_dump_all(MANIFESTS))
    sandbox.kubectl("-n", "default", "rollout", "status", "deploy/web", "--timeout=60s", timeout=70)
    sandbox.kubectl(
        "-n", "default", "wait", "--for=condition=complete", "job/once", "--timeout=60s", timeout=70
    )
    before = _web_pod(sandbox)
    pid = int(before["status"]["containerStatuses"][0]["containerID"].removeprefix("sandbox://"))

    sandbox.restart()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    sandbox.kubectl(
        "-n",
        "default",
        "wait",
        "--for=condition=Ready",
        "pod/" + before["metadata"]["name"],
        "--timeout=60s",
        timeout=70,
    )
    status = _web_pod(sandbox)["status"]["containerStatuses"][0]
    assert status["restartCount"] == 1
    assert status["lastState"]["terminated"]["reason"] == "Unknown"
    previous = sandbox.kubectl(
        "-n", "default", "logs", before["metadata"]["name"], "--previous"
    ).stdout
    assert "serving" in previous
    job_pods = sandbox.kubectl(
        "-n", "default", "get", "pods", "-l", "job-name=once", "-o", "json"
    ).stdout
    assert [p["status"]["phase"] for p in json.loads(job_pods)["items"]] == ["Succeeded"]
