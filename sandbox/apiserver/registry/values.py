"""Tolerant reads of decoded JSON: the structural decoder checks types first, but a strategy
must never traceback on a value of the wrong type that reaches it anyway."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def mapping(value: Any) -> Obj:
    """``value`` if it is an object, else an empty one (not attached to anything)."""
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def objects(value: Any) -> list[Obj]:
    """The objects of a list, skipping anything else."""
    return [item for item in items(value) if isinstance(item, dict)]


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def integer(value: Any) -> int | None:
    """An int (booleans are not), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def child(obj: Obj, key: str) -> Obj:
    """``obj[key]``, made an object if it is missing or not one, for defaulting in place."""
    value = obj.get(key)
    if not isinstance(value, dict):
        value = {}
        obj[key] = value
    return value
