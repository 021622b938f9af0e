"""The course end to end on a sandbox, done the way the TUI does it.

One user's walk: deploy overlays/minikube with the TUI's apply, wait for the training Job and
the API rollout with kubectl, predict through the Service's NodePort, score a CSV with
a manual run of the batch CronJob, retrain and then deploy again (which retrains too) while
predictions keep flowing without a single failure, then ``kubectl delete -k`` and check that
neither objects nor pod processes are left behind.
"""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from sandbox.testing import SandboxProcess
from tui.cluster import actions, kustomize
from tui.cluster.connection import Connection, connect
from tui.cluster.predict import PredictClient, PredictError

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
OVERLAY = REPO_ROOT / "overlays/minikube"
NAMESPACE = "ml-course"
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
# One textbook flower of each species, as a user would drop them in for scoring.
BATCH_ROWS = [
    ((5.1, 3.5, 1.4, 0.2), "setosa"),
    ((6.4, 3.2, 4.5, 1.5), "versicolor"),
    ((6.3, 3.3, 6.0, 2.5), "virginica"),
]
# Pause between streamed predictions: steady traffic that leaves the 2 cores to the retrain.
STREAM_PAUSE = 0.01
# Responses in a row from the new model before the stream stops: with two replicas behind
# the round-robin proxy, enough to have heard from both.
NEW_VERSION_STREAK = 10

T = TypeVar("T")


def wait_until(
    check: Callable[[], T], timeout: float, what: str | Callable[[], str], interval: float = 0.2
) -> T:
    """Poll ``check`` until it returns something truthy; fail describing ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            described = what if isinstance(what, str) else what()
            raise AssertionError(f"timed out after {timeout:g} s waiting for {described}")
        time.sleep(interval)


class Steps:
    """Prints each step with the time since the start: the captured output of a failure."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, text: str) -> None:
        print(f"{time.monotonic() - self.started:6.1f} s  {text}")


@dataclass(frozen=True)
class PodProcess:
    command: str
    created: float


def pod_processes(state_dir: Path) -> dict[int, PodProcess]:
    """The processes this sandbox runs for pods, and whatever they started.

    The sandbox starts a pod's process in, and points its TMPDIR at, the pod's scratch folder
    in the state folder; children inherit both. Nothing else (the sandbox itself, kubectl, the
    test) works there, nor does any other sandbox's pod.
    """
    found = {}
    for process in psutil.process_iter(["cmdline", "cwd", "environ", "create_time"]):
        info = process.info
        places = [info["cwd"], (info["environ"] or {}).get("TMPDIR")]
        if any(place and Path(place).is_relative_to(state_dir) for place in places):
            found[process.pid] = PodProcess(" ".join(info["cmdline"] or ()), info["create_time"])
    return found


def still_running(recorded: dict[int, PodProcess]) -> list[str]:
    """Those of ``recorded`` that still run (same pid and start time, not a zombie)."""
    alive = []
    for pid, record in recorded.items():
        try:
            process = psutil.Process(pid)
            if process.create_time() == record.created and process.status() != "zombie":
                alive.append(f"{pid} {record.command}")
        except psutil.NoSuchProcess:
            continue
    return alive


def leftovers(state_dir: Path, recorded: dict[int, PodProcess]) -> list[str]:
    """Pod processes still running: those recorded, and any found now."""
    now = [f"{pid} {record.command}" for pid, record in pod_processes(state_dir).items()]
    return sorted(set(still_running(recorded)) | set(now))


def objects_left(sandbox: SandboxProcess) -> str:
    """What ``kubectl get all`` and ``get namespace`` still list of the course's namespace."""
    everything = sandbox.kubectl("get", "all", "-n", NAMESPACE, "-o", "name")
    namespace = sandbox.kubectl("get", "namespace", NAMESPACE, "--ignore-not-found", "-o", "name")
    return (everything.stdout + namespace.stdout).strip()


@dataclass
class PredictionStream:
    """Predictions sent one after another from a thread; every failure is kept."""

    client: PredictClient
    versions: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                prediction = self.client.predict(SETOSA)
            except PredictError as error:
                self.failures.append(str(error))
                self.stop.wait(STREAM_PAUSE)
                continue
            if prediction.class_name != "setosa":
                self.failures.append(f"answered {prediction.class_name} for a setosa")
            self.versions.append(prediction.model_version)
            self.stop.wait(STREAM_PAUSE)

    def streak_of(self, version: str) -> bool:
        tail = self.versions[-NEW_VERSION_STREAK:]
        return len(tail) == NEW_VERSION_STREAK and set(tail) == {version}


@contextmanager
def streaming(conn: Connection) -> Iterator[PredictionStream]:
    stream = PredictionStream(PredictClient.for_cluster(conn))
    thread = threading.Thread(target=stream.run, name="prediction-stream", daemon=True)
    thread.start()
    try:
        yield stream
    finally:
        stream.stop.set()
        thread.join(timeout=30)
        stream.client.close()


def serves_new_version(predictor: PredictClient, stream: PredictionStream, old: str) -> str:
    """Wait until GET /model and then the streamed predictions report a version after ``old``."""
    version = predictor.wait_for_new_version(old, timeout=30, interval=0.2)
    wait_until(
        lambda: stream.streak_of(version) or stream.failures,
        30,
        f"{NEW_VERSION_STREAK} predictions in a row from {version}",
    )
    return version


