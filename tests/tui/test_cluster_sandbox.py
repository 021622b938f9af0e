"""The cluster layer against the sandbox: watches, log streams and actions on live objects."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client

from sandbox.testing import SandboxProcess
from tui.cluster import actions
from tui.cluster.connection import Connection, call_json, check_reachable, connect
from tui.cluster.logs import (
    LogEnd,
    LogItem,
    LogLine,
    LogNotice,
    LogStream,
    job_pods,
    pod_containers,
)
from tui.cluster.predict import PredictClient
from tui.cluster.watch import KINDS, ConnectionState, NamespaceWatch, ResourceWatcher, WatchEvent

pytestmark = pytest.mark.slow
NAMESPACE = "ml-course"


def wait_until(predicate: Callable[[], Any], timeout: float = 20, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def pod_manifest(name: str, script: str, restart: str = "Always") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": restart,
            "containers": [{"name": "main", "image": "busybox:1", "command": ["sh", "-c", script]}],
        },
    }


class RequestLog:
    """Counts the requests a connection makes, split into lists and watches."""

    def __init__(self, conn: Connection) -> None:
        self.urls: list[str] = []
        rest = conn.api_client.rest_client
        original = rest.request

        def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if method == "GET":
                self.urls.append(url)
            return original(method, url, *args, **kwargs)

        rest.request = request

    def lists(self, path: str) -> int:
        return sum(1 for u in self.urls if u.split("?")[0].endswith(path) and "watch=" not in u)

    def watches(self, path: str) -> int:
        return sum(1 for u in self.urls if u.split("?")[0].endswith(path) and "watch=true" in u)


class Recorder:
    def __init__(self) -> None:
        self.events: list[WatchEvent] = []
        self.states: list[tuple[ConnectionState, str]] = []
        self.lock = threading.Lock()

    def on_event(self, event: WatchEvent) -> None:
        with self.lock:
            self.events.append(event)

    def on_state(self, kind: str, state: ConnectionState, message: str) -> None:
        with self.lock:
            self.states.append((state, message))

    def named(self, kind: str, name: str) -> list[WatchEvent]:
        with self.lock:
            return [
                e
                for e in self.events
                if e.type == kind and e.obj and e.obj["metadata"]["name"] == name
            ]

    def resyncs(self) -> list[WatchEvent]:
        with self.lock:
            return [e for e in self.events if e.type == "RESYNC"]


@pytest.fixture
def conn(sandbox: SandboxProcess) -> Connection:
    sandbox.load_image("busybox:1")
    connection = connect(None, NAMESPACE, str(sandbox.kubeconfig))
    call_json(
        client.CoreV1Api(connection.api_client).create_namespace, {"metadata": {"name": NAMESPACE}}
    )
    return connection


@pytest.fixture
def watcher_factory(conn: Connection) -> Iterator[Callable[..., ResourceWatcher]]:
    started: list[ResourceWatcher] = []

    def make(kind: str, recorder: Recorder, **options: Any) -> ResourceWatcher:
        watcher = ResourceWatcher(conn, kind, recorder.on_event, recorder.on_state, **options)
        started.append(watcher)
        return watcher

    yield make
    for watcher in started:
        watcher.stop()
        assert not watcher.running


def create_pod(conn: Connection, manifest: dict[str, Any]) -> dict[str, Any]:
    return call_json(client.CoreV1Api(conn.api_client).create_namespaced_pod, NAMESPACE, manifest)


def test_check_reachable_reports_the_version(conn: Connection) -> None:
    assert check_reachable(conn)


def test_watch_resumes_after_server_timeout_without_listing(
    conn: Connection, watcher_factory: Callable[..., ResourceWatcher]
) -> None:
    requests = RequestLog(conn)
    recorder = Recorder()
    watcher = watcher_factory("pods", recorder, watch_timeout=1)
    watcher.start()
    wait_until(lambda: requests.watches("/pods") >= 3, what="three watch requests")
    create_pod(conn, pod_manifest("web", "sleep 30"))
    wait_until(lambda: recorder.named("ADDED", "web"), what="ADDED web")
    assert requests.lists("/pods") == 1
    assert len(recorder.resyncs()) == 1
    assert recorder.states[-1][0] is ConnectionState.CONNECTED


def test_watch_lists_again_after_410(
    sandbox: SandboxProcess, conn: Connection, watcher_factory: Callable[..., ResourceWatcher]
) -> None:
    create_pod(conn, pod_manifest("old", "sleep 30"))
    # The sandbox writes its state a moment after each change; restart once it has.
    objects = sandbox.state_dir / "objects.json"
    wait_until(lambda: '"old"' in objects.read_text(), what="the pod saved")
    # After a restart the server's history starts at its current version: older ones are gone.
    sandbox.restart()
    requests = RequestLog(conn)
    recorder = Recorder()
    watcher = watcher_factory("pods", recorder)
    watcher.resource_version = "1"
    watcher.start()
    resync = wait_until(recorder.resyncs, what="a RESYNC after 410")[0]
    assert [p["metadata"]["name"] for p in resync.items] == ["old"]
    assert requests.lists("/pods") == 1
    assert int(watcher.resource_version or 0) > 1


def test_watch_reconnects_after_the_server_restarts(
    sandbox: SandboxProcess, conn: Connection, watcher_factory: Callable[..., ResourceWatcher]
) -> None:
    recorder = Recorder()
    watcher = watcher_factory("pods", recorder, max_backoff=1)
    watcher.start()
    wait_until(lambda: recorder.states and recorder.states[-1][0] is ConnectionState.CONNECTED)
    sandbox.stop()
    wait_until(lambda: recorder.states[-1][0] is ConnectionState.RECONNECTING, what="RECONNECTING")
    assert "retrying in" in recorder.states[-1][1]
    sandbox.start()
    create_pod(conn, pod_manifest("after", "sleep 30"))
    wait_until(
        lambda: (
            recorder.named("ADDED", "after")
            or any(
                p["metadata"]["name"] == "after" for e in recorder.resyncs() for p in e.items or []
            )
        ),
        what="the pod created after the restart",
    )
    assert recorder.states[-1][0] is ConnectionState.CONNECTED


def test_namespace_watch_covers_every_kind_and_stops(conn: Connection) -> None:
    recorder = Recorder()
    watch = NamespaceWatch(conn, recorder.on_event, recorder.on_state)
    watch.start()
    try:
        wait_until(lambda: {e.kind for e in recorder.resyncs()} == set(KINDS), what="8 lists")
    finally:
        watch.stop()
    assert not any(w.running for w in watch.watchers.values())


def test_warning_events_only(
    conn: Connection, watcher_factory: Callable[..., ResourceWatcher]
) -> None:
    core = client.CoreV1Api(conn.api_client)
    for kind, name in (("Normal", "fine"), ("Warning", "bad")):
        call_json(
            core.create_namespaced_event,
            NAMESPACE,
            {
                "metadata": {"name": name},
                "involvedObject": {"kind": "Pod", "name": "x", "namespace": NAMESPACE},
                "type": kind,
                "reason": "Test",
                "message": name,
            },
        )
    recorder = Recorder()
    watcher_factory("events", recorder).start()
    resync = wait_until(recorder.resyncs)[0]
    assert [e["metadata"]["name"] for e in resync.items] == ["bad"]


def collect(
    stream: LogStream, until: Callable[[list[LogItem]], bool], timeout: float = 60
) -> list[LogItem]:
    """Iterate ``stream`` in a thread until ``until(items)``; then stop it."""
    items: list[LogItem] = []
    done = threading.Event()

    def run() -> None:
        for item in stream:
            items.append(item)
            if until(items):
                break
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    finished = done.wait(timeout)
    stream.stop()
    thread.join(5)
    assert finished, f"log stream did not get there; got {items}"
    return items


def lines(items: list[LogItem]) -> list[str]:
    return [i.text for i in items if isinstance(i, LogLine)]


def test_log_follow_ends_when_pod_is_deleted_and_reattaches(conn: Connection) -> None:
    create_pod(conn, pod_manifest("talker", "echo first-pod; sleep 60"))
    assert pod_containers(conn, "talker") == ["main"]
    stream = LogStream(conn, "talker")
    assert "logs talker -f --tail=200" in stream.kubectl
    core = client.CoreV1Api(conn.api_client)

    def deleted_then_back(items: list[LogItem]) -> bool:
        if items[-1] == LogLine("first-pod"):
            call_json(core.delete_namespaced_pod, "talker", NAMESPACE)
        if items[-1] == LogEnd("pod talker deleted"):
            create_pod(conn, pod_manifest("talker", "echo second-pod; sleep 60"))
        return items[-1] == LogLine("second-pod")

    items = collect(stream, deleted_then_back)
    end = items.index(LogEnd("pod talker deleted"))
    assert "first-pod" in lines(items[:end])
    assert LogNotice("attached to talker/main") in items[end:]


def test_log_of_crashed_container_then_previous(conn: Connection) -> None:
    create_pod(conn, pod_manifest("crasher", "echo run-$(date +%s%N); exit 3"))
    core = client.CoreV1Api(conn.api_client)

    def restarts() -> int:
        pod = call_json(core.read_namespaced_pod, "crasher", NAMESPACE)
        statuses = pod.get("status", {}).get("containerStatuses") or []
        return int(statuses[0].get("restartCount", 0)) if statuses else 0

    wait_until(lambda: restarts() >= 1, what="a restart")
    previous = list(LogStream(conn, "crasher", previous=True))
    assert isinstance(previous[-1], LogEnd)
    assert len(lines(previous)) == 1 and lines(previous)[0].startswith("run-")
    assert "--previous" in LogStream(conn, "crasher", previous=True).kubectl

    followed = collect(
        LogStream(conn, "crasher"),
        lambda items: sum(isinstance(i, LogEnd) for i in items) >= 2,
    )
    ends = [i.reason for i in followed if isinstance(i, LogEnd)]
    assert all("restarted" in r or "exit code 3" in r for r in ends), ends


def test_log_of_missing_pod_without_follow(conn: Connection) -> None:
    assert list(LogStream(conn, "nobody", follow=False)) == [LogEnd("pod nobody not found")]


TRAIN_JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "iris-train-job", "labels": {"app": "iris-train"}},
    "spec": {
        "backoffLimit": 0,
        "template": {
            "metadata": {"labels": {"app": "iris-train"}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {"name": "train", "image": "busybox:1", "command": ["sh", "-c", "echo trained"]}
                ],
            },
        },
    },
}
BATCH_CRONJOB = {
    "apiVersion": "batch/v1",
    "kind": "CronJob",
    "metadata": {"name": "iris-batch-predict"},
    "spec": {
        "schedule": "0 3 * * *",
        "jobTemplate": {
            "metadata": {"labels": {"app": "iris-batch"}},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "batch",
                                "image": "busybox:1",
                                "command": ["sh", "-c", "echo scored"],
                            }
                        ],
                    }
                }
            },
        },
    },
}
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "iris-api"},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "iris-api"}},
        "template": {
            "metadata": {"labels": {"app": "iris-api"}},
            "spec": {
                "containers": [{"name": "api", "image": "busybox:1", "command": ["sleep", "60"]}]
            },
        },
    },
}


def test_retrain_creates_a_fresh_job_that_runs(conn: Connection) -> None:
    batch = client.BatchV1Api(conn.api_client)
    original = call_json(batch.create_namespaced_job, NAMESPACE, TRAIN_JOB)
    result = actions.retrain(conn)
    assert result.name and result.name.startswith("iris-train-")
    assert result.kubectl.startswith("kubectl --kubeconfig")
    assert "create -f -" in result.kubectl
    assert actions.wait_for_job(conn, result.name, timeout=60) == "Complete"
    created = call_json(batch.read_namespaced_job, result.name, NAMESPACE)
    assert created["metadata"]["uid"] != original["metadata"]["uid"]
    template_labels = created["spec"]["template"]["metadata"]["labels"]
    assert original["metadata"]["uid"] not in template_labels.values()
    pods = job_pods(conn, result.name)
    assert len(pods) == 1
    items = list(LogStream(conn, pods[0], follow=False))
    assert "trained" in lines(items)


def test_run_batch_now_creates_an_owned_manual_job(conn: Connection) -> None:
    batch = client.BatchV1Api(conn.api_client)
    cronjob = call_json(batch.create_namespaced_cron_job, NAMESPACE, BATCH_CRONJOB)
    result = actions.run_batch_now(conn)
    assert result.kubectl.endswith(f"create job --from=cronjob/iris-batch-predict {result.name}")
    assert "UnexpectedJob" in result.message
    job = call_json(batch.read_namespaced_job, result.name, NAMESPACE)
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    listed = call_json(batch.list_namespaced_job, NAMESPACE)["items"]
    owned = [
        job["metadata"]["name"]
        for job in listed
        for ref in job["metadata"].get("ownerReferences") or []
        if ref["uid"] == cronjob["metadata"]["uid"]
    ]
    assert owned == [result.name]
    assert actions.wait_for_job(conn, str(result.name), timeout=60) == "Complete"


def test_suspend_resume_restart_scale_delete_describe(conn: Connection) -> None:
    batch = client.BatchV1Api(conn.api_client)
    apps = client.AppsV1Api(conn.api_client)
    call_json(batch.create_namespaced_cron_job, NAMESPACE, BATCH_CRONJOB)
    call_json(apps.create_namespaced_deployment, NAMESPACE, DEPLOYMENT)

    result = actions.set_suspended(conn, "iris-batch-predict", True)
    assert (
        call_json(batch.read_namespaced_cron_job, "iris-batch-predict", NAMESPACE)["spec"][
            "suspend"
        ]
        is True
    )
    assert "patch cronjob iris-batch-predict --type=merge" in result.kubectl
    actions.set_suspended(conn, "iris-batch-predict", False)
    assert (
        call_json(batch.read_namespaced_cron_job, "iris-batch-predict", NAMESPACE)["spec"][
            "suspend"
        ]
        is False
    )

    result = actions.rollout_restart(conn, "iris-api")
    assert result.kubectl.endswith("rollout restart deployment/iris-api")
    template = call_json(apps.read_namespaced_deployment, "iris-api", NAMESPACE)["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]

    result = actions.scale(conn, "iris-api", 2)
    assert result.kubectl.endswith("scale deployment/iris-api --replicas=2")
    assert (
        call_json(apps.read_namespaced_deployment, "iris-api", NAMESPACE)["spec"]["replicas"] == 2
    )

    described = actions.describe_yaml(conn, "deployments", "iris-api")
    obj = yaml.safe_load(described.output)
    assert obj["metadata"]["name"] == "iris-api" and "managedFields" not in obj["metadata"]
    assert described.kubectl.endswith("get deployment iris-api -o yaml")

    core = client.CoreV1Api(conn.api_client)
    create_pod(conn, pod_manifest("doomed", "sleep 60"))
    result = actions.delete(conn, "pods", "doomed")
    assert result.kubectl.endswith("delete pod doomed")
    # A running pod is not gone at once: it is Terminating until its kubelet has stopped it.
    pods = call_json(core.list_namespaced_pod, NAMESPACE)["items"]
    doomed = [p for p in pods if p["metadata"]["name"] == "doomed"]
    assert not doomed or doomed[0]["metadata"].get("deletionTimestamp")


def test_action_errors_are_one_line(conn: Connection) -> None:
    from tui.cluster.connection import ClusterError

    with pytest.raises(
        ClusterError, match=r"cannot start a training job from job/iris-train-job: .*not found"
    ):
        actions.retrain(conn)
    with pytest.raises(ClusterError, match="cannot scale deployment/nope"):
        actions.scale(conn, "nope", 1)


def test_api_key_from_env_or_the_secret(conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IRIS_API_KEY", raising=False)
    assert PredictClient.for_cluster(conn).api_key is None
    call_json(
        client.CoreV1Api(conn.api_client).create_namespaced_secret,
        NAMESPACE,
        {"metadata": {"name": "iris-api-secret"}, "stringData": {"API_KEY": "from-secret"}},
    )
    api = PredictClient.for_cluster(conn)
    assert api.api_key == "from-secret"
    # No Service yet: the route is the API server's proxy, which is always there.
    assert "proxy" in api.route
    monkeypatch.setenv("IRIS_API_KEY", "from-env")
    assert PredictClient.for_cluster(conn).api_key == "from-env"
