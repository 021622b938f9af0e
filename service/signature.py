"""A model's signature: its features (names, types, categories, ranges), task and outputs.

Training records it in each version's metadata; serving builds its request schema, its input
checks and its answers from it; the batch job reads its columns by it. Rows travel between
them *encoded*: one float per feature, a numeric feature's value or a categorical feature's
index in its `categories`, NaN when missing. Iris's measurements are therefore their own
encoding.

Imports only the standard library: the API loads it before (or instead of) scikit-learn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

Task = Literal["classification", "regression"]
Kind = Literal["numeric", "categorical"]

# Versions published before signatures existed are Iris models on four measurements (cm).
LEGACY_BOUNDS = (0.0, 100.0)
LEGACY_TARGET = "species"


class SignatureError(ValueError):
    """A version's recorded signature is unusable; the message is one line."""


@dataclass(frozen=True)
class Feature:
    name: str
    kind: Kind
    # The values seen in training: for the form's range hint, never enforced.
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] = ()
    # Whether training saw it missing: only then may a request leave it out (it is imputed).
    nullable: bool = False
    # Enforced limits of a numeric feature (Iris: 0 to 100 cm), and what its unit is.
    bounds: tuple[float, float] | None = None
    description: str | None = None
    _codes: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._codes.update({name: i for i, name in enumerate(self.categories)})

    def code(self, value: str) -> int | None:
        """A category's index, or None when training never saw it."""
        return self._codes.get(value)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.kind, "nullable": self.nullable}
        if self.kind == "numeric":
            out["min"], out["max"] = self.minimum, self.maximum
            if self.bounds is not None:
                out["bounds"] = list(self.bounds)
        else:
            out["categories"] = list(self.categories)
        if self.description:
            out["description"] = self.description
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Feature:
        kind = data["type"]
        if kind not in ("numeric", "categorical"):
            raise SignatureError(f"feature {data.get('name')!r} has unknown type {kind!r}")
        bounds = data.get("bounds")
        return cls(
            name=str(data["name"]),
            kind=kind,
            minimum=_optional_float(data.get("min")),
            maximum=_optional_float(data.get("max")),
            categories=tuple(str(c) for c in data.get("categories", ())),
            nullable=bool(data.get("nullable", False)),
            bounds=(float(bounds[0]), float(bounds[1])) if bounds else None,
            description=data.get("description"),
        )


@dataclass(frozen=True)
class Signature:
    features: tuple[Feature, ...]
    task: Task
    target: str
    class_names: tuple[str, ...] = ()

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def all_numeric(self) -> bool:
        """Every feature a required number: rows are plain float arrays (the fastest paths)."""
        return all(f.kind == "numeric" and not f.nullable for f in self.features)

    @property
    def index_key(self) -> str:
        """The answer's keys are named after the label: Iris answers species_index/_name."""
        return f"{self.target}_index"

    @property
    def name_key(self) -> str:
        return f"{self.target}_name"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "task": self.task,
            "target": self.target,
            "features": [f.to_json() for f in self.features],
        }
        if self.task == "classification":
            out["class_names"] = list(self.class_names)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Signature:
        try:
            task = data["task"]
            if task not in ("classification", "regression"):
                raise SignatureError(f"unknown task {task!r}")
            features = tuple(Feature.from_json(f) for f in data["features"])
            names = [f.name for f in features]
            if not names or len(set(names)) != len(names):
                raise SignatureError("features must be a non-empty list of distinct names")
            classes = tuple(str(c) for c in data.get("class_names", ()))
            if task == "classification" and len(classes) < 2:
                raise SignatureError("a classifier needs at least 2 class_names")
            return cls(features, task, str(data["target"]), classes)
        except (KeyError, TypeError, IndexError) as exc:
            raise SignatureError(f"malformed signature: {exc!r}") from None

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> Signature:
        """The version's signature; a pre-signature version is Iris on four measurements."""
        if "signature" in metadata:
            return cls.from_json(metadata["signature"])
        try:
            names = [str(n) for n in metadata["feature_names"]]
            classes = tuple(str(c) for c in metadata["class_names"])
        except (KeyError, TypeError):
            raise SignatureError(
                "metadata lacks a signature (or feature_names and class_names)"
            ) from None
        return cls(
            tuple(iris_measurement(name) for name in names),
            "classification",
            LEGACY_TARGET,
            classes,
        )


def iris_measurement(
    name: str, minimum: float | None = None, maximum: float | None = None
) -> Feature:
    """An Iris feature: a required length in centimetres, refused outside 0 to 100."""
    return Feature(
        name,
        "numeric",
        minimum,
        maximum,
        bounds=LEGACY_BOUNDS,
        description="length in centimetres, 0 to 100",
    )


def _optional_float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