def run_kustomize(run: kustomize.CommandRun) -> list[str]:
    lines = run.run()
    output = "\n".join(lines)
    assert run.succeeded, f"{run.command} exited {run.returncode}:\n{output}"
    return lines


def drop_input(batch_dir: Path, name: str) -> Path:
    """Write a CSV into the batch input folder as an upload would: hidden, then renamed."""
    folder = batch_dir / "input"
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{name}"
    with partial.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sepal_length", "sepal_width", "petal_length", "petal_width"])
        writer.writerows(features for features, _ in BATCH_ROWS)
    return partial.rename(folder / name)


def read_predictions(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_course_on_the_sandbox(sandbox: SandboxProcess) -> None:
    step = Steps()
    conn = connect(None, NAMESPACE, kubeconfig=str(sandbox.kubeconfig))
    step("apply overlays/minikube")

    # Deploy: the TUI's apply deletes the training Job (none yet) and applies server-side.
    apply_lines = run_kustomize(kustomize.apply(conn, OVERLAY))
    assert any("job.batch/iris-train-job serverside-applied" in line for line in apply_lines)
    sandbox.kubectl(
        "wait", "--for=condition=complete", "job/iris-train-job", "--timeout=90s", timeout=100
    )
    step("training job complete")
    model_volume = sandbox.claim_dir(NAMESPACE, "ml-model-pvc")
    sandbox.kubectl("rollout", "status", "deployment/iris-api", "--timeout=90s", timeout=100)
    step("api rolled out")
    first_version = (model_volume / "current").read_text().strip()
    # kubectl describe reads the Service's EndpointSlices: both ready replicas behind it.
    described = sandbox.kubectl("-n", NAMESPACE, "describe", "service", "iris-api-svc").stdout
    (endpoints_line,) = [line for line in described.splitlines() if line.startswith("Endpoints:")]
    assert len(endpoints_line.split()[1].split(",")) == 2, described
    slices = sandbox.kubectl(
        "-n", NAMESPACE, "get", "endpointslices", "-l", "kubernetes.io/service-name=iris-api-svc"
    ).stdout.splitlines()
    assert slices[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"], slices
    assert slices[1].split()[1:3] == ["IPv4", "8000"], slices

    predictor = PredictClient.for_cluster(conn)
    try:
        # The TUI's first route that answers: the NodePort on the node's address, as on
        # minikube (kube-proxy answers there).
        assert predictor.route.startswith("NodePort "), predictor.route
        prediction = predictor.predict(SETOSA)
        assert prediction.class_name == "setosa"
        assert prediction.model_version == first_version

        # Batch: a CSV dropped into the volume's input folder, scored by a manual run.
        batch_dir = model_volume / "batch"
        source = drop_input(batch_dir, "flowers.csv")
        step("prediction answered; run the batch now")
        started = actions.run_batch_now(conn)
        assert started.name is not None
        assert actions.wait_for_job(conn, started.name, timeout=90) == "Complete"
        scored = read_predictions(batch_dir / "output" / f"{source.name}.predictions.csv")
        assert [row["class_name"] for row in scored] == [name for _, name in BATCH_ROWS]
        assert {row["model_version"] for row in scored} == {first_version}
        step("batch scored the csv")

        # New models while predictions keep coming: every one must succeed.
        pods_before = pod_processes(sandbox.state_dir)
        serving = [pid for pid, p in pods_before.items() if "iris-serve" in p.command]
        assert len(serving) == 2, f"expected the 2 API replicas' processes, found {pods_before}"
        with streaming(conn) as stream:
            wait_until(
                lambda: len(stream.versions) >= 5 or stream.failures,
                30,
                "the first streamed predictions",
            )
            step("stream flowing; retrain")
            retrain = actions.retrain(conn)
            assert retrain.name is not None
            assert actions.wait_for_job(conn, retrain.name, timeout=90) == "Complete"
            step("retrained")
            retrained_version = serves_new_version(predictor, stream, first_version)

            # Deploy again, as after a change: the completed Job is replaced, so it retrains.
            step("apply again")
            apply_lines = run_kustomize(kustomize.apply(conn, OVERLAY))
            assert any('"iris-train-job" deleted' in line for line in apply_lines), apply_lines
            sandbox.kubectl(
                "wait",
                "--for=condition=complete",
                "job/iris-train-job",
                "--timeout=90s",
                timeout=100,
            )
            step("trained again")
            reapplied_version = serves_new_version(predictor, stream, retrained_version)
        step(f"{len(stream.versions)} streamed, {len(stream.failures)} failed")
        assert stream.failures == [], f"failed requests while models changed: {stream.failures}"
        assert stream.versions[0] == first_version
        assert len({first_version, retrained_version, reapplied_version}) == 3
        assert reapplied_version == (model_volume / "current").read_text().strip()
        model = predictor.model_info()
        assert model is not None and model["version"] == reapplied_version
    finally:
        predictor.close()

    # Tear down: every object goes, and every pod process with it.
    pods_running = pod_processes(sandbox.state_dir)
    step("delete -k overlays/minikube")
    run_kustomize(kustomize.delete(conn, OVERLAY))
    wait_until(lambda: not objects_left(sandbox), 60, f"{NAMESPACE} to be emptied and removed")
    step("namespace gone")
    recorded = pods_before | pods_running
    wait_until(
        lambda: not leftovers(sandbox.state_dir, recorded),
        45,
        lambda: (
            f"the pod processes to end; still running: {leftovers(sandbox.state_dir, recorded)}"
        ),
    )
    step("no pod process left")
