"""OpenAPI v3 documents and schema look-ups, built from the JSON schemas kubernetes-validate ships.

kubectl reads these documents for client-side apply and diff (patch strategies and merge keys),
for field validation support (the ``fieldValidation`` parameter) and for ``explain``; the server
uses the same schemas for strategic merge patches and server-side apply.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources as package_files
from typing import Any

from sandbox.resources import RESOURCES, Resource, group_versions

Schema = dict[str, Any]

_SCHEMA_VERSION = "v1.32.0-local"
_REF_PREFIX = "#/$defs/"
_V3_PREFIX = "#/components/schemas/"
_PATCH_TYPES = [
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
]
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."


@functools.cache
def definitions() -> dict[str, Schema]:
    """Every definition of the Kubernetes 1.32 API, keyed by its OpenAPI name."""
    root = package_files.files("kubernetes_validate") / "kubernetes-json-schema"
    folder = root / _SCHEMA_VERSION
    if not folder.is_dir():
        folder = sorted(
            (entry for entry in root.iterdir() if entry.name.endswith("-local")),
            key=lambda entry: [int(part) for part in entry.name[1:].split("-")[0].split(".")],
        )[-1]
    defs: dict[str, Schema] = json.loads((folder / "_definitions.json").read_text())["$defs"]
    return defs


def _definition_name(resource: Resource, suffix: str = "") -> str | None:
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            if (gvk["group"], gvk["version"], gvk["kind"]) == (
                resource.group,
                resource.version,
                resource.kind + suffix,
            ):
                return name
    return None


@functools.cache
def kind_schema(plural: str, version: str = "") -> Schema:
    """The schema of one resource's objects, in ``version`` (default: the stored one); empty
    when unknown: patches then merge plainly."""
    resource = next((r for r in RESOURCES if r.plural == plural), None)
    if resource and version:
        resource = resource.at(version)
    name = _definition_name(resource) if resource else None
    return definitions().get(name, {}) if name else {}


def resolve(schema: Schema) -> Schema:
    """Follow a ``$ref`` to the definition it names."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
        return definitions().get(ref[len(_REF_PREFIX) :], {})
    return schema


def child(schema: Schema, key: str) -> Schema:
    """The schema of a map field or of a map's values."""
    schema = resolve(schema)
    properties = schema.get("properties")
    if properties and key in properties:
        return dict(properties[key])
    extra = schema.get("additionalProperties")
    return dict(extra) if isinstance(extra, dict) else {}


def items(schema: Schema) -> Schema:
    """The schema of a list's elements."""
    found = resolve(schema).get("items")
    return dict(found) if isinstance(found, dict) else {}


# ------------------------------------------------------------------ documents


def _to_v3(node: Any) -> Any:
    """Rewrite a JSON-schema fragment into the OpenAPI v3 dialect the Kubernetes server uses."""
    if isinstance(node, list):
        return [_to_v3(entry) for entry in node]
    if not isinstance(node, dict):
        return node
    if "oneOf" in node and {"string", "integer"} <= _types(node["oneOf"]):
        return {"type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": True}
    if "oneOf" in node and {"string", "number"} <= _types(node["oneOf"]):
        return {"type": "string"}
    converted: dict[str, Any] = {}
    if "$ref" in node and len(node) > 1:
        # OpenAPI 3.0 ignores siblings of $ref; Kubernetes wraps it in allOf to keep them.
        rest = {key: value for key, value in node.items() if key != "$ref"}
        return {"allOf": [_to_v3({"$ref": node["$ref"]})], **_to_v3(rest)}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            converted[key] = _V3_PREFIX + value.removeprefix(_REF_PREFIX)
        elif key == "type" and isinstance(value, list):
            kinds = [kind for kind in value if kind != "null"]
            converted[key] = kinds[0] if len(kinds) == 1 else kinds
        else:
            converted[key] = _to_v3(value)
    return converted


def _types(options: list[Any]) -> set[str]:
    found: set[str] = set()
    for option in options:
        kind = option.get("type") if isinstance(option, dict) else None
        found.update(kind if isinstance(kind, list) else [kind] if kind else [])
    return found


