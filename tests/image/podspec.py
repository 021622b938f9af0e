"""A rendered pod template as `docker run` options: what the kubelet would ask its runtime.

Everything comes from the manifests (the container's command, user, groups, read-only root,
capabilities, privilege escalation, seccomp, CPU and memory, environment, volumes, probes and
grace period), so a change there changes how the image test runs the container. What Docker
has no word for is refused with a message rather than silently dropped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tests.manifests.rendering import Manifest, Rendering

# Kubernetes' default when a pod does not say.
DEFAULT_GRACE_SECONDS = 30


class Unsupported(Exception):
    """A field of the pod spec that this translation cannot honour."""


@dataclass(frozen=True)
class Probe:
    """An httpGet probe: where, how often, how long each try may take, how many may fail."""

    path: str
    port: int
    period: float
    timeout: float
    failures: int
    initial_delay: float

    @property
    def budget(self) -> float:
        """The longest the kubelet waits for a success before it acts (restart or unready)."""
        return self.initial_delay + self.period * self.failures


@dataclass(frozen=True)
class PodRun:
    """One container of a pod, ready for `docker run [options] image [argv]`."""

    name: str
    image: str
    command: list[str]
    env: dict[str, str]
    options: list[str]
    argv: list[str]
    ports: dict[str, int] = field(default_factory=dict)
    probes: dict[str, Probe] = field(default_factory=dict)
    grace_seconds: int = DEFAULT_GRACE_SECONDS


def quantity_cpus(value: str) -> str:
    """A CPU quantity ("500m", "1", "1.5") as Docker's --cpus."""
    text = str(value)
    cores = int(text[:-1]) / 1000 if text.endswith("m") else float(text)
    return f"{cores:g}"


BINARY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
DECIMAL_SUFFIXES = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def quantity_bytes(value: str) -> int:
    """A memory or storage quantity ("512Mi", "1G", "1000") in bytes."""
    text = str(value)
    for suffixes in (BINARY_SUFFIXES, DECIMAL_SUFFIXES):
        for suffix, factor in suffixes.items():
            if text.endswith(suffix):
                return int(float(text[: -len(suffix)]) * factor)
    return int(text)


def cpu_shares(value: str) -> int:
    """The kubelet's cgroup cpu.shares for a CPU request (milliCPU * 1024 / 1000, at least 2)."""
    return max(2, int(float(quantity_cpus(value)) * 1024))


