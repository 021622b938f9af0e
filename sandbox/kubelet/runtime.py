"""The sandbox's kubelet: runs each pod's containers as local process groups.

A ``PodWorker`` thread per pod schedules it (PVCs must exist), sets up its volumes, gives it
its own loopback address (sandbox.podnetwork), checks each image is on the node
(sandbox.images), starts the containers, each in its own view of the filesystem
(sandbox.containerview), reads their output into per-instance logs, runs their probes,
restarts them as restartPolicy says (with the kubelet's back-off) and reports all of it in the
pod's status.
A graceful delete runs preStop, SIGTERMs each process group, waits out the grace period,
SIGKILLs, then removes the pod object; a pod gone from the API is killed at once.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

import psutil

from sandbox import paths
from sandbox.apimachinery.errors import ApiError
from sandbox.clock import Clock, format_time, format_time_nano
from sandbox.events import EventRecorder
from sandbox.kubelet import containerview, images, podspec, probes
from sandbox.kubelet.backoff import Backoff, go_duration
from sandbox.kubelet.containerview import ContainerView
from sandbox.kubelet.podnetwork import DEFAULT_CIDR, NoAddressError, PodNetwork
from sandbox.kubelet.probes import ProbeState
from sandbox.resources import NODE_NAME
from sandbox.storage.store import Store

log = logging.getLogger(__name__)

Obj = dict[str, Any]

SHUTDOWN_GRACE_SECONDS = 3.0  # what each pod gets when the sandbox itself stops
MIN_GRACE_SECONDS = 2.0  # kuberuntime minimumGracePeriodInSeconds, also after preStop
# containerd's words (through runc) for a command it cannot exec; its exit code is 128
START_ERROR = (
    "failed to create containerd task: failed to create shim task: OCI runtime create failed: "
    'runc create failed: unable to start container process: exec: "{program}": {why}: unknown'
)
NEVER_STARTED = "1970-01-01T00:00:00Z"  # containerd's startedAt of a container that never ran
TICK = 0.1
RESYNC = 10.0  # how soon the kubelet's pod worker retries a pod whose sync failed, in seconds


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
        self.state: Obj = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: Obj = {}
        self.ready = False
        self.started = False
        self.done = False  # terminated for good
        self.process: subprocess.Popen[bytes] | None = None
        self.container_id: str | None = None
        self.start_at = 0.0  # monotonic time of the next start attempt
        # sandbox time the last run ended, while a restart is due; None otherwise
        self.exited_at: float | None = None
        self._last_terminated: Obj | None = None
        self._in_backoff = False
        meta = worker.pod["metadata"]
        # the kubelet's stable key: the same pod and container share one back-off
        self.backoff_key = f"{meta['name']}_{meta['namespace']}_{meta['uid']}_{self.name}"
        self.probes: dict[str, ProbeState] = {}
        self.image_ref = ""  # the image as the runtime names it, once it is on the node
        self._env: dict[str, str] = {}
        self._view: ContainerView | None = None
        self._log_threads: list[threading.Thread] = []
        self._log_file: IO[str] | None = None

    # ---- lifecycle

    def resume(self, status: Obj) -> None:
        """Carry on from a run the sandbox lost when it stopped, as a rebooted node does."""
        if "containerID" not in status:
            return
        self.restart_count = int(status.get("restartCount", 0)) + 1
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
            if now >= self.start_at and not self._backing_off():
                self._start(now)
            return
        code = self.process.poll()
        if code is None:
            self._probe(now)
        else:
            self._exited(code, now)

    def _backing_off(self) -> bool:
        """kuberuntime doBackOff: a restart waits out the window that began when the last run
        ended; the first restart (no window yet) is at once, each later one doubles it."""
        if self.exited_at is None:
            return False
        backoff = self.worker.kubelet.restart_backoff
        if backoff.in_backoff_since(self.backoff_key, self.exited_at):
            if not self._in_backoff:
                self._in_backoff = True
                pod = f"{self.worker.name}_{self.worker.namespace}({self.worker.uid})"
                window = go_duration(backoff.get(self.backoff_key))
                self.last_state = {"terminated": self._last_terminated}
                self.state = {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": f"back-off {window} restarting failed "
                        f"container={self.name} pod={pod}",
                    }
                }
                self.worker.event(
                    "BackOff",
                    f"Back-off restarting failed container {self.name} in pod {pod}",
                    type="Warning",
                    container=self.name,
                )
            return True
        backoff.next(self.backoff_key, self.exited_at)
        self._in_backoff = False
        return False

    def _ensure_image(self, now: float) -> bool:
        """images.EnsureImageExists, then the "Error: <reason>" kuberuntime adds on failure."""
        worker, kubelet = self.worker, self.worker.kubelet
        image = self.spec.get("image", "")
        policy = self.spec.get("imagePullPolicy") or _default_pull_policy(image)
        kubelet.refresh_node_images()
        present = kubelet.images.has(image)
        if policy == "Never" or (policy == "IfNotPresent" and present):
            if present:
                message = f'Container image "{image}" already present on machine'
                worker.event("Pulled", message, container=self.name)
                self.image_ref = images.normalize(image)
                return True
            message = f'Container image "{image}" is not present with pull policy of Never'
            worker.event("ErrImageNeverPull", message, type="Warning", container=self.name)
            return self._image_failed("ErrImageNeverPull", message, now, RESYNC)
        backoff, key = kubelet.image_backoff, f"{worker.uid}_{image}"
        if backoff.in_backoff_since_update(key, backoff.now()):
            message = f'Back-off pulling image "{image}"'
            worker.event("BackOff", message, container=self.name)
            left = backoff.remaining(key, backoff.last_update(key))
            return self._image_failed("ImagePullBackOff", message, now, min(RESYNC, left))
        worker.event("Pulling", f'Pulling image "{image}"', container=self.name)
        error = images.pull_error(image)
        failed = f'Failed to pull image "{image}": {error}'
        worker.event("Failed", failed, type="Warning", container=self.name)
        backoff.next(key, backoff.now())
        # the status update that follows a failed sync comes round at once, already backing off
        return self._image_failed("ErrImagePull", error, now, 1.0)

    def _image_failed(self, reason: str, message: str, now: float, retry: float) -> bool:
        self.worker.event("Failed", f"Error: {reason}", type="Warning", container=self.name)
        self.state = {"waiting": {"reason": reason, "message": message}}
        self.start_at = now + self.worker.clock.real_seconds(max(retry, 1.0))
        return False

    def _start(self, now: float) -> None:
        worker = self.worker
        if not self._ensure_image(now):
            return
        view = worker.view(self.spec)
        try:
            env = podspec.environment(
                worker.store,
                worker.pod,
                self.spec,
                view.rewritten,
                worker.ip,
                view.tmp,
                host_ip=worker.kubelet.network().node_address,
            )
            argv = podspec.argv(self.spec, env, view.rewritten)
        except podspec.ConfigError as error:
            self.state = {
                "waiting": {"reason": "CreateContainerConfigError", "message": str(error)}
            }
            worker.event("Failed", f"Error: {error}", type="Warning", container=self.name)
            self.start_at = now + 1.0
            return
        if self.exited_at is not None:
            self.restart_count += 1
            self.exited_at = None
            self.last_state = {"terminated": self._last_terminated}
        worker.event("Created", f"Created container: {self.name}", container=self.name)
        try:
            process = view.popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            message = _start_error(argv[0], error)
            worker.event("Failed", f"Error: {message}", type="Warning", container=self.name)
            self._finished(128, "StartError", now, message=message, started_at=NEVER_STARTED)
            return
        worker.kubelet.groups.add(process.pid)
        self.container_id = f"sandbox://{process.pid}"
        # the output waits in the pipes until the pumps below copy it here
        log_file = paths.log_path(
            worker.state_dir,
            worker.namespace,
            worker.name,
            worker.uid,
            self.name,
            self.container_id,
        )
        log_file.parent.mkdir(parents=True, exist_ok=True)
        sink = log_file.open("a")
        self.process, self._env, self._view, self._log_file = process, env, view, sink
        lock = threading.Lock()
        assert process.stdout is not None and process.stderr is not None
        self._log_threads = [
            threading.Thread(target=_pump, args=(stream, sink, lock), daemon=True)
            for stream in (process.stdout, process.stderr)
        ]
        for thread in self._log_threads:
            thread.start()
        self.state = {"running": {"startedAt": format_time()}}
        self.ready = False
        self.started = "startupProbe" not in self.spec
        self.probes = {
            kind: ProbeState(self.spec[kind], now)
            for kind in ("startupProbe", "livenessProbe", "readinessProbe")
            if kind in self.spec and not self.init
        }
        worker.event("Started", f"Started container {self.name}", container=self.name)

    def _ports(self) -> list[Obj]:
        return list(self.spec.get("ports") or [])

    def _probe(self, now: float) -> None:
        named = {p["name"]: p["containerPort"] for p in self._ports() if p.get("name")}
        for kind, state in self.probes.items():
            if not state.due(now):
                continue
            if kind != "startupProbe" and not self.started:
                continue
            if kind == "startupProbe" and self.started:
                continue
            ok, message = probes.run(state.spec, self.worker.ip, named, self._env, self._view)
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
        # shown until the next sync restarts it or backs off; a run that never started is
        # RunContainerError (the kubelet's reason cache) over the StartError it left
        self.exited_at = self.worker.kubelet.restart_backoff.now()
        self._last_terminated = terminated
        if reason == "StartError":
            self.last_state = {"terminated": terminated}
            self.state = {"waiting": {"reason": "RunContainerError", "message": message}}
        else:
            self.state = {"terminated": terminated}

    def terminate(self, grace: float = MIN_GRACE_SECONDS) -> None:
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

    def run_pre_stop(self, timeout: float) -> None:
        """The preStop hook, run here as the kubelet would in the container: sleep, exec or
        httpGet, given at most ``timeout`` seconds; a failure is a FailedPreStopHook event."""
        hook = (self.spec.get("lifecycle") or {}).get("preStop") or {}
        if "sleep" in hook:
            time.sleep(min(float(hook["sleep"].get("seconds", 0)), timeout))
            return
        if not ("exec" in hook or "httpGet" in hook or "tcpSocket" in hook):
            return
        named = {p["name"]: p["containerPort"] for p in self._ports() if p.get("name")}
        action = {**hook, "timeoutSeconds": timeout}
        ok, message = probes.run(action, self.worker.ip, named, self._env, self._view)
        if not ok:
            kind = "Exec" if "exec" in hook else "HTTP"
            self.worker.event(
                "FailedPreStopHook",
                f'{kind} lifecycle hook for Container "{self.name}" in Pod '
                f'"{self.worker.name}_{self.worker.namespace}({self.worker.uid})" failed - '
                f"error: {message}",
                type="Warning",
                container=self.name,
            )

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
            "image": self.image_ref or self.spec.get("image", ""),
            "imageID": images.image_id(self.image_ref) if self.image_ref else "",
            "started": self.started,
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status

    @property
    def never_ran(self) -> bool:
        return self.container_id is None and self._last_terminated is None


def _start_error(program: str, error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        why = (
            f"stat {program}: no such file or directory"
            if "/" in program
            else ("executable file not found in $PATH")
        )
    elif isinstance(error, PermissionError):
        why = "permission denied"
    else:
        why = error.strerror or str(error)
    return START_ERROR.format(program=program, why=why)


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
        self.grace: float | None = None  # set when the pod is deleted: its grace period
        self.deleted = False  # the API object is being deleted: remove it once stopped
        self.volumes: dict[str, Path] = {}
        self.ip = ""  # the pod's address, once its sandbox is set up
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

    def stop(self, *, forget: bool = False, grace: float | None = None) -> None:
        """Ask the worker to end the pod's processes (it does so in its own thread).

        ``forget``: the pod was deleted, so its emptyDir and other scratch dirs go too.
        ``grace``: the deletion's grace period (else the sandbox is stopping: a short one).
        """
        self.forget = self.forget or forget
        if grace is not None:
            self.grace = grace if self.grace is None else min(self.grace, grace)
        self.stopping.set()
        if forget and not self.thread.is_alive():
            self._remove_scratch()

    def _remove_scratch(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)
        logs = paths.pod_logs_dir(self.state_dir, self.namespace, self.name, self.uid)
        shutil.rmtree(logs, ignore_errors=True)

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
            self.kubelet.network().release(self.uid)
            if self.deleted:
                self._finish_deletion()
                self.forget = True
            if self.forget:
                self._remove_scratch()

    def _finish_deletion(self) -> None:
        """Every container has stopped: the kubelet deletes the pod for good (grace 0)."""
        try:
            current = self.store.get("pods", self.namespace, self.name)
        except ApiError:
            return
        if current["metadata"].get("uid") == self.uid:
            with contextlib.suppress(ApiError):
                self.store.delete("pods", self.namespace, self.name)

    def _wait(self, seconds: float) -> bool:
        """Sleep unless asked to stop; True when stopping."""
        return self.stopping.wait(seconds)

    def _schedule(self) -> bool:
        """The scheduler (sandbox/scheduler/) bound the pod: the kubelet only records when."""
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
        ports = [
            port["containerPort"]
            for container in self.pod["spec"].get("containers") or []
            for port in container.get("ports") or []
            if port.get("protocol", "TCP") == "TCP"
        ]
        previous = (self.pod.get("status") or {}).get("podIP") or ""
        while True:
            try:
                self.ip = self.kubelet.network().allocate(self.uid, ports, previous)
                return True
            except NoAddressError as error:
                message = f"Failed to create pod sandbox: {error}"
                self.event("FailedCreatePodSandBox", message, type="Warning")
                if self._wait(RESYNC):
                    return False

    def view(self, container: Obj) -> ContainerView:
        """The filesystem a container of this pod sees."""
        mounts = podspec.mounts(container, self.volumes)
        root = paths.view_root(self.state_dir)
        return ContainerView(mounts, self.tmpdir, container.get("workingDir") or "", root)

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
        """End every process of the pod: preStop, SIGTERM, the rest of the grace period, SIGKILL.

        As kuberuntime killContainer: the preStop hook gets up to the whole grace period,
        SIGTERM what is left of it, and never less than two seconds.
        """
        running = [c for c in self.init_containers + self.containers if c.process is not None]
        if not running:
            return
        if self.grace is None:
            spec_grace = float(self.pod["spec"].get("terminationGracePeriodSeconds", 30))
            grace = min(spec_grace, SHUTDOWN_GRACE_SECONDS)
        else:
            grace = self.grace
        grace = max(grace, MIN_GRACE_SECONDS)
        deadline = time.monotonic() + grace
        for container in running:
            self.event("Killing", f"Stopping container {container.name}", container=container.name)

        def stop(container: ContainerRun) -> None:
            container.run_pre_stop(grace)
            container.terminate(max(deadline - time.monotonic(), MIN_GRACE_SECONDS))

        threads = [threading.Thread(target=stop, args=(c,), daemon=True) for c in running]
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
            "hostIP": self.kubelet.network().node_address,
            "hostIPs": [{"ip": self.kubelet.network().node_address}],
            **({"podIP": self.ip, "podIPs": [{"ip": self.ip}]} if self.ip else {}),
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


def _default_pull_policy(image: str) -> str:
    """The API server's default, for a pod stored without one."""
    tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
    return "IfNotPresent" if tagged and not image.endswith(":latest") else "Always"


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
        self.restart_backoff = Backoff(clock)
        self.image_backoff = Backoff(clock)
        self.images = images.ImageStore(state_dir)
        self._node_images: list[str] | None = None
        self._network: PodNetwork | None = None
        self._network_lock = threading.Lock()
        paths.view_root(state_dir).mkdir(parents=True, exist_ok=True)
        containerview.available()  # found out (and, when not, said) once, at the start
        self._workers: dict[tuple[str, str], PodWorker] = {}
        self._lock = threading.Lock()

    def sync(self, namespace: str, name: str, pod: Obj | None) -> None:
        """Make the pod ``namespace/name`` run (or stop, when ``pod`` is None)."""
        with self._lock:
            worker = self._workers.get((namespace, name))
            if worker and (pod is None or worker.uid != pod["metadata"]["uid"]):
                # gone from the API (forced, or its namespace went): kill it now
                worker.stop(forget=True, grace=MIN_GRACE_SECONDS)
                self.restart_backoff.forget(f"{name}_{namespace}_{worker.uid}_")
                del self._workers[(namespace, name)]
                worker = None
            deleting = pod is not None and bool(pod["metadata"].get("deletionTimestamp"))
            if pod is not None and deleting and worker is not None:
                grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
                worker.deleted = True
                worker.stop(grace=grace)
                return
            if pod is None or worker is not None:
                return
            if deleting:
                # nothing of it runs here (any more): only the final delete is left
                with contextlib.suppress(ApiError):
                    self.store.delete("pods", namespace, name)
                return
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                return
            if pod["spec"].get("nodeName") != NODE_NAME:
                return  # not bound to this node (yet): the scheduler decides
            worker = PodWorker(self, pod)
            self._workers[(namespace, name)] = worker
        worker.start()

    def network(self) -> PodNetwork:
        """The IPAM of the node's podCIDR (read once: the node outlives the kubelet's start)."""
        with self._network_lock:
            if self._network is None:
                try:
                    cidr = self.store.get("nodes", None, NODE_NAME)["spec"].get("podCIDR")
                except (ApiError, KeyError):
                    cidr = None
                self._network = PodNetwork(cidr or DEFAULT_CIDR)
            return self._network

    def refresh_node_images(self) -> None:
        """Keep node status.images in step with the image store (a load while running)."""
        names = self.images.names()
        if names == self._node_images:
            return
        self._node_images = names

        def update(node: Obj) -> None:
            node.setdefault("status", {})["images"] = [{"names": [name]} for name in names]

        with contextlib.suppress(ApiError):
            self.store.mutate("nodes", None, NODE_NAME, update, subresource="status")

    def stop(self) -> None:
        """End every pod's processes and wait for it."""
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        for worker in workers:
            worker.stop()
        for worker in workers:
            worker.thread.join(timeout=SHUTDOWN_GRACE_SECONDS + 5)
        self.groups.kill_all()
