"""The real image, run in Docker the way overlays/minikube runs each workload.

Each container's `docker run` options come from its rendered pod spec (tests/image/podspec.py):
the user and groups, the read-only root, the dropped capabilities, no privilege escalation,
the CPU and memory limits, the ConfigMap and Secret as environment, the volume claim as a host
folder mounted where and how the pod mounts it, /tmp as a sized tmpfs. Then the training Job,
the API and the batch Job do what the cluster expects of them.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from service.model_store import ModelStore
from tests.docs.test_readme import shell_lines
from tests.image import engine
from tests.image.conftest import Image
from tests.image.podspec import PodRun, Probe, host_path, pod_run, quantity_bytes
from tests.image.report import REPORT
from tests.manifests.rendering import Rendering
from tests.service.core_fixtures import random_features, write_features_csv

# One worker runs them all (make test: --dist loadgroup); the first builds the image.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("image"), pytest.mark.timeout(1200)]

TRAIN = ("Job", "iris-train-job")
API = ("Deployment", "iris-api")
BATCH = ("CronJob", "iris-batch-predict")
CLAIM = "ml-model-pvc"


@dataclass
class Stack:
    """What the tests share: the rendering, the image, the volume's host folder, the Secret."""

    rendering: Rendering
    image: Image
    network: str
    volume: Path
    api_key: str
    containers: list[engine.Container] = field(default_factory=list)

    def pod(self, workload: tuple[str, str], **env: str) -> PodRun:
        kind, name = workload
        secrets = {
            ref["secretRef"]["name"]: {"API_KEY": self.api_key}
            for ref in self.rendering.container(kind, name).get("envFrom", [])
            if "secretRef" in ref
        }
        return pod_run(self.rendering, kind, name, {CLAIM: self.volume}, secrets, env)

    def start(self, pod: PodRun, *extra: str) -> engine.Container:
        container = engine.start(
            ["--network", self.network, *extra, *pod.options], pod.image, pod.argv
        )
        self.containers.append(container)
        return container

    def run_to_completion(self, pod: PodRun, timeout: float = 180) -> tuple[int, str, float]:
        container = self.start(pod)
        status = container.wait(timeout)
        return status, container.logs(), time.monotonic() - container.started

    def on_host(self, workload: tuple[str, str], setting: str) -> Path:
        """Where the folder a container's setting names (MODEL_DIR, INPUT_DIR...) is on the host."""
        pod = self.pod(workload)
        return host_path(self.rendering, *workload, {CLAIM: self.volume}, pod.env[setting])


