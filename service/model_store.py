"""The model store: versioned, verified, crash-safe publishing and loading of trained models.

Layout under the root (MODEL_DIR)::

    versions/<version>/model.joblib     the fitted estimator
    versions/<version>/metadata.json    what it is, how good, and the sha256 of model.joblib
    current                             the published version's name, replaced atomically

A version directory is assembled under a temporary name and renamed into place only when
complete, and `current` moves only after that, so a crash at any moment leaves `current`
pointing at the previous complete version (or at nothing). Loading never writes: the API and
the batch job mount the store read-only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib

from service.atomic_files import TEMP_PREFIX, fsync_dir, write_text_atomic

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
CURRENT_FILE = "current"
VERSIONS_DIR = "versions"

# Sortable UTC timestamp plus a random suffix, e.g. 20261129T051200Z-3f9a.
_VERSION = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{4,}$")


class ModelStoreError(Exception):
    """The store holds nothing usable; the message is one readable line."""


class NoModelError(ModelStoreError):
    """Nothing has been published yet."""


@dataclass(frozen=True)
class LoadedModel:
    version: str
    estimator: Any
    metadata: dict[str, Any]
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]


def new_version() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


class ModelStore:
    """One model store rooted at a directory (a PVC mount in the cluster)."""

    def __init__(self, root: Path, keep: int = 5) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.root = Path(root)
        self.keep = keep
        self._versions = self.root / VERSIONS_DIR

    def current_version(self) -> str | None:
        """The published version's name, or None when nothing is published. Cheap to poll."""
        try:
            text = (self.root / CURRENT_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ModelStoreError(f"cannot read {self.root / CURRENT_FILE}: {exc}") from None
        return text or None

    def versions(self) -> list[str]:
        """Complete published versions, oldest first (temporary leftovers are not listed)."""
        try:
            names = [entry.name for entry in self._versions.iterdir() if entry.is_dir()]
        except FileNotFoundError:
            return []
        return sorted((name for name in names if _VERSION.match(name)), key=self._age_key)

    def _age_key(self, version: str) -> tuple[str, int]:
        # The name sorts by second; versions published within one second (tests, quick
        # retrains) are ordered by when their metadata was written.
        try:
            written = (self._versions / version / METADATA_FILE).stat().st_mtime_ns
        except OSError:
            written = 0
        return version.split("-", 1)[0], written

    def load(self, version: str | None = None) -> LoadedModel:
        """Load `version` (default: the current one), verifying it is complete and intact."""
        if version is None:
            version = self.current_version()
            if version is None:
                raise NoModelError(f"no model published in {self.root} yet")
        if not _VERSION.match(version):
            raise ModelStoreError(f"invalid model version {version!r} in {self.root}")
        folder = self._versions / version
        if not folder.is_dir():
            raise ModelStoreError(f"model version {version} is missing from {self._versions}")
        metadata = self._read_metadata(folder)
        model_path = folder / MODEL_FILE
        try:
            actual = file_sha256(model_path)
        except OSError as exc:
            raise ModelStoreError(f"cannot read {model_path}: {exc.strerror or exc}") from None
        if actual != metadata.get("sha256"):
            raise ModelStoreError(
                f"model {version} is corrupt or incomplete: sha256 of {model_path} does not "
                "match its metadata"
            )
        try:
            estimator = joblib.load(model_path)
        except Exception as exc:
            raise ModelStoreError(f"cannot load {model_path}: {exc}") from None
        if not (hasattr(estimator, "predict") and hasattr(estimator, "predict_proba")):
            raise ModelStoreError(f"{model_path} is not a classifier with predict_proba")
        try:
            feature_names = tuple(str(name) for name in metadata["feature_names"])
            class_names = tuple(str(name) for name in metadata["class_names"])
        except (KeyError, TypeError):
            raise ModelStoreError(
                f"{folder / METADATA_FILE} lacks feature_names or class_names"
            ) from None
        return LoadedModel(version, estimator, metadata, feature_names, class_names)

    def publish(self, estimator: Any, metadata: dict[str, Any]) -> str:
        """Store `estimator` as a new version, make it current, prune old ones; return it.

        `metadata` is completed with the version, creation time and the model's sha256.
        """
        version = new_version()
        self._versions.mkdir(parents=True, exist_ok=True)
        self._remove_leftovers()
        staging = self._versions / f"{TEMP_PREFIX}{version}"
        staging.mkdir()
        try:
            model_path = staging / MODEL_FILE
            joblib.dump(estimator, model_path)
            _fsync_file(model_path)
            complete = {
                **metadata,
                "version": version,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "sha256": file_sha256(model_path),
            }
            write_text_atomic(
                staging / METADATA_FILE, json.dumps(complete, indent=2, default=str) + "\n"
            )
            staging.rename(self._versions / version)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        fsync_dir(self._versions)
        write_text_atomic(self.root / CURRENT_FILE, version + "\n")
        self._prune(current=version)
        return version

    def _read_metadata(self, folder: Path) -> dict[str, Any]:
        path = folder / METADATA_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelStoreError(f"{path} is missing (incomplete model)") from None
        except (OSError, ValueError) as exc:
            raise ModelStoreError(f"cannot read {path}: {exc}") from None
        if not isinstance(data, dict):
            raise ModelStoreError(f"{path} is not a JSON object")
        return data

    def _remove_leftovers(self) -> None:
        # Staging dirs and temp files of a crashed publish. One trainer runs at a time (the
        # training Job has parallelism 1), so anything temporary here is abandoned.
        for entry in [*self._versions.iterdir(), *self.root.iterdir()]:
            if entry.name.startswith(TEMP_PREFIX):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)

    def _prune(self, current: str) -> None:
        old = [name for name in self.versions() if name != current]
        for name in old[: max(0, len(old) - (self.keep - 1))]:
            shutil.rmtree(self._versions / name, ignore_errors=True)
