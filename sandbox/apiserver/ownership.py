"""Field ownership for server-side apply: who set which field, and apply conflicts.

Every write through the API records the fields it changed under its manager (``fieldManager``
or the client's User-Agent name) in ``metadata.managedFields``; an apply that would change a
field another manager owns fails with 409 unless forced, in which case it takes the field over.
A simplified form of the real field manager: sets of leaf fields, values compared as JSON.
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.apimachinery.errors import ApiError
from sandbox.apiserver.openapi import Schema
from sandbox.apiserver.patch import managed_fields, record_manager

Obj = dict[str, Any]
Path = tuple[str, ...]

_MISSING = object()


def leaves(fields: Obj, prefix: Path = ()) -> set[Path]:
    """The leaf fields of a ``fieldsV1`` tree, as paths of ``f:``/``k:`` segments."""
    found: set[Path] = set()
    for name, children in fields.items():
        if name == ".":
            continue
        path = (*prefix, name)
        if children and set(children) != {"."}:
            found |= leaves(children, path)
        else:
            found.add(path)
    return found


def tree(paths: set[Path]) -> Obj:
    """Paths back into a ``fieldsV1`` tree."""
    root: Obj = {}
    for path in sorted(paths):
        node = root
        for segment in path:
            node = node.setdefault(segment, {})
            if segment.startswith("k:"):
                node.setdefault(".", {})
    return root


def value_at(obj: Any, path: Path) -> Any:
    for segment in path:
        if segment.startswith("f:") and isinstance(obj, dict):
            obj = obj.get(segment[2:], _MISSING)
        elif segment.startswith("k:") and isinstance(obj, list):
            wanted = json.loads(segment[2:])
            obj = next(
                (
                    item
                    for item in obj
                    if isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items())
                ),
                _MISSING,
            )
        else:
            return _MISSING
        if obj is _MISSING:
            return _MISSING
    return obj


def _spec_fields(obj: Obj, schema: Schema) -> set[Path]:
    """The fields an object sets, leaving out status and identity."""
    fields = managed_fields({k: v for k, v in obj.items() if k != "status"}, schema)
    metadata = fields.get("f:metadata", {})
    for identity in ("f:name", "f:namespace", "f:generateName"):
        metadata.pop(identity, None)
    return leaves(fields)


def _entry_id(entry: Obj) -> tuple[str, str, str]:
    return (entry.get("manager", ""), entry.get("operation", ""), entry.get("subresource", ""))


def _entries(obj: Obj) -> list[Obj]:
    entries: list[Obj] = obj.setdefault("metadata", {}).setdefault("managedFields", [])
    return entries


def _release(obj: Obj, paths: set[Path], keep: tuple[str, str, str]) -> None:
    """Take ``paths`` away from every manager but ``keep``; drop managers left with nothing."""
    kept = []
    for entry in _entries(obj):
        if _entry_id(entry) != keep:
            remaining = leaves(entry.get("fieldsV1") or {}) - paths
            if not remaining:
                continue
            entry["fieldsV1"] = tree(remaining)
        kept.append(entry)
    obj["metadata"]["managedFields"] = kept


def record_update(
    new: Obj, old: Obj | None, manager: str, schema: Schema, subresource: str = ""
) -> None:
    """Give ``manager`` the fields this (non-apply) write set or changed."""
    changed = {
        path
        for path in _spec_fields(new, schema)
        if old is None or value_at(old, path) != value_at(new, path)
    }
    if not changed:
        return
    me = (manager, "Update", subresource)
    _release(new, changed, me)
    entry = next((e for e in _entries(new) if _entry_id(e) == me), None)
    owned = leaves(entry.get("fieldsV1") or {}) if entry else set()
    record_manager(new, manager, "Update", tree(owned | changed))
    if subresource:
        _entries(new)[-1]["subresource"] = subresource


def check_apply(live: Obj, applied: Obj, manager: str, schema: Schema, force: bool) -> None:
    """Raise 409 if the apply changes fields other managers own; with force, take them over."""
    paths = _spec_fields(applied, schema)
    me = (manager, "Apply", "")
    conflicts: dict[tuple[str, str, str], list[Path]] = {}
    for entry in _entries(live):
        if _entry_id(entry) == me:
            continue
        for path in sorted(leaves(entry.get("fieldsV1") or {}) & paths):
            if value_at(live, path) != value_at(applied, path):
                conflicts.setdefault(_entry_id(entry), []).append(path)
    if not conflicts:
        return
    if force:
        _release(live, {p for found in conflicts.values() for p in found}, me)
        return
    count = sum(len(found) for found in conflicts.values())
    api_version = live.get("apiVersion", "v1")
    causes, parts = [], []
    for (owner, _, subresource), found in conflicts.items():
        who = f'"{owner}"' + (f' with subresource "{subresource}"' if subresource else "")
        fields = [_dotted(path) for path in found]
        parts.append(
            f"conflict{'s' if len(fields) > 1 else ''} with {who} using {api_version}:"
            + ("".join(f"\n- {f}" for f in fields) if len(fields) > 1 else f" {fields[0]}")
        )
        causes += [
            {"type": "FieldManagerConflict", "message": f"conflict with {who}", "field": field}
            for field in fields
        ]
    raise ApiError(
        409,
        "Conflict",
        f"Apply failed with {count} conflict{'s' if count > 1 else ''}: " + "\n".join(parts),
        {"causes": causes},
    )


def _dotted(path: Path) -> str:
    text = ""
    for segment in path:
        if segment.startswith("f:"):
            text += "." + segment[2:]
        elif segment.startswith("k:"):
            keys = json.loads(segment[2:])
            text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]"
    return text
