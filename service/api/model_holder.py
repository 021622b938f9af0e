"""The served model and its hot reload.

The model, its predictor, its version and its signature's request schema travel together in
one immutable `ServedModel`; swapping models is one reference assignment, so a request that
picked up the old bundle finishes on it (validated and answered by the old schema) while the
next request sees the new one. The reloader only reads the store
(the API mounts it read-only) and never trains.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

import numpy as np
from starlette.exceptions import HTTPException

from service.api.metrics import ApiMetrics
from service.api.row_checks import RowChecker
from service.api.signature_api import SignatureApi
from service.model_store import LoadedModel, ModelStore, ModelStoreError, NoModelError
from service.predictor import Predictor, Regressor, make_predictor
from service.signature import Signature

log = logging.getLogger("iris.serve")


@dataclass(frozen=True)
class ServedModel:
    loaded: LoadedModel
    predictor: Predictor | Regressor
    api: SignatureApi
    checker: RowChecker
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    # The class names as an object array: fancy indexing names a whole batch at once.
    class_name_array: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = np.array(self.loaded.class_names, dtype=object)
        object.__setattr__(self, "class_name_array", names)

    @property
    def version(self) -> str:
        return self.loaded.version

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.loaded.class_names

    @property
    def signature(self) -> Signature:
        return self.loaded.signature

    @property
    def regression(self) -> bool:
        return self.loaded.signature.task == "regression"

    @property
    def classifier(self) -> Predictor:
        return cast(Predictor, self.predictor)

    @property
    def regressor(self) -> Regressor:
        return cast(Regressor, self.predictor)


def serve_model(loaded: LoadedModel, max_rows: int = 10_000) -> ServedModel:
    """Everything needed to answer for `loaded`: its predictor, schema and input checks."""
    signature = loaded.signature
    return ServedModel(
        loaded,
        make_predictor(loaded),
        SignatureApi.build(signature, max_rows),
        RowChecker(signature),
    )


@dataclass
class ModelHolder:
    """What the request handlers read: the current bundle and whether the server drains."""

    served: ServedModel | None = None
    draining: bool = False
    # Why no model is served, for /readyz.
    unready_reason: str = "no model loaded yet"

    def require(self) -> ServedModel:
        """The served model, or a 503 for the client when there is none yet."""
        served = self.served
        if served is None:
            raise HTTPException(503, f"no model loaded: {self.unready_reason}")
        return served


class ModelReloader:
    """Polls the store's `current` version and swaps in each new one that loads."""

    def __init__(
        self,
        store: ModelStore,
        holder: ModelHolder,
        metrics: ApiMetrics,
        interval: float,
        max_rows: int = 10_000,
    ) -> None:
        self.max_rows = max_rows
        self.store = store
        self.holder = holder
        self.metrics = metrics
        self.interval = interval
        self._refused: str | None = None

    async def run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self.interval)

    async def check(self) -> None:
        """Load the current version if it is new; keep serving the old one if it fails.

        A version published while another loads is loaded at once, not a poll later: above
        all at start-up, where the pod would otherwise turn ready on a version already
        replaced (a retrain finishing while a rollout's new pod starts) and serve it for a
        reload interval after every other replica has moved on.
        """
        while await self._check_once():
            pass

    async def _check_once(self) -> bool:
        """One look at the store; True when `current` moved on while a version loaded."""
        try:
            version = await asyncio.to_thread(self.store.current_version)
        except ModelStoreError as exc:
            self._note_unready(str(exc))
            return False
        served = self.holder.served
        if version is None:
            self._note_unready(f"no model published in {self.store.root} yet")
            return False
        if (served is not None and served.version == version) or version == self._refused:
            return False
        try:
            new = await asyncio.to_thread(self._load, version)
        except NoModelError as exc:
            self._note_unready(str(exc))
            return False
        except Exception as exc:  # any failure to load refuses the version, never the server
            self._refused = version
            self.metrics.reload_failures.inc()
            serving = served.version if served else None
            log.error(
                "refused model version",
                extra={"version": version, "error": str(exc), "serving": serving},
            )
            self._note_unready(f"model {version} failed to load: {exc}")
            return False
        try:
            moved_on = await asyncio.to_thread(self.store.current_version) != version
        except ModelStoreError:
            moved_on = False
        if moved_on and served is None:
            return True  # not ready on a replaced version: load the newer one first
        self.holder.served = new
        self._refused = None
        self.metrics.reloads.inc()
        self.metrics.set_model(new.version)
        log.info(
            "serving model",
            extra={
                "version": new.version,
                "previous": served.version if served else None,
                "predictor": type(new.predictor).__name__,
            },
        )
        return moved_on

    def _load(self, version: str) -> ServedModel:
        return serve_model(self.store.load(version), self.max_rows)

    def _note_unready(self, reason: str) -> None:
        if self.holder.served is None:
            self.holder.unready_reason = reason
