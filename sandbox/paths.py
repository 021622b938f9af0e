"""Where the sandbox keeps what pods leave behind: logs, volumes and per-pod scratch dirs."""

from __future__ import annotations

from pathlib import Path


def pod_logs_dir(state_dir: Path, namespace: str, pod: str, uid: str) -> Path:
    """The logs of one pod (by uid: a re-created name starts empty); removed with the pod."""
    return state_dir / "logs" / namespace / f"{pod}_{uid}"


def log_path(
    state_dir: Path, namespace: str, pod: str, uid: str, container: str, container_id: str
) -> Path:
    """The log of one container instance, named by its containerID (``sandbox://<pid>``).

    Each line is stored as ``<RFC3339Nano UTC timestamp> <text>``.
    """
    instance = container_id.rsplit("://", 1)[-1]
    return pod_logs_dir(state_dir, namespace, pod, uid) / container / f"{instance}.log"


def volume_dir(state_dir: Path, namespace: str, claim: str) -> Path:
    """The directory that backs a PersistentVolumeClaim."""
    return state_dir / "volumes" / namespace / claim


def pod_dir(state_dir: Path, namespace: str, pod: str, uid: str) -> Path:
    """Scratch space of one pod (by uid, as a re-created name is a new pod): its emptyDir,
    configMap and secret volumes; removed with the pod."""
    return state_dir / "pods" / namespace / f"{pod}_{uid}"


def view_root(state_dir: Path) -> Path:
    """An empty folder: each container's private root is mounted on it, in its own mount
    namespace, so nothing of it shows here."""
    return state_dir / "pods" / "root"
