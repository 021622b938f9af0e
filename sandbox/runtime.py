"""The sandbox's kubelet: runs each pod's containers as local process groups.

A ``PodWorker`` thread per pod schedules it (PVCs must exist), sets up its volumes, gives every
containerPort a free local port, starts the containers, reads their output into the pod log,
runs their probes, restarts them as restartPolicy says (with the kubelet's back-off) and
reports all of it in the pod's status. Deleting the pod ends its processes: SIGTERM to each
process group, a short grace period, then SIGKILL.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

import psutil

from sandbox import paths, podspec, probes
from sandbox.clock import Clock, format_time, format_time_nano
from sandbox.events import EventRecorder
from sandbox.probes import ProbeState
from sandbox.store import ApiError, Store

log = logging.getLogger(__name__)

Obj = dict[str, Any]

NODE_NAME = "sandbox"
PORTS_ANNOTATION = "sandbox.iris.dev/ports"
MAX_GRACE_SECONDS = 3.0  # terminationGracePeriodSeconds, capped so deletes stay quick
MAX_PRESTOP_SECONDS = 2.0
BACKOFF_START, BACKOFF_MAX = 10.0, 300.0  # kubelet restart back-off, in sandbox seconds
TICK = 0.1


class ProcessGroups:
    """The pod process groups alive, also on disk: a sandbox that was killed outright (and so
    could not stop its pods) ends the leftovers of its previous run when it starts again."""

    def __init__(self, state_dir: Path) -> None:
        self._file = state_dir / "pods" / "process-groups.json"
        self._lock = threading.Lock()
        self._groups: dict[int, float] = {}  # group id -> its leader's start time
        self._kill(self._read())
        _registries.append(self)

    def add(self, pid: int) -> None:
        with self._lock, contextlib.suppress(psutil.Error):
            self._groups[pid] = psutil.Process(pid).create_time()
            self._save()

    def discard(self, pid: int) -> None:
        with self._lock:
            if self._groups.pop(pid, None) is not None:
                self._save()

    def kill_all(self) -> None:
        with self._lock:
            groups, self._groups = dict(self._groups), {}
            self._save()
        self._kill(groups)

    def _read(self) -> dict[int, float]:
        try:
            return {int(k): float(v) for k, v in json.loads(self._file.read_text()).items()}
        except (OSError, ValueError):
            return {}

    def _save(self) -> None:
        self._file.parent.mkdir(parents=True, exist_ok=True)
        self._file.write_text(json.dumps(self._groups))

    @staticmethod
    def _kill(groups: dict[int, float]) -> None:
        for group, started in groups.items():
            with contextlib.suppress(psutil.Error):
                if psutil.Process(group).create_time() != started:
                    continue  # the id now belongs to somebody else's process
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)


_registries: list[ProcessGroups] = []


@atexit.register
def _kill_all_groups() -> None:
    """Safety net at interpreter exit: no pod process outlives the sandbox."""
    for registry in _registries:
        registry.kill_all()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pump(stream: IO[bytes], sink: IO[str], lock: threading.Lock) -> None:
    """Copy a process's output into its log, one timestamped line at a time."""
    for raw in iter(stream.readline, b""):
        text = raw.decode(errors="replace").rstrip("\n")
        with lock:
            sink.write(f"{format_time_nano(time.time_ns())} {text}\n")
            sink.flush()
    stream.close()


