"""Broken objects for the README's troubleshooting table, shared by the kubectl and TUI tests.

Each function returns the manifest (YAML) of one symptom in ``namespace``; ``untrained_kit``
renders an overlay whose training data is missing, so the Job fails and no model is published.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from sandbox.kubelet.images import pinned_images

REPO = Path(__file__).resolve().parents[2]
DEV = next(image for image in pinned_images() if image.endswith("-dev"))
MISSING_IMAGE = "iris-ml:9.9.9"
BAD_TRAIN_DATA = "/data/input/no-such.csv"


def untrained_kit(overlay: str = "overlays/minikube") -> str:
    """``overlay`` rendered with TRAIN_DATA naming a file that is not there."""
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(REPO / overlay)], capture_output=True, text=True, check=True
    ).stdout
    docs = [doc for doc in yaml.safe_load_all(rendered) if doc]
    for doc in docs:
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("iris-api-config"):
            doc["data"]["TRAIN_DATA"] = BAD_TRAIN_DATA
    return yaml.safe_dump_all(docs)


def _pod(namespace: str, name: str, image: str, command: list[str], **container: object) -> str:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "containers": [{"name": name, "image": image, "command": command, **container}],
        },
    }
    return yaml.safe_dump(pod)


def wrong_image(namespace: str) -> str:
    """A pod whose image the node does not have and no registry serves."""
    return _pod(namespace, "wrong-image", MISSING_IMAGE, ["sleep", "600"])


def crash_loop(namespace: str) -> str:
    """The API server with a setting it refuses: it exits at start, every time."""
    return _pod(
        namespace, "crash", DEV, ["iris-serve"], env=[{"name": "LOG_LEVEL", "value": "loud"}]
    )


def needs_secret(namespace: str) -> str:
    """A pod taking its environment from the Secret `make secret` creates."""
    return _pod(
        namespace,
        "needs-secret",
        DEV,
        ["sleep", "600"],
        envFrom=[{"secretRef": {"name": "iris-api-secret"}}],
    )


def needs_key(namespace: str) -> str:
    """A pod taking one variable from a key of that Secret."""
    ref = {"secretKeyRef": {"name": "iris-api-secret", "key": "API_KEY"}}
    return _pod(
        namespace, "needs-key", DEV, ["sleep", "600"], env=[{"name": "API_KEY", "valueFrom": ref}]
    )


def claim(namespace: str, name: str, mode: str = "ReadWriteOnce") -> str:
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"accessModes": [mode], "resources": {"requests": {"storage": "1Gi"}}},
    }
    return yaml.safe_dump(pvc)


def claim_user(namespace: str, name: str, claim_name: str) -> str:
    """A pod mounting ``claim_name`` read-write."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": DEV,
                    "command": ["sleep", "600"],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}],
        },
    }
    return yaml.safe_dump(pod)


def load_balancer(namespace: str) -> str:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web-lb", "namespace": namespace},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "web"},
            "ports": [{"port": 80, "targetPort": 8000}],
        },
    }
    return yaml.safe_dump(service)


def autoscaled(namespace: str) -> str:
    """A Deployment and an HPA on CPU, as components/autoscale has them."""
    labels = {"app": "web"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": DEV,
                            "command": ["sleep", "600"],
                            "resources": {"requests": {"cpu": "50m"}},
                        }
                    ]
                },
            },
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 3,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50},
                    },
                }
            ],
        },
    }
    return yaml.safe_dump_all([deployment, hpa])
