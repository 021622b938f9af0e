"""The fast path's proof that a body is valid for a signature, and its encoded rows.

Each check accepts exactly what the signature's pydantic models (service.api.signature_api)
accept, or gives up (None) and lets FastAPI answer: a number is a JSON int or float (not a
bool), finite, within the feature's bounds; a category is a string seen in training; null or
absent only where the feature is nullable; no other keys.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson

from service.signature import Signature

# Within float64's range: also rejects NaN and the infinities, since every comparison fails.
_FINITE = 1.7976931348623157e308
_ABSENT = object()


class RowChecker:
    def __init__(self, signature: Signature) -> None:
        self.names = signature.feature_names
        self.n_features = len(self.names)
        self._known = frozenset(self.names)
        self.all_numeric = signature.all_numeric
        self._specs = []
        for feature in signature.features:
            low, high = feature.bounds if feature.bounds else (-_FINITE, _FINITE)
            codes = {c: float(i) for i, c in enumerate(feature.categories)}
            numeric = feature.kind == "numeric"
            self._specs.append((feature.name, numeric, low, high, codes, feature.nullable))
        self.low = np.array([s[2] for s in self._specs])
        self.high = np.array([s[3] for s in self._specs])
        # Iris's shortcut: one bound for every feature, checked once per value.
        bounds = {(s[2], s[3]) for s in self._specs}
        self._shared = bounds.pop() if self.all_numeric and len(bounds) == 1 else None

    def named(self, payload: Any) -> list[float] | None:
        """The encoded row of a valid /predict object, or None."""
        if type(payload) is not dict:
            return None
        shared = self._shared
        if shared is not None:
            if len(payload) != self.n_features:
                return None
            low, high = shared
            row: list[float] = []
            for name in self.names:
                value: Any = payload.get(name)
                kind = type(value)
                if (kind is not float and kind is not int) or not low <= value <= high:
                    return None
                row.append(value)
            return row
        if not self._known.issuperset(payload):
            return None
        row = []
        for name, numeric, low, high, codes, nullable in self._specs:
            encoded = self._value(payload.get(name, _ABSENT), numeric, low, high, codes, nullable)
            if encoded is None:
                return None
            row.append(encoded)
        return row

    def positional(self, values: Any) -> list[float] | None:
        """The encoded row of a valid positional instance, or None."""
        if type(values) is not list or len(values) != self.n_features:
            return None
        row = []
        for value, (_, numeric, low, high, codes, nullable) in zip(
            values, self._specs, strict=True
        ):
            encoded = self._value(value, numeric, low, high, codes, nullable)
            if encoded is None:
                return None
            row.append(encoded)
        return row

    @staticmethod
    def _value(
        value: Any,
        numeric: bool,
        low: float,
        high: float,
        codes: dict[str, float],
        nullable: bool,
    ) -> float | None:
        if value is None or value is _ABSENT:
            return math.nan if nullable else None
        kind = type(value)
        if numeric:
            if (kind is float or kind is int) and low <= value <= high:
                return value
            return None
        return codes.get(value) if kind is str else None

    def instances(self, body: bytes, max_rows: int) -> np.ndarray | None:
        """The encoded rows of a valid {"instances": [...]} body of objects or rows, or None."""
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if type(payload) is not dict or len(payload) != 1:
            return None
        instances = payload.get("instances")
        if type(instances) is not list or not 1 <= len(instances) <= max_rows:
            return None
        rows = []
        for instance in instances:
            row = self.named(instance) if type(instance) is dict else self.positional(instance)
            if row is None:
                return None
            rows.append(row)
        return np.array(rows, dtype=np.float64).reshape(len(rows), self.n_features)
