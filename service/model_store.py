"""The model store: versioned, verified, crash-safe publishing and loading of trained models.

Layout under the root (MODEL_DIR)::

    versions/<version>/model.joblib     the fitted estimator
    versions/<version>/linear.json      the pickle-free form of a linear model (when it has one)
    versions/<version>/metadata.json    what it is, how good, its signature, and the sha256 of
                                        model.joblib (and of linear.json)
    current                             the published version's name, replaced atomically

A version directory is assembled under a temporary name and renamed into place only when
complete, and `current` moves only after that, so a crash at any moment leaves `current`
pointing at the previous complete version (or at nothing). Loading never writes: the API and
the batch job mount the store read-only. Loading verifies the checksums but unpickles
model.joblib only when something asks for `estimator`: a version with a pickle-free form is
served without scikit-learn, and no pickle from the shared volume is executed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from service.atomic_files import TEMP_PREFIX, fsync_dir, write_text_atomic
from service.signature import Signature, SignatureError

MODEL_FILE = "model.joblib"
FORM_FILE = "linear.json"
METADATA_FILE = "metadata.json"
CURRENT_FILE = "current"
VERSIONS_DIR = "versions"

# Sortable UTC timestamp plus a random suffix, e.g. 20261129T051200Z-3f9a.
_VERSION = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{4,}$")


class ModelStoreError(Exception):
    """The store holds nothing usable; the message is one readable line."""


class NoModelError(ModelStoreError):
    """Nothing has been published yet."""


class LoadedModel:
    """A verified version: its metadata, signature, pickle-free form (if any), and estimator."""

    def __init__(
        self,
        version: str,
        metadata: dict[str, Any],
        signature: Signature,
        model_path: Path,
        form: dict[str, Any] | None = None,
    ) -> None:
        self.version = version
        self.metadata = metadata
        self.signature = signature
        self.model_path = model_path
        self.form = form
        self.feature_names = signature.feature_names
        self.class_names = signature.class_names

    @classmethod
    def in_memory(
        cls, version: str, estimator: Any, signature: Signature, metadata: dict[str, Any]
    ) -> LoadedModel:
        """A fitted estimator that was never stored (tests, benches)."""
        loaded = cls(version, metadata, signature, Path(MODEL_FILE))
        loaded.__dict__["estimator"] = estimator  # what cached_property would have kept
        return loaded

    @cached_property
    def estimator(self) -> Any:
        """The unpickled model (its checksum was verified at load); imports scikit-learn."""
        import joblib

        try:
            estimator = joblib.load(self.model_path)
        except Exception as exc:
            raise ModelStoreError(f"cannot load {self.model_path}: {exc}") from None
        wanted = "predict_proba" if self.signature.task == "classification" else "predict"
        if not (hasattr(estimator, "predict") and hasattr(estimator, wanted)):
            kind = "a classifier with predict_proba" if wanted != "predict" else "a regressor"
            raise ModelStoreError(f"{self.model_path} is not {kind}")
        return estimator


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
        self._verify(version, model_path, metadata.get("sha256"))
        try:
            signature = Signature.from_metadata(metadata)
        except SignatureError as exc:
            raise ModelStoreError(f"{folder / METADATA_FILE}: {exc}") from None
        form = None
        recorded = metadata.get("pickle_free")
        if isinstance(recorded, dict):
            form_path = folder / FORM_FILE
            self._verify(version, form_path, recorded.get("sha256"))
            try:
                form = json.loads(form_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ModelStoreError(f"cannot read {form_path}: {exc}") from None
        loaded = LoadedModel(version, metadata, signature, model_path, form)
        if form is None:
            loaded.estimator  # noqa: B018 - unpickle now, so a broken pickle refuses the version
        return loaded

    @staticmethod
    def _verify(version: str, path: Path, expected: object) -> None:
        try:
            actual = file_sha256(path)
        except OSError as exc:
            raise ModelStoreError(f"cannot read {path}: {exc.strerror or exc}") from None
        if actual != expected:
            raise ModelStoreError(
                f"model {version} is corrupt or incomplete: sha256 of {path} does not "
                "match its metadata"
            )

    def publish(
        self, estimator: Any, metadata: dict[str, Any], form: dict[str, Any] | None = None
    ) -> str:
        """Store `estimator` (and its pickle-free `form`) as a new version, make it current,
        prune old ones; return it.

        `metadata` is completed with the version, creation time and the files' sha256.
        """
        import joblib

        version = new_version()
        self._versions.mkdir(parents=True, exist_ok=True)
        self._remove_leftovers()
        staging = self._versions / f"{TEMP_PREFIX}{version}"
        staging.mkdir()
        try:
            model_path = staging / MODEL_FILE
            joblib.dump(estimator, model_path)
            _fsync_file(model_path)
            extra: dict[str, Any] = {}
            if form is not None:
                form_path = staging / FORM_FILE
                form_path.write_text(json.dumps(form) + "\n", encoding="utf-8")
                _fsync_file(form_path)
                extra["pickle_free"] = {"file": FORM_FILE, "sha256": file_sha256(form_path)}
            complete = {
                **metadata,
                **extra,
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