class ContainerRun:
    """One container of a pod: started, watched, probed and restarted in place."""

    def __init__(self, worker: PodWorker, spec: Obj, *, init: bool = False) -> None:
        self.worker = worker
        self.spec = spec
        self.name: str = spec["name"]
        self.init = init
        self.restart_count = 0
        self.restart_count_at_reset = 0  # a container that ran long enough starts afresh
        self.state: Obj = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: Obj = {}
        self.ready = False
        self.started = False
        self.done = False  # terminated for good
        self.process: subprocess.Popen[bytes] | None = None
        self.container_id: str | None = None
        self.start_at = 0.0  # monotonic time of the next start attempt
        self.ran_since = 0.0
        self.probes: dict[str, ProbeState] = {}
        self._env: dict[str, str] = {}
        self._log_threads: list[threading.Thread] = []
        self._log_file: IO[str] | None = None

    # ---- lifecycle

    def resume(self, status: Obj) -> None:
        """Carry on from a run the sandbox lost when it stopped, as a rebooted node does."""
        if "containerID" not in status:
            return
        self.restart_count = int(status.get("restartCount", 0)) + 1
        self.restart_count_at_reset = self.restart_count
        ended = format_time()
        self.last_state = {
            "terminated": {
                "exitCode": 255,
                "reason": "Unknown",
                "startedAt": (status.get("state") or {}).get("running", {}).get("startedAt", ended),
                "finishedAt": ended,
                "containerID": status["containerID"],
            }
        }

    def step(self, now: float) -> None:
        if self.done or self.worker.stopping.is_set():
            return
        if self.process is None:
            if now >= self.start_at:
                self._start(now)
            return
        code = self.process.poll()
        if code is None:
            self._probe(now)
        else:
            self._exited(code, now)

    def _start(self, now: float) -> None:
        worker = self.worker
        mounts = podspec.mounts(self.spec, worker.volumes)
        ports = {p["containerPort"]: worker.ports[p["containerPort"]] for p in self._ports()}
        try:
            env = podspec.environment(
                worker.store, worker.pod, self.spec, mounts, ports, worker.tmpdir
            )
            argv = podspec.argv(self.spec, env, mounts)
        except podspec.ConfigError as error:
            self.state = {
                "waiting": {"reason": "CreateContainerConfigError", "message": str(error)}
            }
            worker.event("Failed", f"Error: {error}", type="Warning", container=self.name)
            self.start_at = now + 1.0
            return
        # the image's working directory is not there: its files are the project's own
        cwd = podspec.local_path(self.spec.get("workingDir") or "", mounts)
        if not cwd or not Path(cwd).is_dir():
            cwd = str(worker.tmpdir)
        image = self.spec.get("image", "")
        worker.event(
            "Pulled",
            f'Container image "{image}" not run in the sandbox: using local console scripts',
            container=self.name,
        )
        log_file = paths.log_path(
            worker.state_dir, worker.namespace, worker.name, self.name, self.restart_count
        )
        log_file.parent.mkdir(parents=True, exist_ok=True)
        sink = log_file.open("a")
        try:
            process = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            sink.close()
            message = f'exec: "{argv[0]}": {error.strerror or error}'
            worker.event("Failed", f"Error: {message}", type="Warning", container=self.name)
            self._finished(128, "StartError", now, message=message, started_at=format_time())
            return
        worker.kubelet.groups.add(process.pid)
        self.process, self._env, self._log_file = process, env, sink
        self.container_id = f"sandbox://{process.pid}"
        lock = threading.Lock()
        assert process.stdout is not None and process.stderr is not None
        self._log_threads = [
            threading.Thread(target=_pump, args=(stream, sink, lock), daemon=True)
            for stream in (process.stdout, process.stderr)
        ]
        for thread in self._log_threads:
            thread.start()
        self.state = {"running": {"startedAt": format_time()}}
        self.ran_since = now
        self.ready = False
        self.started = "startupProbe" not in self.spec
        self.probes = {
            kind: ProbeState(self.spec[kind], now)
            for kind in ("startupProbe", "livenessProbe", "readinessProbe")
            if kind in self.spec and not self.init
        }
        worker.event("Created", f"Created container: {self.name}", container=self.name)
        worker.event("Started", f"Started container {self.name}", container=self.name)

    def _ports(self) -> list[Obj]:
        return list(self.spec.get("ports") or [])

    def _probe(self, now: float) -> None:
        ports = self.worker.ports
        named = {p["name"]: p["containerPort"] for p in self._ports() if p.get("name")}
        cwd = str(self.worker.tmpdir)
        for kind, state in self.probes.items():
            if not state.due(now):
                continue
            if kind != "startupProbe" and not self.started:
                continue
            if kind == "startupProbe" and self.started:
                continue
            ok, message = probes.run(state.spec, ports, named, self._env, cwd)
            state.record(ok, time.monotonic())
            label = {"startupProbe": "Startup", "livenessProbe": "Liveness"}.get(kind, "Readiness")
            if not ok:
                self.worker.event(
                    "Unhealthy",
                    f"{label} probe failed: {message}",
                    type="Warning",
                    container=self.name,
                )
            if kind == "readinessProbe":
                if state.passing:
                    self.ready = True
                elif state.failed:
                    self.ready = False
            elif kind == "startupProbe" and state.passing:
                self.started = True
            elif state.failed:
                self.worker.event(
                    "Killing",
                    f"Container {self.name} failed {label.lower()} probe, will be restarted",
                    container=self.name,
                )
                self.terminate()
                return
        if "readinessProbe" not in self.probes:
            self.ready = self.started

    def _exited(self, code: int, now: float) -> None:
        self._close_logs()
        exit_code = 128 - code if code < 0 else code  # killed by signal N -> 128+N
        started_at = (self.state.get("running") or {}).get("startedAt") or format_time()
        self._finished(exit_code, "Completed" if exit_code == 0 else "Error", now, started_at)

    def _finished(
        self, exit_code: int, reason: str, now: float, started_at: str, message: str = ""
    ) -> None:
        terminated: Obj = {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": started_at,
            "finishedAt": format_time(),
        }
        if message:
            terminated["message"] = message
        if self.container_id:
            terminated["containerID"] = self.container_id
        if self.process is not None:
            self.worker.kubelet.groups.discard(self.process.pid)
        self.process = None
        self.ready = False
        self.started = False
        policy = self.worker.pod["spec"].get("restartPolicy", "Always")
        if self.init:
            restart = exit_code != 0 and policy != "Never"
        else:
            restart = policy == "Always" or (policy == "OnFailure" and exit_code != 0)
        if not restart or self.worker.stopping.is_set():
            self.state = {"terminated": terminated}
            self.done = True
            return
        self.last_state = {"terminated": terminated}
        if now - self.ran_since > 2 * BACKOFF_MAX:
            self.restart_count_at_reset = self.restart_count
        delay = self._backoff()
        self.restart_count += 1
        self.start_at = now + self.worker.clock.real_seconds(delay)
        if delay:
            pod = f"{self.worker.name}_{self.worker.namespace}({self.worker.uid})"
            self.state = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {int(delay)}s restarting failed "
                    f"container={self.name} pod={pod}",
                }
            }
            self.worker.event(
                "BackOff",
                f"Back-off restarting failed container {self.name} in pod {pod}",
                type="Warning",
                container=self.name,
            )
        else:
            self.state = {"terminated": terminated}

    def _backoff(self) -> float:
        """The kubelet restarts at once the first time, then waits 10s, 20s, ... up to 5 min."""
        crashes = self.restart_count - self.restart_count_at_reset
        if crashes == 0:
            return 0.0
        return min(BACKOFF_START * 2 ** (crashes - 1), BACKOFF_MAX)

    def terminate(self, grace: float = MAX_GRACE_SECONDS) -> None:
        """SIGTERM the process group, wait up to ``grace`` seconds, then SIGKILL it."""
        process = self.process
        if process is None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
        self.worker.kubelet.groups.discard(process.pid)

    def _close_logs(self) -> None:
        for thread in self._log_threads:
            thread.join(timeout=2)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # ---- reporting

    def status(self) -> Obj:
        status: Obj = {
            "name": self.name,
            "state": self.state,
            "lastState": self.last_state,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "image": self.spec.get("image", ""),
            "imageID": f"sandbox://{self.spec.get('image', '')}",
            "started": self.started,
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status

    @property
    def never_ran(self) -> bool:
        return self.container_id is None


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


class PodWorker:
    """Everything the kubelet does for one pod, in one thread."""

    def __init__(self, kubelet: Kubelet, pod: Obj) -> None:
        self.kubelet = kubelet
        self.store = kubelet.store
        self.clock = kubelet.clock
        self.state_dir = kubelet.state_dir
        self.pod = pod
        meta = pod["metadata"]
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.uid: str = meta["uid"]
        self.stopping = threading.Event()
        self.forget = False
        self.volumes: dict[str, Path] = {}
        self.ports: dict[int, int] = {}
        self.scratch = paths.pod_dir(self.state_dir, self.namespace, self.name, self.uid)
        self.tmpdir = self.scratch / "tmp"
        spec = pod["spec"]
        self.init_containers = [
            ContainerRun(self, c, init=True) for c in spec.get("initContainers") or []
        ]
        self.containers = [ContainerRun(self, c) for c in spec.get("containers") or []]
        previous = {s["name"]: s for s in (pod.get("status") or {}).get("containerStatuses") or []}
        for container in self.containers:
            if container.name in previous:
                container.resume(previous[container.name])
        self._conditions: dict[str, tuple[str, str]] = {}
        self._start_time = ""
        self.thread = threading.Thread(target=self._run, name=f"pod-{self.name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, *, forget: bool = False) -> None:
        """Ask the worker to end the pod's processes (it does so in its own thread).

        ``forget``: the pod was deleted, so its emptyDir and other scratch dirs go too.
        """
        self.forget = forget
        self.stopping.set()
        if forget and not self.thread.is_alive():
            self._remove_scratch()

    def _remove_scratch(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)

    def event(
        self, reason: str, message: str, *, type: str = "Normal", container: str = ""
    ) -> None:
        self.kubelet.events.record(
            self.pod,
            reason,
            message,
            component="default-scheduler"
            if reason in ("Scheduled", "FailedScheduling")
            else "kubelet",
            type=type,
            field_path=f"spec.containers{{{container}}}" if container else None,
        )

    # ---- the pod's life

    def _run(self) -> None:
        try:
            if self._schedule() and self._set_up():
                self._supervise()
        except ApiError as error:
            if error.code != 404:
                log.exception("pod %s/%s", self.namespace, self.name)
        except Exception:
            log.exception("pod %s/%s", self.namespace, self.name)
        finally:
            self._shut_down()
            if self.forget:
                self._remove_scratch()

    def _wait(self, seconds: float) -> bool:
        """Sleep unless asked to stop; True when stopping."""
        return self.stopping.wait(seconds)

    def _schedule(self) -> bool:
        """The scheduler (sandbox/scheduler.py) bound the pod: the kubelet only records when."""
        self._start_time = format_time()
        return True

    def _set_up(self) -> bool:
        """Volumes and ports; a missing configMap/secret volume keeps the pod ContainerCreating."""
        self._write_status(self._status())
        while True:
            try:
                self.volumes = podspec.volume_dirs(self.store, self.state_dir, self.pod)
                break
            except podspec.MountError as error:
                self.event("FailedMount", f"MountVolume.SetUp failed: {error}", type="Warning")
                if self._wait(1.0):
                    return False
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        for container in self.containers:
            for mount in podspec.mounts(container.spec, self.volumes):
                if mount.mount_path == "/tmp":
                    self.tmpdir = mount.local
        for container in self.pod["spec"].get("containers") or []:
            for port in container.get("ports") or []:
                self.ports[port["containerPort"]] = free_port()
        if self.ports:
            mapping = json.dumps({str(k): v for k, v in self.ports.items()})
            self.pod = self.store.mutate(
                "pods",
                self.namespace,
                self.name,
                lambda pod: (
                    pod["metadata"]
                    .setdefault("annotations", {})
                    .update({PORTS_ANNOTATION: mapping})
                ),
            )
        return True

    def _supervise(self) -> None:
        while not self.stopping.is_set():
            now = time.monotonic()
            pending_init = [c for c in self.init_containers if not c.done]
            if pending_init:
                pending_init[0].step(now)
            else:
                for container in self.containers:
                    container.step(now)
            status = self._status()
            self._write_status(status)
            if status["phase"] in ("Succeeded", "Failed"):
                return
            self._wait(TICK)

    def _shut_down(self) -> None:
        """End every process of the pod: preStop, SIGTERM, grace period, SIGKILL."""
        running = [c for c in self.init_containers + self.containers if c.process is not None]
        if not running:
            return
        grace = min(
            float(self.pod["spec"].get("terminationGracePeriodSeconds", 30)), MAX_GRACE_SECONDS
        )
        for container in running:
            self.event("Killing", f"Stopping container {container.name}", container=container.name)
        pre_stop = max((_pre_stop_seconds(c.spec) for c in running), default=0.0)
        if pre_stop:
            time.sleep(min(pre_stop, MAX_PRESTOP_SECONDS, grace))
        threads = [
            threading.Thread(target=container.terminate, args=(grace,), daemon=True)
            for container in running
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for container in running:
            container._close_logs()

    # ---- status

    def _condition(self, type_: str, status: str, reason: str = "", message: str = "") -> Obj:
        previous = self._conditions.get(type_)
        since = previous[1] if previous and previous[0] == status else format_time()
        self._conditions[type_] = (status, since)
        cond: Obj = {
            "type": type_,
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": since,
        }
        if reason:
            cond["reason"] = reason
        if message:
            cond["message"] = message
        return cond

    def _phase(self) -> str:
        init_failed = any(
            c.done and c.state["terminated"]["exitCode"] != 0 for c in self.init_containers
        )
        if init_failed:
            return "Failed"
        if any(not c.done for c in self.init_containers):
            return "Pending"
        if any(c.never_ran for c in self.containers):
            return "Pending"
        if all(c.done for c in self.containers):
            failed = any(c.state["terminated"]["exitCode"] != 0 for c in self.containers)
            return "Failed" if failed else "Succeeded"
        return "Running"

    def _status(self) -> Obj:
        phase = self._phase()
        initialized = all(c.done for c in self.init_containers)
        waiting_init = [c.name for c in self.init_containers if not c.done]
        unready = [c.name for c in self.containers if not c.ready]
        terminal = phase in ("Succeeded", "Failed")
        if terminal:
            ready = self._condition("Ready", "False", "PodCompleted")
            containers_ready = self._condition("ContainersReady", "False", "PodCompleted")
        elif unready:
            message = f"containers with unready status: [{' '.join(unready)}]"
            ready = self._condition("Ready", "False", "ContainersNotReady", message)
            containers_ready = self._condition(
                "ContainersReady", "False", "ContainersNotReady", message
            )
        else:
            ready = self._condition("Ready", "True")
            containers_ready = self._condition("ContainersReady", "True")
        conditions = [
            self._condition("PodReadyToStartContainers", "False" if terminal else "True"),
            self._condition("Initialized", "True")
            if initialized
            else self._condition(
                "Initialized",
                "False",
                "ContainersNotInitialized",
                f"containers with incomplete status: [{' '.join(waiting_init)}]",
            ),
            ready,
            containers_ready,
            self._condition("PodScheduled", "True"),
        ]
        status: Obj = {
            "phase": phase,
            "conditions": conditions,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": self._start_time,
            "qosClass": _qos_class(self.pod),
            "containerStatuses": [c.status() for c in self.containers],
        }
        if self.init_containers:
            status["initContainerStatuses"] = [c.status() for c in self.init_containers]
        return status

    def _write_status(self, status: Obj) -> None:
        def apply(pod: Obj) -> None:
            pod["status"] = status

        self.store.mutate("pods", self.namespace, self.name, apply, subresource="status")


def _pre_stop_seconds(container: Obj) -> float:
    """How long a preStop hook would keep the container alive (sleep hooks only)."""
    hook = (container.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in hook:
        return float(hook["sleep"].get("seconds", 0))
    words = " ".join((hook.get("exec") or {}).get("command") or []).split()
    if "sleep" in words and words.index("sleep") + 1 < len(words):
        try:
            return float(words[words.index("sleep") + 1])
        except ValueError:
            return 0.0
    return 0.0


def _qos_class(pod: Obj) -> str:
    containers = pod["spec"].get("containers") or []
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        set(r.get("limits") or {}) >= {"cpu", "memory"}
        and all(
            (r.get("requests") or r.get("limits") or {}).get(k) == r["limits"][k]
            for k in ("cpu", "memory")
        )
        for r in resources
    )
    return "Guaranteed" if guaranteed else "Burstable"


class Kubelet:
    """Runs a PodWorker per pod; pods are identified by uid, so a re-created name is new."""

    def __init__(self, store: Store, state_dir: Path, clock: Clock, events: EventRecorder) -> None:
        self.store = store
        self.state_dir = state_dir
        self.clock = clock
        self.events = events
        self.groups = ProcessGroups(state_dir)
        self._workers: dict[tuple[str, str], PodWorker] = {}
        self._lock = threading.Lock()

    def sync(self, namespace: str, name: str, pod: Obj | None) -> None:
        """Make the pod ``namespace/name`` run (or stop, when ``pod`` is None)."""
        with self._lock:
            worker = self._workers.get((namespace, name))
            if worker and (pod is None or worker.uid != pod["metadata"]["uid"]):
                worker.stop(forget=True)
                del self._workers[(namespace, name)]
                worker = None
            if pod is None or worker is not None:
                return
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                return
            if pod["spec"].get("nodeName") != NODE_NAME:
                return  # not bound to this node (yet): the scheduler decides
            worker = PodWorker(self, pod)
            self._workers[(namespace, name)] = worker
        worker.start()

    def stop(self) -> None:
        """End every pod's processes and wait for it."""
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        for worker in workers:
            worker.stop()
        for worker in workers:
            worker.thread.join(timeout=MAX_GRACE_SECONDS + MAX_PRESTOP_SECONDS + 5)
        self.groups.kill_all()
