"""The four patch types of the Kubernetes API, applied to plain dict objects.

JSON patch (RFC 6902) comes from the ``jsonpatch`` library; JSON merge patch (RFC 7386) and the
strategic merge patch are here, the latter guided by the schema's ``x-kubernetes-patch-strategy``
and ``x-kubernetes-patch-merge-key``.  Server-side apply merges the applied configuration the
same way and removes the fields its manager applied before and no longer applies, tracked in a
simplified ``managedFields`` entry (``fieldsV1`` in the real ``f:``/``k:`` notation).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch

from sandbox.apimachinery.errors import ApiError
from sandbox.apiserver import openapi
from sandbox.apiserver.openapi import Schema
from sandbox.storage.store import now_rfc3339

Obj = dict[str, Any]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_ORDER_PREFIX = "$setElementOrder/"
_DELETE_PRIMITIVE_PREFIX = "$deleteFromPrimitiveList/"


def json_patch(obj: Obj, operations: Any) -> Obj:
    try:
        patched: Obj = jsonpatch.apply_patch(obj, operations)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as error:
        raise ApiError(422, "Invalid", f"the JSON patch cannot be applied: {error}") from error
    return patched


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ------------------------------------------------------------ strategic merge


def _merge_key(schema: Schema) -> str | None:
    strategies = str(schema.get("x-kubernetes-patch-strategy", "")).split(",")
    if "merge" in strategies:
        return str(schema.get("x-kubernetes-patch-merge-key", "")) or ""
    return None


def strategic_merge(original: Any, patch: Any, schema: Schema) -> Any:
    """Apply a strategic merge patch to ``original`` following ``schema``."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get(_DIRECTIVE) == "replace":
        return _strip_directives(patch)
    result: Obj = copy.deepcopy(original) if isinstance(original, dict) else {}
    retain = patch.get(_RETAIN_KEYS)
    for key, value in patch.items():
        if key in (_DIRECTIVE, _RETAIN_KEYS) or key.startswith(_ORDER_PREFIX):
            continue
        if key.startswith(_DELETE_PRIMITIVE_PREFIX):
            field = key[len(_DELETE_PRIMITIVE_PREFIX) :]
            if isinstance(result.get(field), list):
                result[field] = [item for item in result[field] if item not in value]
            continue
        field_schema = openapi.child(schema, key)
        if value is None or (isinstance(value, dict) and value.get(_DIRECTIVE) == "delete"):
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = strategic_merge(result.get(key), value, field_schema)
        elif isinstance(value, list):
            merged = _merge_list(result.get(key), value, field_schema)
            result[key] = merged
        else:
            result[key] = value
    if isinstance(retain, list):
        result = {key: value for key, value in result.items() if key in retain}
    return result


def _merge_list(original: Any, patch: list[Any], schema: Schema) -> list[Any]:
    merge_key = _merge_key(schema)
    if merge_key is None or not isinstance(original, list):
        return [_strip_directives(item) for item in patch if not _is_delete(item)]
    if any(isinstance(item, dict) and item.get(_DIRECTIVE) == "replace" for item in patch):
        return [
            _strip_directives(item)
            for item in patch
            if not isinstance(item, dict) or _DIRECTIVE not in item
        ]
    if not merge_key:
        return original + [item for item in patch if item not in original]
    item_schema = openapi.items(schema)
    result = copy.deepcopy(original)
    for item in patch:
        if not isinstance(item, dict):
            continue
        position = next(
            (i for i, old in enumerate(result) if old.get(merge_key) == item.get(merge_key)),
            None,
        )
        if _is_delete(item):
            if position is not None:
                del result[position]
        elif position is None:
            result.append(_strip_directives(item))
        else:
            result[position] = strategic_merge(result[position], item, item_schema)
    return result


def _is_delete(item: Any) -> bool:
    return isinstance(item, dict) and item.get(_DIRECTIVE) == "delete"


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _strip_directives(item) for key, item in value.items() if not key.startswith("$")
        }
    if isinstance(value, list):
        return [_strip_directives(item) for item in value]
    return value


# ---------------------------------------------------------- server-side apply

_UNMANAGED = {"managedFields", "resourceVersion", "uid", "creationTimestamp", "generation"}


def managed_fields(value: Any, schema: Schema, top: bool = True) -> Obj:
    """The set of fields an applied configuration sets, in ``fieldsV1`` notation."""
    fields: Obj = {}
    if isinstance(value, dict):
        for key, item in value.items():
            if top and key in ("apiVersion", "kind"):
                continue
            if key in _UNMANAGED:
                continue
            fields[f"f:{key}"] = managed_fields(item, openapi.child(schema, key), False)
    elif isinstance(value, list):
        merge_key = _merge_key(schema)
        if merge_key:
            item_schema = openapi.items(schema)
            for item in value:
                if isinstance(item, dict) and merge_key in item:
                    name = "k:" + json.dumps({merge_key: item[merge_key]}, separators=(",", ":"))
                    fields[name] = {".": {}, **managed_fields(item, item_schema, False)}
    return fields


def _remove_unapplied(live: Any, old: Obj, new: Obj, schema: Schema) -> None:
    """Drop from ``live`` the fields in ``old`` that the new apply no longer sets."""
    for name, children in old.items():
        if name == ".":
            continue
        if name.startswith("f:") and isinstance(live, dict):
            key = name[2:]
            if name not in new:
                live.pop(key, None)
            elif children and key in live:
                _remove_unapplied(live[key], children, new[name], openapi.child(schema, key))
        elif name.startswith("k:") and isinstance(live, list):
            wanted = json.loads(name[2:])
            for position, item in enumerate(live):
                if isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items()):
                    if name not in new:
                        del live[position]
                    else:
                        _remove_unapplied(item, children, new[name], openapi.items(schema))
                    break


def server_side_apply(live: Obj, applied: Obj, manager: str, schema: Schema) -> Obj:
    """Merge an applied configuration into the live object on behalf of ``manager``."""
    entries = live.get("metadata", {}).get("managedFields") or []
    previous = next(
        (e for e in entries if e.get("manager") == manager and e.get("operation") == "Apply"),
        None,
    )
    new_fields = managed_fields(applied, schema)
    result: Obj = strategic_merge(live, applied, schema)
    if previous:
        _remove_unapplied(result, previous.get("fieldsV1") or {}, new_fields, schema)
    record_manager(result, manager, "Apply", new_fields)
    return result


def record_manager(obj: Obj, manager: str, operation: str, fields: Obj | None = None) -> None:
    """Set the ``managedFields`` entry of one manager and operation."""
    meta = obj.setdefault("metadata", {})
    entries = [
        e
        for e in meta.get("managedFields") or []
        if not (e.get("manager") == manager and e.get("operation") == operation)
    ]
    entry: Obj = {
        "manager": manager,
        "operation": operation,
        "apiVersion": obj.get("apiVersion", "v1"),
        "time": now_rfc3339(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields if fields is not None else {},
    }
    entries.append(entry)
    meta["managedFields"] = entries
