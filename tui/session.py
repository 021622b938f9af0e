"""The session the app drives: one cluster connection and everything the screens ask of it.

Screens never import the cluster layer themselves; they call a ``ClusterSession`` from thread
workers. Tests and snapshots substitute a subclass fed with fixed objects (constructor
injection into the app), so the screens can be shown without a cluster.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tui.cluster import actions, connection, kustomize, logs, predict
from tui.cluster.predict import ModelForm, Value
from tui.cluster.watch import ConnectionState, NamespaceWatch, WatchEvent

PACKAGE_PARENT = Path(__file__).resolve().parent.parent


def default_repo_root() -> Path:
    """Where overlays/ is: the current folder when run from a checkout, else the package's."""
    here = Path.cwd()
    return here if (here / "overlays").is_dir() else PACKAGE_PARENT


@dataclass(frozen=True)
class Options:
    """What the user chose on the command line."""

    context: str | None = None
    namespace: str = "ml-course"
    overlay: str = "minikube"
    api_url: str | None = None
    kubeconfig: str | None = None
    repo_root: Path = field(default_factory=default_repo_root)


@dataclass(frozen=True)
class Rendered:
    """An overlay rendered by kustomize: all of it, each document, and the command."""

    text: str
    documents: list[tuple[str, str]]
    kubectl: str


@dataclass(frozen=True)
class Asked:
    """Predictions with the command that asks the same and the route the request took."""

    predictions: list[predict.Prediction]
    command: str
    route: str


class Stoppable(Protocol):
    def stop(self) -> None: ...


class ClusterSession:
    """The real cluster, through ``tui.cluster``. Every method may block: call from threads."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.conn: connection.Connection | None = None
        self._predict_client: predict.PredictClient | None = None

    # -- connection ---------------------------------------------------------------------------

    @property
    def context(self) -> str:
        if self.conn is not None:
            return self.conn.context
        return self.options.context or "(current)"

    @property
    def namespace(self) -> str:
        return self.options.namespace

    def connect(self) -> str:
        """Load the kubeconfig and reach the server; its version. Raises ClusterError."""
        self.conn = connection.connect(
            self.options.context, self.options.namespace, self.options.kubeconfig
        )
        if self._predict_client is not None:
            self._predict_client.close()
            self._predict_client = None
        return connection.check_reachable(self.conn)

    def kubectl_available(self) -> bool:
        return connection.kubectl_available()

    def kubectl(self, *args: str) -> str:
        """The command line a user would type for ``args`` against this context."""
        base = (
            self.conn.kubectl_base
            if self.conn is not None
            else ["kubectl", "-n", self.options.namespace]
        )
        return shlex.join([*base, *args])

    def watch(
        self,
        on_event: Callable[[WatchEvent], None],
        on_state: Callable[[str, ConnectionState, str], None],
    ) -> Stoppable:
        watch = NamespaceWatch(self._conn(), on_event, on_state)
        watch.start()
        return watch

    def _conn(self) -> connection.Connection:
        if self.conn is None:
            raise connection.ClusterError("not connected to a cluster yet")
        return self.conn

    # -- logs -------------------------------------------------------------------------------

    def stream_logs(self, pod: str, **options: Any) -> logs.LogStream:
        return logs.stream_logs(self._conn(), pod, **options)

    def pod_containers(self, pod: str) -> list[str]:
        return logs.pod_containers(self._conn(), pod)

    def pods_of_job(self, job: str) -> list[str]:
        """The Job's pods, newest first."""
        return logs.job_pods(self._conn(), job)

    # -- kustomize ----------------------------------------------------------------------------

    def overlays(self) -> list[Path]:
        given = Path(self.options.overlay).expanduser()
        extra = [given] if kustomize.is_overlay(given) else []
        return kustomize.list_overlays(self.options.repo_root, extra)

    def render(self, overlay: Path) -> Rendered:
        text = kustomize.render(overlay)
        command = shlex.join(kustomize.render_command(overlay))
        return Rendered(text, kustomize.split_documents(text), command)

    def diff(self, overlay: Path) -> kustomize.CommandRun:
        return kustomize.diff(self._conn(), overlay)

    def apply(self, overlay: Path) -> kustomize.CommandRun:
        return kustomize.apply(self._conn(), overlay)

    def delete_overlay(self, overlay: Path) -> kustomize.CommandRun:
        return kustomize.delete(self._conn(), overlay)

    def apply_command(self, overlay: Path) -> str:
        return kustomize.apply(self._conn(), overlay).command

    def delete_command(self, overlay: Path) -> str:
        return kustomize.delete(self._conn(), overlay).command

    # -- actions ------------------------------------------------------------------------------

    def retrain(self) -> actions.ActionResult:
        return actions.retrain(self._conn())

    def run_batch_now(self) -> actions.ActionResult:
        return actions.run_batch_now(self._conn())

    def set_suspended(self, cronjob: str, suspended: bool) -> actions.ActionResult:
        return actions.set_suspended(self._conn(), cronjob, suspended)

    def rollout_restart(self, deployment: str) -> actions.ActionResult:
        return actions.rollout_restart(self._conn(), deployment)

    def scale(self, deployment: str, replicas: int) -> actions.ActionResult:
        return actions.scale(self._conn(), deployment, replicas)

    def delete(self, kind: str, name: str) -> actions.ActionResult:
        return actions.delete(self._conn(), kind, name)

    def describe_yaml(self, kind: str, name: str) -> actions.ActionResult:
        return actions.describe_yaml(self._conn(), kind, name)

    def wait_for_job(self, name: str, timeout: float = 600) -> str:
        """The Job's outcome once it finishes: "Complete" or "Failed"."""
        return actions.wait_for_job(self._conn(), name, timeout=timeout)

    # -- the prediction API -------------------------------------------------------------------

    def predict_client(self) -> predict.PredictClient:
        if self._predict_client is None:
            self._predict_client = predict.PredictClient.for_cluster(
                self._conn(), self.options.api_url
            )
        return self._predict_client

    def model_version(self) -> str | None:
        """The version the API serves now; None when it cannot say (no model, unreachable)."""
        try:
            info = self.predict_client().model_info()
        except (predict.PredictError, connection.ClusterError):
            return None
        return str(info["version"]) if info and info.get("version") else None

    def wait_for_model_version(self, old: str, timeout: float = 120) -> str:
        """The served model's version once it differs from ``old`` (the API reloads it)."""
        return self.predict_client().wait_for_new_version(old or None, timeout=timeout)

    def model_form(self) -> ModelForm | None:
        """The served model's form (GET /model); None while no model is loaded."""
        return self.predict_client().model_form()

    def predict(self, features: dict[str, Value], target: str) -> Asked:
        client = self.predict_client()
        command = client.command("/predict", features)
        return Asked([client.predict(features, target)], command, client.route)

    def predict_csv(self, path: Path, form: ModelForm) -> Asked:
        client = self.predict_client()
        rows = predict.read_csv_rows(path, form)
        command = client.command("/predict/batch", {"instances": rows[:3]})
        if len(rows) > 3:
            command += f"    # the first 3 of {len(rows)} rows"
        return Asked(client.predict_rows(rows), command, client.route)
