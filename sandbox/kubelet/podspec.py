"""Turn a pod spec into what a local process needs: volume dirs, environment, argv.

The image is not run: commands are looked up first in the directory of the sandbox's own
Python (the project's environment). Where a container cannot have its own view of the
filesystem (sandbox.containerview), every path under a volume's mountPath is rewritten to the
local directory that backs the volume.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import paths
from sandbox.apimachinery.errors import ApiError
from sandbox.storage.store import Store

Obj = dict[str, Any]

TOOLS_DIR = Path(sys.executable).parent
# Variables a process needs from the machine itself; everything else comes from the spec.
PASSED_THROUGH = ("LANG", "LC_ALL", "TZ", "PYTHONPATH", "COVERAGE_PROCESS_START")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_REFERENCE = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")
_FIELD_KEY = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


class ConfigError(Exception):
    """A container's config cannot be built yet (kubelet: CreateContainerConfigError)."""


class MountError(Exception):
    """A volume cannot be set up yet (kubelet: FailedMount, the pod stays ContainerCreating)."""


@dataclass(frozen=True)
class Mount:
    mount_path: str
    local: Path
    read_only: bool = False


def _source(store: Store, resource: str, namespace: str, name: str) -> Obj | None:
    try:
        return store.get(resource, namespace, name)
    except ApiError as error:
        if error.code == 404:
            return None
        raise


def _data(obj: Obj, resource: str) -> dict[str, str]:
    """Key -> text of a ConfigMap or Secret (secret data is base64 in the API)."""
    if resource == "configmaps":
        data = dict(obj.get("data") or {})
        for key, value in (obj.get("binaryData") or {}).items():
            data[key] = base64.b64decode(value).decode(errors="replace")
        return data
    data = {
        key: base64.b64decode(value).decode(errors="replace")
        for key, value in (obj.get("data") or {}).items()
    }
    data.update(obj.get("stringData") or {})
    return data


def _kind(resource: str) -> str:
    return "configmap" if resource == "configmaps" else "secret"


def _claim_dir(store: Store, namespace: str, claim: str) -> Path:
    """The folder of the PersistentVolume bound to ``claim``: its hostPath."""
    pvc = _source(store, "persistentvolumeclaims", namespace, claim)
    if pvc is None:
        raise MountError(f'persistentvolumeclaim "{claim}" not found')
    if pvc["metadata"].get("deletionTimestamp"):
        raise MountError(f'persistentvolumeclaim "{claim}" is being deleted')
    volume = (pvc.get("spec") or {}).get("volumeName")
    pv = _source(store, "persistentvolumes", "", volume) if volume else None
    path = (((pv or {}).get("spec") or {}).get("hostPath") or {}).get("path")
    if not path:
        raise MountError(f'persistentvolumeclaim "{claim}" is not bound')
    return Path(path)


def volume_dirs(store: Store, state_dir: Path, pod: Obj) -> dict[str, Path]:
    """Create the local directory of every volume of ``pod``; name -> directory."""
    meta = pod["metadata"]
    namespace, pod_name = meta["namespace"], meta["name"]
    scratch = paths.pod_dir(state_dir, namespace, pod_name, meta["uid"]) / "volumes"
    dirs: dict[str, Path] = {}
    for volume in pod["spec"].get("volumes") or []:
        name = volume["name"]
        if "persistentVolumeClaim" in volume:
            local = _claim_dir(store, namespace, volume["persistentVolumeClaim"]["claimName"])
        elif "hostPath" in volume:
            local = Path(volume["hostPath"]["path"])
        else:
            local = scratch / name
        for resource, field, name_field in (
            ("configmaps", "configMap", "name"),
            ("secrets", "secret", "secretName"),
        ):
            if field in volume:
                _write_files(store, resource, namespace, volume[field], name_field, local)
        local.mkdir(parents=True, exist_ok=True)
        dirs[name] = local
    return dirs


def _write_files(
    store: Store, resource: str, namespace: str, source: Obj, name_field: str, local: Path
) -> None:
    obj = _source(store, resource, namespace, source.get(name_field, ""))
    if obj is None:
        if source.get("optional"):
            return
        raise MountError(f'{_kind(resource)} "{source.get(name_field)}" not found')
    data = _data(obj, resource)
    items = source.get("items") or [{"key": key, "path": key} for key in data]
    mode = source.get("defaultMode", 0o644)
    local.mkdir(parents=True, exist_ok=True)
    for item in items:
        if item["key"] not in data:
            if source.get("optional"):
                continue
            raise MountError(
                f"configmap references non-existent config key: {item['key']}"
                if resource == "configmaps"
                else f"references non-existent secret key: {item['key']}"
            )
        target = local / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(data[item["key"]])
        target.chmod(item.get("mode", mode) & 0o777)


def mounts(container: Obj, dirs: dict[str, Path]) -> list[Mount]:
    """The container's mounts, longest mountPath first (so nested mounts win)."""
    result = []
    for mount in container.get("volumeMounts") or []:
        local = dirs.get(mount["name"])
        if local is None:
            continue
        if mount.get("subPath"):
            local = local / mount["subPath"]
            if not local.exists():  # the kubelet creates a missing subPath as a directory
                local.mkdir(parents=True)
        path = mount["mountPath"].rstrip("/") or "/"
        result.append(Mount(path, local, bool(mount.get("readOnly"))))
    return sorted(result, key=lambda m: len(m.mount_path), reverse=True)