def environment(
    container: Manifest, rendering: Rendering, secrets: dict[str, dict[str, str]]
) -> dict[str, str]:
    """envFrom in order, then env on top, as the kubelet builds a container's environment."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            ref = source["configMapRef"]
            names = rendering.names("ConfigMap")
            data = (
                rendering.get("ConfigMap", ref["name"]).get("data", {})
                if ref["name"] in names
                else None
            )
        else:
            ref = source["secretRef"]
            data = secrets.get(ref["name"])
        if data is None:
            if ref.get("optional", False):
                continue
            raise Unsupported(f"{ref['name']!r} is neither rendered nor given, and not optional")
        env.update({prefix + key: str(value) for key, value in data.items()})
    for variable in container.get("env", []):
        if "value" not in variable:
            raise Unsupported(f"env {variable['name']}: only literal values are translated")
        env[variable["name"]] = str(variable["value"])
    return env


def security_options(pod_security: Manifest, container_security: Manifest) -> list[str]:
    """User, groups, root filesystem, capabilities, privilege escalation and seccomp."""
    merged = {**pod_security, **container_security}
    options: list[str] = []
    user, group = merged.get("runAsUser"), merged.get("runAsGroup")
    if merged.get("runAsNonRoot") and (user is None or int(user) == 0):
        raise Unsupported("runAsNonRoot needs a non-zero runAsUser here (the image is not read)")
    if user is not None:
        options += ["--user", f"{user}:{group}" if group is not None else str(user)]
    # fsGroup and supplementalGroups are the process's extra groups, as in a pod.
    for extra in [pod_security.get("fsGroup"), *pod_security.get("supplementalGroups", [])]:
        if extra is not None:
            options += ["--group-add", str(extra)]
    if container_security.get("readOnlyRootFilesystem"):
        options.append("--read-only")
    if container_security.get("privileged"):
        options.append("--privileged")
    capabilities = container_security.get("capabilities", {})
    options += [arg for cap in capabilities.get("drop", []) for arg in ("--cap-drop", cap)]
    options += [arg for cap in capabilities.get("add", []) for arg in ("--cap-add", cap)]
    if container_security.get("allowPrivilegeEscalation") is False:
        options += ["--security-opt", "no-new-privileges"]
    seccomp = merged.get("seccompProfile", {}).get("type", "RuntimeDefault")
    if seccomp == "Unconfined":
        options += ["--security-opt", "seccomp=unconfined"]
    elif seccomp != "RuntimeDefault":  # Docker's default profile is the runtime's default
        raise Unsupported(f"seccompProfile {seccomp}")
    return options


def resource_options(resources: Manifest) -> list[str]:
    limits, requests = resources.get("limits", {}), resources.get("requests", {})
    options: list[str] = []
    if "cpu" in limits:
        options += ["--cpus", quantity_cpus(limits["cpu"])]
    if "memory" in limits:
        # No swap on top, as the kubelet runs pods.
        memory = str(quantity_bytes(limits["memory"]))
        options += ["--memory", memory, "--memory-swap", memory]
    if "cpu" in requests:
        options += ["--cpu-shares", str(cpu_shares(requests["cpu"]))]
    return options


def prepare_volume_root(path: Path, fs_group: int | None) -> None:
    """What the kubelet does to a volume for fsGroup: group-owned, group-writable, setgid."""
    path.mkdir(parents=True, exist_ok=True)
    if fs_group is None:
        return
    try:
        os.chown(path, -1, fs_group)
        path.chmod(path.stat().st_mode | 0o2770)
    except PermissionError:
        # Not root: the folder cannot be given the group, so anyone may write it instead.
        path.chmod(0o777)


def volume_options(spec: Manifest, container: Manifest, claims: dict[str, Path]) -> list[str]:
    """Claims as bind mounts of host folders (subPath and readOnly included), emptyDirs as
    tmpfs of their sizeLimit."""
    volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
    options: list[str] = []
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        target = mount["mountPath"]
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            if claim not in claims:
                raise Unsupported(f"no host folder given for the claim {claim!r}")
            source = claims[claim]
            if mount.get("subPath"):
                source = source / mount["subPath"]
                # The kubelet creates a missing subPath with the mode of the volume's root.
                if not source.exists():
                    source.mkdir(parents=True)
                    source.chmod(claims[claim].stat().st_mode & 0o7777)
            readonly = mount.get("readOnly", False) or volume["persistentVolumeClaim"].get(
                "readOnly", False
            )
            options += [
                "--mount",
                f"type=bind,source={source},target={target}" + (",readonly" if readonly else ""),
            ]
        elif "emptyDir" in volume:
            if mount.get("subPath") or mount.get("readOnly"):
                raise Unsupported(f"{target}: subPath or readOnly on an emptyDir")
            size = volume["emptyDir"].get("sizeLimit")
            # An emptyDir is a fresh folder anyone may write, and may execute from.
            tmpfs = "rw,exec,mode=1777" + (f",size={quantity_bytes(size)}" if size else "")
            options += ["--tmpfs", f"{target}:{tmpfs}"]
        else:
            raise Unsupported(f"volume {mount['name']!r}: only claims and emptyDirs are translated")
    return options


def probe(container: Manifest, spec: Manifest) -> Probe:
    if "httpGet" not in spec:
        raise Unsupported("only httpGet probes are translated")
    port = spec["httpGet"]["port"]
    if isinstance(port, str):
        [port] = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    return Probe(
        path=spec["httpGet"].get("path", "/"),
        port=int(port),
        period=float(spec.get("periodSeconds", 10)),
        timeout=float(spec.get("timeoutSeconds", 1)),
        failures=int(spec.get("failureThreshold", 3)),
        initial_delay=float(spec.get("initialDelaySeconds", 0)),
    )


def pod_run(
    rendering: Rendering,
    kind: str,
    name: str,
    claims: dict[str, Path],
    secrets: dict[str, dict[str, str]] | None = None,
    env_set: dict[str, str] | None = None,
) -> PodRun:
    """The one container of workload `kind`/`name` as `docker run` options.

    `claims` maps each PersistentVolumeClaim to the host folder standing for its volume;
    `secrets` holds the Secrets the cluster would have (`make secret`), by name; `env_set`
    is what `kubectl set env` would add to the container's env.
    """
    workload = rendering.get(kind, name)
    template = rendering.pod_template(kind, name)
    spec = template["spec"]
    container = dict(rendering.container(kind, name))
    if env_set:
        kept = [v for v in container.get("env", []) if v["name"] not in env_set]
        container["env"] = kept + [{"name": k, "value": v} for k, v in env_set.items()]
    for claim in claims.values():
        prepare_volume_root(claim, spec.get("securityContext", {}).get("fsGroup"))
    env = environment(container, rendering, secrets or {})
    job = workload["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else workload["spec"]
    if kind in ("Job", "CronJob") and job.get("completionMode") == "Indexed":
        # The Job controller gives each pod of an Indexed Job its index; this is pod 0.
        env.setdefault("JOB_COMPLETION_INDEX", "0")
    options = [
        *security_options(spec.get("securityContext", {}), container.get("securityContext", {})),
        *resource_options(container.get("resources", {})),
        *volume_options(spec, container, claims),
        *[arg for key, value in env.items() for arg in ("--env", f"{key}={value}")],
        "--stop-timeout",
        str(spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)),
    ]
    # `command` replaces the image's ENTRYPOINT and CMD, `args` only its CMD.
    command, args = container.get("command", []), container.get("args", [])
    argv = [*command[1:], *args]
    if command:
        options += ["--entrypoint", command[0]]
    return PodRun(
        name=container["name"],
        image=container["image"],
        command=command,
        env=env,
        options=options,
        argv=argv,
        ports={
            p.get("name", str(p["containerPort"])): p["containerPort"]
            for p in container.get("ports", [])
        },
        probes={
            kind: probe(container, container[f"{kind}Probe"])
            for kind in ("startup", "readiness", "liveness")
            if f"{kind}Probe" in container
        },
        grace_seconds=int(spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)),
    )


def host_path(
    rendering: Rendering, kind: str, name: str, claims: dict[str, Path], path: str
) -> Path:
    """The host folder behind `path` inside the container: the claim's folder under the
    deepest volumeMount that holds it."""
    spec = rendering.pod_template(kind, name)["spec"]
    volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
    inside = PurePosixPath(path)
    mounts = sorted(
        rendering.container(kind, name).get("volumeMounts", []),
        key=lambda mount: len(PurePosixPath(mount["mountPath"]).parts),
        reverse=True,
    )
    for mount in mounts:
        target = PurePosixPath(mount["mountPath"])
        claim = volumes[mount["name"]].get("persistentVolumeClaim", {}).get("claimName")
        if claim in claims and (inside == target or target in inside.parents):
            return claims[claim] / mount.get("subPath", "") / inside.relative_to(target)
    raise Unsupported(f"{path} is on no volume claim of {kind}/{name}")