def _references(name: str, seen: set[str]) -> None:
    if name in seen or name not in definitions():
        return
    seen.add(name)
    stack: list[Any] = [definitions()[name]]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
                _references(ref[len(_REF_PREFIX) :], seen)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _operation(resource: Resource, action: str, kind_ref: str, params: list[str]) -> Schema:
    gvk = {"group": resource.group, "version": resource.version, "kind": resource.kind}
    operation: Schema = {
        "operationId": f"{action}{resource.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
        "parameters": [
            {"name": name, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
            for name in params
        ],
        "responses": {
            "200": {"content": {"application/json": {"schema": {"$ref": kind_ref}}}},
            "401": {"description": "Unauthorized"},
        },
    }
    if action in ("post", "put"):
        operation["requestBody"] = {
            "content": {"*/*": {"schema": {"$ref": kind_ref}}},
            "required": True,
        }
    if action == "patch":
        patch_ref = {"$ref": _V3_PREFIX + _META + "Patch"}
        operation["requestBody"] = {
            "content": {media: {"schema": patch_ref} for media in _PATCH_TYPES},
            "required": True,
        }
    return operation


def _paths(resource: Resource) -> dict[str, Schema]:
    name = _definition_name(resource)
    list_name = _definition_name(resource, "List")
    if not name:
        return {}
    kind_ref = _V3_PREFIX + name
    list_ref = _V3_PREFIX + (list_name or name)
    prefix = "/api/v1" if not resource.group else f"/apis/{resource.group_version}"
    scope = "/namespaces/{namespace}" if resource.namespaced else ""
    write = ["dryRun", "fieldManager", "fieldValidation", "pretty"]
    reads = ["labelSelector", "fieldSelector", "resourceVersion", "timeoutSeconds", "watch"]
    collection = f"{prefix}{scope}/{resource.plural}"
    return {
        collection: {
            "get": _operation(resource, "list", list_ref, reads),
            "post": _operation(resource, "post", kind_ref, write),
            "delete": _operation(resource, "deletecollection", kind_ref, ["dryRun", *reads]),
        },
        collection + "/{name}": {
            "get": _operation(resource, "get", kind_ref, ["pretty"]),
            "put": _operation(resource, "put", kind_ref, write),
            "patch": _operation(resource, "patch", kind_ref, [*write, "force"]),
            "delete": _operation(resource, "delete", kind_ref, ["dryRun", "propagationPolicy"]),
        },
    }


@functools.cache
def document(group_version: str) -> bytes | None:
    """The OpenAPI v3 document of one group version (``v1`` or ``apps/v1``), as JSON bytes."""
    resources = group_versions().get(group_version)
    if resources is None:
        return None
    paths: dict[str, Schema] = {}
    names: set[str] = set()
    for resource in resources:
        paths.update(_paths(resource))
        for suffix in ("", "List"):
            found = _definition_name(resource, suffix)
            if found:
                _references(found, names)
    for extra in ("Patch", "Status", "DeleteOptions", "WatchEvent", "Table"):
        _references(_META + extra, names)
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (sandbox)", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {name: _to_v3(definitions()[name]) for name in sorted(names)}},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _url_path(group_version: str) -> str:
    return "api/v1" if group_version == "v1" else f"apis/{group_version}"


@functools.cache
def index() -> dict[str, Any]:
    """The /openapi/v3 index: one entry per group version, with a content hash."""
    paths = {}
    for group_version in group_versions():
        body = document(group_version) or b""
        digest = hashlib.sha512(body).hexdigest()[:64].upper()
        url = _url_path(group_version)
        paths[url] = {"serverRelativeURL": f"/openapi/v3/{url}?hash={digest}"}
    return {"paths": paths}


def group_version_of(url_path: str) -> str | None:
    """``api/v1`` -> ``v1``; ``apis/apps/v1`` -> ``apps/v1``."""
    if url_path == "api/v1":
        return "v1"
    if url_path.startswith("apis/"):
        return url_path[len("apis/") :]
    return None