def local_path(value: str, container_mounts: list[Mount]) -> str:
    """``value`` with a leading mountPath replaced by the directory that backs it."""
    for mount in container_mounts:
        if value == mount.mount_path:
            return str(mount.local)
        if value.startswith(mount.mount_path + "/"):
            return str(mount.local) + value[len(mount.mount_path) :]
    return value


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes $(VAR) expansion: known variables are replaced, $$ escapes a dollar."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, text)


def _field(pod: Obj, path: str, pod_ip: str, host_ip: str) -> str:
    meta, spec = pod["metadata"], pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName") or "sandbox",
        "spec.serviceAccountName": spec.get("serviceAccountName") or "default",
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return str(simple[path] or "")
    if match := _FIELD_KEY.match(path):
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise ConfigError(f'unsupported fieldRef fieldPath "{path}"')


def _key_ref(store: Store, namespace: str, resource: str, ref: Obj) -> str | None:
    obj = _source(store, resource, namespace, ref.get("name", ""))
    kind = "ConfigMap" if resource == "configmaps" else "Secret"
    if obj is None:
        if ref.get("optional"):
            return None
        raise ConfigError(f'{_kind(resource)} "{ref.get("name")}" not found')
    data = _data(obj, resource)
    if ref.get("key") not in data:
        if ref.get("optional"):
            return None
        where = f"{kind} {namespace}/{ref.get('name')}"
        raise ConfigError(f"couldn't find key {ref.get('key')} in {where}")
    return data[ref["key"]]


def environment(
    store: Store,
    pod: Obj,
    container: Obj,
    container_mounts: list[Mount],
    pod_ip: str,
    tmpdir: Path,
    *,
    host_ip: str,
) -> dict[str, str]:
    """The process environment of ``container``; ConfigError while a reference is missing.

    ``container_mounts``: the mounts whose paths the process only finds rewritten (none when
    it runs in the container's own view); ``tmpdir``: its /tmp as it names it; ``host_ip``:
    the node's address (status.hostIP).
    """
    namespace = pod["metadata"]["namespace"]
    base = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    base.update(
        PATH=f"{TOOLS_DIR}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        HOME=str(tmpdir),
        HOSTNAME=pod["metadata"]["name"],
        # Images of Python services set this; without it `kubectl logs -f` would lag.
        PYTHONUNBUFFERED="1",
    )
    env = dict(base)
    declared: set[str] = set()
    for source in container.get("envFrom") or []:
        for resource, field in (("configmaps", "configMapRef"), ("secrets", "secretRef")):
            if field not in source:
                continue
            ref = source[field]
            obj = _source(store, resource, namespace, ref.get("name", ""))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{_kind(resource)} "{ref.get("name")}" not found')
            for key, text in _data(obj, resource).items():
                name = source.get("prefix", "") + key
                if _ENV_NAME.match(name):
                    env[name] = text
                    declared.add(name)
    for var in container.get("env") or []:
        value: str | None
        if "valueFrom" not in var:
            value = expand(var.get("value", ""), env)
        else:
            source = var["valueFrom"]
            if "configMapKeyRef" in source:
                value = _key_ref(store, namespace, "configmaps", source["configMapKeyRef"])
            elif "secretKeyRef" in source:
                value = _key_ref(store, namespace, "secrets", source["secretKeyRef"])
            elif "fieldRef" in source:
                value = _field(pod, source["fieldRef"]["fieldPath"], pod_ip, host_ip)
            else:
                value = _resource_field(container, source.get("resourceFieldRef") or {})
        if value is not None:
            env[var["name"]] = value
            declared.add(var["name"])
    # Only what the pod spec declares names paths inside the container; the sandbox's own
    # variables (PATH, HOME) are already local and may well start with a mountPath like /tmp.
    env = {
        name: local_path(value, container_mounts) if name in declared else value
        for name, value in env.items()
    }
    # The pod's own address: a process that listens where HOST and PORT say (as the kit's
    # service does) answers on podIP:containerPort, where endpoints and probes look.
    env["HOST"] = pod_ip
    ports = [p["containerPort"] for p in container.get("ports") or []]
    if ports:
        env["PORT"] = str(ports[0])
    env["TMPDIR"] = str(tmpdir)
    return env


def _resource_field(container: Obj, ref: Obj) -> str:
    """limits/requests as the downward API gives them: whole cores, bytes (0 when unset)."""
    kind, _, resource = (ref.get("resource") or "").partition(".")
    quantity = ((container.get("resources") or {}).get(kind) or {}).get(resource)
    if quantity is None:
        return str(os.cpu_count() or 1) if resource == "cpu" else "0"
    text = str(quantity)
    if resource == "cpu":
        cores = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
        return str(max(1, -int(-cores // 1)))
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return str(int(float(text[: -len(suffix)]) * factor))
    return str(int(float(text)))


def argv(container: Obj, env: dict[str, str], container_mounts: list[Mount]) -> list[str]:
    """command + args, expanded and with mount paths made local; ConfigError if not runnable."""
    words = [*(container.get("command") or []), *(container.get("args") or [])]
    if not container.get("command"):
        raise ConfigError(
            "the sandbox does not run images, so it cannot use the image's entrypoint: "
            "set the container's command"
        )
    words = [local_path(expand(word, env), container_mounts) for word in words]
    program = words[0]
    local = TOOLS_DIR / Path(program).name
    if "/" in program and local.exists():
        words[0] = str(local)
    elif "/" not in program:
        words[0] = shutil.which(program, path=env["PATH"]) or program
    return words
