"""A cluster session fed with fixed objects, for pilot and snapshot tests without a cluster.

The app takes its session by constructor injection; ``FakeSession`` answers every call the
screens make from fixed data, and lets a test push watch events itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes.client import ApiClient

from tui.cluster.connection import ClusterError, Connection
from tui.cluster.logs import LogEnd, LogLine
from tui.cluster.predict import IRIS_FORM, ModelForm, Prediction, Value, read_csv_rows
from tui.cluster.watch import KINDS, ConnectionState, WatchEvent
from tui.session import Asked, ClusterSession, Options, Rendered

NOW = datetime(2026, 11, 29, 6, 0, 0, tzinfo=UTC)
MODEL_VERSION = "20261129T051200Z-3f9a"
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def frozen_clock() -> datetime:
    return NOW


def meta(name: str, created: str, *, owner: tuple[str, str, str] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "namespace": "ml-course",
        "uid": f"uid-{name}",
        "creationTimestamp": created,
        "labels": {},
    }
    if owner is not None:
        kind, owner_name, uid = owner
        data["ownerReferences"] = [{"kind": kind, "name": owner_name, "uid": uid}]
        if kind == "ReplicaSet":
            data["labels"] = {"app": "iris-api"}
    return data


def pod(
    name: str,
    created: str,
    state: str,
    *,
    owner: tuple[str, str, str] | None = None,
    restarts: int = 0,
) -> dict[str, Any]:
    ready = state == "running"
    if state == "running":
        container_state: dict[str, Any] = {"running": {"startedAt": created}}
        phase = "Running"
    elif state == "completed":
        container_state = {"terminated": {"reason": "Completed", "exitCode": 0}}
        phase = "Succeeded"
    else:
        container_state = {"waiting": {"reason": "CrashLoopBackOff"}}
        phase = "Running"
    return {
        "kind": "Pod",
        "metadata": meta(name, created, owner=owner),
        "spec": {"containers": [{"name": "main"}], "nodeName": "sandbox"},
        "status": {
            "phase": phase,
            "containerStatuses": [
                {"name": "main", "ready": ready, "restartCount": restarts, "state": container_state}
            ],
        },
    }


def objects() -> dict[str, list[dict[str, Any]]]:
    """The minikube overlay, trained, with one batch run and one crashing pod."""
    cron_uid = "uid-iris-batch-predict"
    return {
        "deployments": [
            {
                "kind": "Deployment",
                "metadata": meta("iris-api", "2026-11-29T05:10:00Z"),
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "iris-api"}}},
                "status": {"readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1},
            }
        ],
        "pods": [
            pod(
                "iris-api-7d9f8-abcde",
                "2026-11-29T05:12:00Z",
                "running",
                owner=("ReplicaSet", "iris-api-7d9f8", "uid-rs"),
            ),
            pod(
                "iris-api-7d9f8-fghij",
                "2026-11-29T05:12:05Z",
                "crash",
                restarts=4,
                owner=("ReplicaSet", "iris-api-7d9f8", "uid-rs"),
            ),
            pod(
                "iris-train-job-xk2p9",
                "2026-11-29T05:10:00Z",
                "completed",
                owner=("Job", "iris-train-job", "uid-iris-train-job"),
            ),
            pod(
                "iris-batch-predict-29100-q8z7w",
                "2026-11-29T05:40:00Z",
                "completed",
                owner=("Job", "iris-batch-predict-29100", "uid-iris-batch-predict-29100"),
            ),
        ],
        "jobs": [
            {
                "kind": "Job",
                "metadata": meta("iris-train-job", "2026-11-29T05:10:00Z"),
                "spec": {"completions": 1},
                "status": {
                    "succeeded": 1,
                    "startTime": "2026-11-29T05:10:00Z",
                    "completionTime": "2026-11-29T05:11:10Z",
                    "conditions": [{"type": "Complete", "status": "True"}],
                },
            },
            {
                "kind": "Job",
                "metadata": meta(
                    "iris-batch-predict-29100",
                    "2026-11-29T05:40:00Z",
                    owner=("CronJob", "iris-batch-predict", cron_uid),
                ),
                "spec": {"completions": 1},
                "status": {
                    "succeeded": 1,
                    "startTime": "2026-11-29T05:40:00Z",
                    "completionTime": "2026-11-29T05:40:20Z",
                    "conditions": [{"type": "Complete", "status": "True"}],
                },
            },
        ],
        "cronjobs": [
            {
                "kind": "CronJob",
                "metadata": meta("iris-batch-predict", "2026-11-29T05:10:00Z"),
                "spec": {"schedule": "*/20 * * * *", "suspend": False},
                "status": {"lastScheduleTime": "2026-11-29T05:40:00Z"},
            }
        ],
        "services": [
            {
                "kind": "Service",
                "metadata": meta("iris-api-svc", "2026-11-29T05:10:00Z"),
                "spec": {
                    "type": "NodePort",
                    "selector": {"app": "iris-api"},
                    "clusterIP": "10.96.0.12",
                    "ports": [{"name": "http", "port": 80, "nodePort": 30080, "protocol": "TCP"}],
                },
            }
        ],
        "persistentvolumeclaims": [
            {
                "kind": "PersistentVolumeClaim",
                "metadata": meta("ml-model-pvc", "2026-11-29T05:10:00Z"),
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "standard",
                    "volumeName": "pvc-1234",
                },
                "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}},
            }
        ],
        "horizontalpodautoscalers": [],
        "events": [
            {
                "kind": "Event",
                "metadata": meta("iris-api-7d9f8-fghij.1", "2026-11-29T05:55:00Z"),
                "type": "Warning",
                "reason": "BackOff",
                "count": 7,
                "lastTimestamp": "2026-11-29T05:58:00Z",
                "involvedObject": {"kind": "Pod", "name": "iris-api-7d9f8-fghij"},
                "message": "Back-off restarting failed container main",
            }
        ],
    }


@dataclass
class Result:
    kubectl: str
    message: str
    name: str | None = None
    output: str = ""


class FakeRun:
    """A kubectl run that prints fixed lines and ends with ``returncode``."""

    def __init__(self, command: str, lines: list[str], returncode: int) -> None:
        self.command = command
        self.lines = lines
        self.returncode: int | None = None
        self._final = returncode

    def __iter__(self) -> Iterator[str]:
        yield f"$ {self.command}"
        yield from self.lines
        self.returncode = self._final


class FakeStream:
    def __init__(self, kubectl: str, items: list[Any]) -> None:
        self.kubectl = kubectl
        self.items = items
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)


@dataclass
class FakeSession(ClusterSession):
    """Answers from fixed data; ``fail_with`` makes connect fail with that message."""

    fail_with: str | None = None
    data: dict[str, list[dict[str, Any]]] = field(default_factory=objects)
    actions: list[str] = field(default_factory=list)
    # The version GET /model answers now, and the one the API loads after the next training
    # (a while later, as the real API reloads on an interval).
    served: str = MODEL_VERSION
    loads: str | None = None
    # Log items of every stream instead of the usual ones; the diff's output and status.
    log_items: list[Any] | None = None
    diff_output: tuple[list[str], int] | None = None

    def __post_init__(self) -> None:
        super().__init__(Options(context="sandbox"))
        self.on_event: Callable[[WatchEvent], None] | None = None
        self.on_state: Callable[[str, ConnectionState, str], None] | None = None

    def connect(self) -> str:
        if self.fail_with:
            self.conn = None
            raise ClusterError(self.fail_with)
        base = ["kubectl", "--context", "sandbox", "-n", "ml-course"]
        self.conn = Connection("sandbox", "ml-course", "http://fake", ApiClient(), base)
        return "v1.32.0"

    def kubectl_available(self) -> bool:
        return True

    def kubectl(self, *args: str) -> str:
        return " ".join(["kubectl", "--context", "sandbox", "-n", "ml-course", *args])

    def watch(
        self,
        on_event: Callable[[WatchEvent], None],
        on_state: Callable[[str, ConnectionState, str], None],
    ) -> Any:
        self.on_event, self.on_state = on_event, on_state
        for kind in KINDS:
            on_state(kind, ConnectionState.CONNECTED, "")
            on_event(WatchEvent(kind, "RESYNC", items=self.data.get(kind, [])))
        return self

    def stop(self) -> None:
        self.on_event = None

    def model_version(self) -> str | None:
        return self.served

    def describe_yaml(self, kind: str, name: str) -> Result:
        text = f"apiVersion: v1\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: ml-course\n"
        return Result(self.kubectl("get", kind, name, "-o", "yaml"), "", output=text)

    def _act(self, what: str, command: str, name: str | None = None) -> Result:
        self.actions.append(what)
        return Result(self.kubectl(*command.split()), f"{what}: done", name)

    def retrain(self) -> Result:
        command = "create job iris-train-manual --from=job/iris-train-job"
        return self._act("retrain", command, "iris-train-manual")

    def run_batch_now(self) -> Result:
        return self._act("batch", "create job --from=cronjob/iris-batch-predict manual", "manual")

    def set_suspended(self, name: str, suspended: bool) -> Result:
        return self._act(f"suspend {name} {suspended}", f"patch cronjob {name}")

    def rollout_restart(self, name: str) -> Result:
        return self._act(f"restart {name}", f"rollout restart deployment/{name}")

    def scale(self, name: str, replicas: int) -> Result:
        return self._act(
            f"scale {name} {replicas}", f"scale deployment/{name} --replicas={replicas}"
        )

    def delete(self, kind: str, name: str) -> Result:
        return self._act(f"delete {kind} {name}", f"delete {kind} {name}")

    def wait_for_job(self, name: str, timeout: float = 0) -> str:
        return "Complete"

    def wait_for_model_version(self, old: str, timeout: float = 0) -> str:
        if self.loads is not None:
            self.served, self.loads = self.loads, None
        return self.served

    def pod_containers(self, pod: str) -> list[str]:
        return ["main"]

    def pods_of_job(self, job: str) -> list[str]:
        return [f"{job}-xk2p9"]

    def stream_logs(self, pod: str, **options: Any) -> Any:
        if self.log_items is not None:
            return FakeStream(self.kubectl("logs", pod, "-f"), list(self.log_items))
        if options.get("previous"):
            lines = [LogLine("Traceback (most recent call last):"), LogLine("ValueError: boom")]
            return FakeStream(self.kubectl("logs", pod, "--previous"), lines)
        lines: list[Any] = [
            LogLine(f'{{"level": "info", "msg": "request {i}"}}') for i in range(30)
        ]
        lines += [
            LogLine('{"level": "error", "msg": "model reload failed"}'),
            LogEnd("pod deleted"),
        ]
        return FakeStream(self.kubectl("logs", pod, "-f", "--tail=200"), lines)

    def overlays(self) -> list[Path]:
        return [
            Path("overlays") / name
            for name in ("autoscale", "cloud-loadbalancer", "gpu", "minikube")
        ]

    def model_form(self) -> ModelForm | None:
        return replace(IRIS_FORM, version=self.served)

    def predict(self, features: dict[str, Value], target: str) -> Asked:
        setosa = float(features["petal_length"] or 0) < 2.5
        probabilities = (
            {"setosa": 0.97, "versicolor": 0.02, "virginica": 0.01}
            if setosa
            else {"setosa": 0.01, "versicolor": 0.29, "virginica": 0.70}
        )
        best = max(probabilities, key=probabilities.__getitem__)
        index = list(probabilities).index(best)
        prediction = Prediction(index, best, probabilities, MODEL_VERSION, 12.5)
        return Asked([prediction], "curl -s -X POST http://iris/predict", "fake route")

    def predict_csv(self, path: Path, form: ModelForm) -> Asked:
        predictions = [
            self.predict(row, form.target).predictions[0] for row in read_csv_rows(path, form)
        ]
        return Asked(predictions, "curl -s -X POST http://iris/predict/batch", "fake route")

    def render(self, overlay: Path) -> Rendered:
        documents = [
            (
                "PersistentVolumeClaim/ml-model-pvc",
                "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: ml-model-pvc\n"
                "spec:\n  accessModes: [ReadWriteOnce]\n  resources:\n"
                "    requests:\n      storage: 1Gi\n",
            ),
            (
                "Service/iris-api-svc",
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: iris-api-svc\nspec:\n"
                "  type: NodePort\n  ports:\n  - name: http\n    port: 80\n"
                "    targetPort: http\n",
            ),
        ]
        text = "---\n".join(doc for _, doc in documents)
        return Rendered(text, documents, f"kubectl kustomize {overlay}")

    def diff(self, overlay: Path) -> FakeRun:
        if self.diff_output is not None:
            output, code = self.diff_output
            return FakeRun(self.kubectl("diff", "-k", str(overlay)), output, code)
        lines = [
            "--- live/Deployment/iris-api",
            "+++ merged/Deployment/iris-api",
            "-  replicas: 1",
            "+  replicas: 2",
        ]
        return FakeRun(self.kubectl("diff", "-k", str(overlay)), lines, 1)

    def apply_command(self, overlay: Path) -> str:
        return self.kubectl("apply", "--server-side", "-k", str(overlay))

    def delete_command(self, overlay: Path) -> str:
        return self.kubectl("delete", "-k", str(overlay))

    def apply(self, overlay: Path) -> FakeRun:
        self.actions.append(f"apply {overlay.name}")
        lines = ["deployment.apps/iris-api serverside-applied", "job.batch/iris-train-job created"]
        return FakeRun(self.apply_command(overlay), lines, 0)

    def delete_overlay(self, overlay: Path) -> FakeRun:
        self.actions.append(f"delete {overlay.name}")
        return FakeRun(self.delete_command(overlay), ["error: the server is gone"], 1)
