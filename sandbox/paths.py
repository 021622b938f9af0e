"""Where the sandbox keeps what pods leave behind: logs, volumes and per-pod scratch dirs."""

from __future__ import annotations

from pathlib import Path


def log_path(state_dir: Path, namespace: str, pod: str, container: str, restart: int) -> Path:
    """The log of one run of a container; "previous" is the run numbered ``restart - 1``.

    Each line is stored as ``<RFC3339Nano UTC timestamp> <text>``.
    """
    return state_dir / "logs" / namespace / pod / container / f"{restart}.log"


def volume_dir(state_dir: Path, namespace: str, claim: str) -> Path:
    """The directory that backs a PersistentVolumeClaim."""
    return state_dir / "volumes" / namespace / claim


def pod_dir(state_dir: Path, namespace: str, pod: str, uid: str) -> Path:
    """Scratch space of one pod (by uid, as a re-created name is a new pod): its emptyDir,
    configMap and secret volumes; removed with the pod."""
    return state_dir / "pods" / namespace / f"{pod}_{uid}"
