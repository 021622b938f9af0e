"""Build the field table the protobuf decoder uses, from the descriptors kubectl embeds.

Go programs built with gogo-protobuf (kubectl 1.32 is one) carry each ``generated.proto`` of
the Kubernetes API as a gzipped FileDescriptorProto.  This tool finds them in a kubectl binary
and writes, for the packages the sandbox serves, every message's fields as
``{"<number>": [name, type, type name, repeated, inline]}`` (plus ``"$map": true`` for map
entries).  ``inline`` marks the Go structs embedded in their parent's JSON (a ConfigMapEnvSource's
LocalObjectReference, a Volume's VolumeSource...): fields the JSON schema does not list.

    python -m sandbox.apiserver.protobuf_table KUBECTL > sandbox/apiserver/protobuf_fields.json
"""

from __future__ import annotations

import json
import re
import sys
import zlib
from pathlib import Path
from typing import Any

from sandbox.apiserver.openapi import definitions
from sandbox.apiserver.protowire import LENGTH, WireError, fields

PACKAGES = {
    "k8s.io.api.core.v1",
    "k8s.io.api.apps.v1",
    "k8s.io.api.batch.v1",
    "k8s.io.api.autoscaling.v1",
    "k8s.io.api.autoscaling.v2",
    "k8s.io.api.policy.v1",
    "k8s.io.api.networking.v1",
    "k8s.io.apimachinery.pkg.apis.meta.v1",
    "k8s.io.apimachinery.pkg.api.resource",
    "k8s.io.apimachinery.pkg.runtime",
    "k8s.io.apimachinery.pkg.util.intstr",
}
MESSAGE = 11
_GZIP = re.compile(rb"\x1f\x8b\x08\x00\x00[\x00\x09]")


def _field(data: bytes) -> tuple[str, list[Any]]:
    name, number, label, kind, type_name = "", 0, 1, 0, ""
    for tag, _, value in fields(data):
        if tag == 1 and isinstance(value, bytes):
            name = value.decode()
        elif tag == 3 and isinstance(value, int):
            number = value
        elif tag == 4 and isinstance(value, int):
            label = value
        elif tag == 5 and isinstance(value, int):
            kind = value
        elif tag == 6 and isinstance(value, bytes):
            type_name = value.decode().lstrip(".")
    return str(number), [name, kind, type_name, label == 3]


def _message(data: bytes, prefix: str, table: dict[str, dict[str, Any]]) -> None:
    name, nested, is_map = "", [], False
    entries: dict[str, Any] = {}
    for tag, wire_type, value in fields(data):
        if wire_type != LENGTH or not isinstance(value, bytes):
            continue
        if tag == 1:
            name = value.decode()
        elif tag == 2:
            number, spec = _field(value)
            entries[number] = spec
        elif tag == 3:
            nested.append(value)
        elif tag == 7:
            is_map = any(t == 7 and v == 1 for t, _, v in fields(value))
    full = f"{prefix}.{name}"
    if is_map:
        entries["$map"] = True
    table[full] = entries
    for child in nested:
        _message(child, full, table)


def _descriptors(binary: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for match in _GZIP.finditer(binary):
        try:
            raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(
                binary[match.start() : match.start() + 4_000_000]
            )
            package = next((v for t, _, v in fields(raw) if t == 2), b"")
        except (zlib.error, WireError):
            continue
        if isinstance(package, bytes) and package.decode(errors="replace") in PACKAGES:
            files[package.decode()] = raw
    return files


def _mark_inline(table: dict[str, dict[str, Any]]) -> None:
    schemas = definitions()
    for message, entries in table.items():
        schema = schemas.get(message.replace("k8s.io.", "io.k8s.", 1), {})
        properties: dict[str, Any] = schema.get("properties") or {}
        for number, spec in entries.items():
            if number == "$map":
                continue
            name, kind, _, _ = spec
            spec.append(bool(properties) and kind == MESSAGE and name not in properties)


def build(binary: bytes) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for package, raw in sorted(_descriptors(binary).items()):
        for tag, _, value in fields(raw):
            if tag == 4 and isinstance(value, bytes):
                _message(value, package, table)
    _mark_inline(table)
    missing = PACKAGES - {name.rsplit(".", 1)[0] for name in table}
    if missing:
        raise SystemExit(f"no descriptors found for {', '.join(sorted(missing))}")
    return table


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m sandbox.apiserver.protobuf_table /path/to/kubectl")
    table = build(Path(sys.argv[1]).read_bytes())
    json.dump(table, sys.stdout, separators=(",", ":"), sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