@pytest.fixture(scope="module")
def stack(
    rendering: Rendering,
    image: Image,
    network: str,
    api_key: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    shared = Stack(rendering, image, network, tmp_path_factory.mktemp("volume"), api_key)
    yield shared
    for container in shared.containers:
        container.remove()


@pytest.fixture(scope="module")
def trained(stack: Stack) -> tuple[int, str, float]:
    return stack.run_to_completion(stack.pod(TRAIN))


def http(url: str, timeout: float, body: object = None, key: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"} | ({"X-API-Key": key} if key else {})
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def wait_for_probe(base: str, container: engine.Container, probe: Probe, since: float) -> float:
    """Poll `probe` often; fail once the kubelet would have given up (its threshold) or the
    container stopped. Returns the seconds from the container's start to the first success;
    each try may take the probe's timeout, no longer."""
    deadline = since + probe.budget
    while True:
        try:
            status, _ = http(base + probe.path, timeout=probe.timeout)
            if 200 <= status < 400:
                return time.monotonic() - container.started
        except OSError:
            pass
        assert container.running(), f"{probe.path}: the container stopped:\n{container.logs()}"
        assert time.monotonic() < deadline, (
            f"{probe.path} did not answer within {probe.budget:g} s:\n{container.logs()}"
        )
        time.sleep(0.1)


@dataclass
class Api:
    container: engine.Container
    base: str
    pod: PodRun
    ready_seconds: float


def start_api(stack: Stack) -> Api:
    """The API container, published on a free local port, once its probes pass as the
    kubelet's would: startup within its threshold, then readiness within its own."""
    pod = stack.pod(API)
    port = pod.ports["http"]
    container = stack.start(pod, "--publish", f"127.0.0.1::{port}")
    base = f"http://127.0.0.1:{container.host_port(port)}"
    wait_for_probe(base, container, pod.probes["startup"], container.started)
    ready = wait_for_probe(base, container, pod.probes["readiness"], time.monotonic())
    return Api(container, base, pod, ready)


@pytest.fixture(scope="module")
def api(stack: Stack, trained: tuple[int, str, float]) -> Api:
    return start_api(stack)


def test_the_image_holds_the_service_only(
    stack: Stack, record_property: Callable[[str, object], None]
) -> None:
    for script in ("iris-tui", "iris-sandbox"):
        absent = engine.run(
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            script,
            stack.image.name,
            check=False,
        )
        assert absent.returncode == 127, absent.stderr
        assert "executable file not found" in absent.stderr
    names = ("tui", "sandbox", "textual", "kubernetes")
    probe = f"import importlib.util as u; print([n for n in {names!r} if u.find_spec(n)])"
    found = engine.run(
        "run", "--rm", "--network", "none", "--entrypoint", "python", stack.image.name, "-c", probe
    )
    assert found.stdout.strip() == "[]"
    record_property(
        REPORT,
        f"image {stack.image.name}: {stack.image.megabytes()} MB "
        f"(its base {stack.image.base}: {stack.image.megabytes(stack.image.base)} MB); "
        f"make image took {stack.image.build_seconds:.0f} s",
    )


def test_training_publishes_a_version(
    stack: Stack, trained: tuple[int, str, float], record_property: Callable[[str, object], None]
) -> None:
    status, logs, seconds = trained
    assert status == 0, logs
    store = ModelStore(stack.on_host(TRAIN, "MODEL_DIR"))
    version = store.current_version()
    assert version is not None and f'"version": "{version}"' in logs, logs
    # Written by the pod's user, into the group the volume was given (fsGroup).
    folder = store.root / "versions" / version
    pod = stack.pod(TRAIN)
    user, group = pod.options[pod.options.index("--user") + 1].split(":")
    assert (folder.stat().st_uid, folder.stat().st_gid) == (int(user), int(group))
    record_property(REPORT, f"{TRAIN[1]}: start to completed in {seconds:.1f} s")


def test_probes_answer_within_their_thresholds(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    for kind in ("startup", "readiness", "liveness"):
        probe = api.pod.probes[kind]
        started = time.monotonic()
        status, _ = http(api.base + probe.path, timeout=probe.timeout)
        assert (kind, status) == (kind, 200)
        assert time.monotonic() - started < probe.timeout
    record_property(REPORT, f"{API[1]}: start to ready in {api.ready_seconds:.1f} s")


# Run inside the API container: who it is and what it may do, as the kernel sees it.
INSIDE = """
import json, os
status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines())
def writable(path):
    try:
        open(os.path.join(path, ".probe"), "w").close()
        os.remove(os.path.join(path, ".probe"))
        return True
    except OSError:
        return False
tmp = os.statvfs("/tmp")
print(json.dumps({
    "ids": [os.getuid(), os.getgid(), sorted(os.getgroups())],
    "CapEff": status["CapEff"], "NoNewPrivs": status["NoNewPrivs"],
    "writable": {path: writable(path) for path in ["/", "/usr/local", "/models", "/tmp"]},
    "tmp_bytes": tmp.f_blocks * tmp.f_frsize,
}))
"""


def test_the_api_runs_with_the_pods_security_settings(api: Api, stack: Stack) -> None:
    spec = stack.rendering.pod_template(*API)["spec"]
    pod_security = spec["securityContext"]
    container = stack.rendering.container(*API)
    found = json.loads(engine.run("exec", api.container.id, "python", "-c", INSIDE).stdout)
    user, group, fs_group = (pod_security[k] for k in ("runAsUser", "runAsGroup", "fsGroup"))
    assert found["ids"] == [user, group, sorted({group, fs_group})]
    assert (found["CapEff"], found["NoNewPrivs"]) == ("0000000000000000", "1")
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    expected = {
        path: (path in mounts and not mounts[path].get("readOnly", False))
        for path in found["writable"]
    }
    assert found["writable"] == expected
    [tmp] = [v for v in spec["volumes"] if v["name"] == mounts["/tmp"]["name"]]
    assert found["tmp_bytes"] == quantity_bytes(tmp["emptyDir"]["sizeLimit"])
    memory = engine.run("inspect", "--format", "{{.HostConfig.Memory}}", api.container.id)
    assert int(memory.stdout) == quantity_bytes(container["resources"]["limits"]["memory"])


def course_request(url: str, key: str) -> dict:
    """The README's call of the API on minikube, run by bash as the course types it."""
    [line] = [line for line in shell_lines() if line.startswith('curl -s -X POST "$URL/predict"')]
    result = subprocess.run(
        ["bash", "-c", line],
        env={"URL": url, "KEY": key, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_course_request_answers_setosa(api: Api, stack: Stack) -> None:
    assert course_request(api.base, stack.api_key)["species_name"] == "setosa"
    # The Secret's key is required: the same request without it is refused.
    status, _ = http(
        api.base + "/predict",
        5,
        {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
    )
    assert status == 401


class Stream:
    """Predictions sent one after another from a thread, counting failures and versions."""

    FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}

    def __init__(self, base: str, key: str) -> None:
        self.base, self.key = base, key
        self.versions: list[str] = []
        # (when, what): an exception, or an answer other than 200.
        self.failures: list[tuple[float, str]] = []
        self.last_ok = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                status, body = http(self.base + "/predict", 5, self.FLOWER, self.key)
            except OSError as error:
                self.failures.append((time.monotonic(), repr(error)))
                continue
            if status != 200:
                self.failures.append((time.monotonic(), f"{status} {body}"))
                continue
            self.last_ok = time.monotonic()
            if not self.versions or self.versions[-1] != body["model_version"]:
                self.versions.append(body["model_version"])
            time.sleep(0.02)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def test_a_second_training_is_picked_up_with_no_failed_request(api: Api, stack: Stack) -> None:
    store = ModelStore(stack.on_host(TRAIN, "MODEL_DIR"))
    first = store.current_version()
    stream = Stream(api.base, stack.api_key)
    try:
        status, logs, _ = stack.run_to_completion(stack.pod(TRAIN))
        assert status == 0, logs
        second = store.current_version()
        assert second != first
        # The API looks for a new version every RELOAD_INTERVAL seconds.
        deadline = time.monotonic() + 10 * float(api.pod.env["RELOAD_INTERVAL"])
        while stream.versions[-1:] != [second] and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stream.close()
    assert stream.failures == []
    assert stream.versions == [first, second]


def test_the_batch_job_scores_a_csv_dropped_on_the_volume(
    stack: Stack, trained: tuple[int, str, float], record_property: Callable[[str, object], None]
) -> None:
    inputs, outputs = stack.on_host(BATCH, "INPUT_DIR"), stack.on_host(BATCH, "OUTPUT_DIR")
    inputs.mkdir(parents=True, exist_ok=True)
    write_features_csv(inputs / "flowers.csv", random_features(40))
    status, logs, seconds = stack.run_to_completion(stack.pod(BATCH))
    assert status == 0, logs
    with (outputs / "flowers.csv.predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 40
    assert {row["model_version"] for row in rows} == {
        ModelStore(stack.on_host(TRAIN, "MODEL_DIR")).current_version()
    }
    assert {row["class_name"] for row in rows} <= {"setosa", "versicolor", "virginica"}
    record_property(REPORT, f"{BATCH[1]}: start to completed in {seconds:.1f} s")


def test_a_wrong_setting_exits_with_one_readable_line(stack: Stack) -> None:
    # The README's "crash loop": kubectl set env deploy/iris-api LOG_LEVEL=loud.
    pod = stack.pod(API, LOG_LEVEL="loud")
    status, logs, _ = stack.run_to_completion(pod, timeout=60)
    command = pod.command[0]
    assert status == 2
    [line] = logs.splitlines()
    assert line.startswith(f"{command}: invalid LOG_LEVEL='loud': "), line


def test_sigterm_drains_and_exits_zero_within_the_grace_period(
    stack: Stack, trained: tuple[int, str, float]
) -> None:
    api = start_api(stack)
    stream = Stream(api.base, stack.api_key)
    time.sleep(0.5)
    # `docker stop` is the kubelet's stop: SIGTERM, then SIGKILL once the grace period is over.
    started = time.monotonic()
    stop = subprocess.Popen(
        [
            engine.docker() or "docker",
            "stop",
            "--time",
            str(api.pod.grace_seconds),
            api.container.id,
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        readiness = api.pod.probes["readiness"]
        unready_at = None
        while unready_at is None and time.monotonic() - started < api.pod.grace_seconds:
            try:
                if http(api.base + readiness.path, readiness.timeout)[0] == 503:
                    unready_at = time.monotonic() - started
            except OSError:
                break
            time.sleep(0.05)
        stop.wait(timeout=api.pod.grace_seconds + 10)
    finally:
        stream.close()
    took = time.monotonic() - started
    logs = api.container.logs()
    status = int(api.container.inspect("{{.State.ExitCode}}"))
    assert (status, api.container.inspect("{{.State.OOMKilled}}")) == (0, "false"), logs
    assert took < api.pod.grace_seconds
    # It turned unready while it still answered, and kept serving after that; no request
    # failed before it did, and none was answered with an error (afterwards connections are
    # refused, or closed by Docker's port forwarder).
    assert unready_at is not None, logs
    assert stream.last_ok > started + unready_at
    assert [what for when, what in stream.failures if when < started + unready_at] == []
    assert [what for _, what in stream.failures if what[:3].isdigit()] == []
    # It stopped SHUTDOWN_DELAY seconds after the signal at the earliest (the container's
    # clock: the machine's load delays the signal, not the delay).
    [signalled] = [
        json.loads(line)["time"] for line in logs.splitlines() if '"signal": "SIGTERM"' in line
    ]
    finished = api.container.inspect("{{.State.FinishedAt}}")
    drained = timestamp(finished) - timestamp(signalled)
    assert drained >= float(api.pod.env["SHUTDOWN_DELAY"]), logs


def timestamp(text: str) -> float:
    """An RFC 3339 time (Docker's nanoseconds cut to microseconds) as seconds since the epoch."""
    found = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text)
    assert found, text
    base, fraction, zone = found.groups()
    moment = f"{base}{(fraction or '')[:7]}{'+00:00' if zone == 'Z' else zone}"
    return datetime.fromisoformat(moment).timestamp()
