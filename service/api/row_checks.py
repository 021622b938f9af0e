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
        # All-numeric signatures (Iris, wine...) check each value inline, without a call per
        # value; absent and null are one case there, allowed where the feature is nullable.
        self._numeric = (
            [(s[0], s[2], s[3], s[5]) for s in self._specs] if self.all_numeric else None
        )
        self._any_nullable = any(s[5] for s in self._specs)

    def named(self, payload: Any) -> list[float] | None:
        """The encoded row of a valid /predict object, or None."""
        if type(payload) is not dict:
            return None
        numeric = self._numeric
        if numeric is not None:
            if self._any_nullable:
                if not self._known.issuperset(payload):
                    return None
            # Without nullable features every name must be there, so the count rules out others.
            elif len(payload) != self.n_features:
                return None
            row: list[float] = []
            for name, low, high, nullable in numeric:
                value: Any = payload.get(name)
                kind = type(value)
                if (kind is float or kind is int) and low <= value <= high:
                    row.append(value)
                elif value is None and nullable:
                    row.append(math.nan)
                else:
                    return None
            return row
        if not self._known.issuperset(payload):
            return None
        row = []
        for name, numeric_kind, low, high, codes, nullable in self._specs:
            encoded = self._value(
                payload.get(name, _ABSENT), numeric_kind, low, high, codes, nullable
            )
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
