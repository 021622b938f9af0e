"""Decode the protobuf request bodies kubectl's typed clients send, into the API's JSON shape.

``kubectl create namespace|configmap|secret|job ...`` POST ``application/vnd.kubernetes.protobuf``:
the 4-byte ``k8s\\0`` magic, then a ``runtime.Unknown`` holding the apiVersion, kind and the
object's own protobuf bytes.  Field names and types come from ``protobuf_fields.json`` (built by
``protobuf_table`` from kubectl's embedded descriptors); the few types whose JSON form differs
(IntOrString, Quantity, Time, RawExtension...) are converted here.  The server answers in JSON.
"""

from __future__ import annotations

import base64
import functools
import json
import struct
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from sandbox.apimachinery.errors import ApiError
from sandbox.apiserver.protowire import LENGTH, WireError, fields, signed, varint

MAGIC = b"k8s\x00"
_META = "k8s.io.apimachinery.pkg.apis.meta.v1"
_UNKNOWN = "k8s.io.apimachinery.pkg.runtime.Unknown"
_OBJECT_META = f"{_META}.ObjectMeta"

# FieldDescriptorProto types
_DOUBLE, _FLOAT, _INT64, _UINT64, _INT32, _FIXED64, _FIXED32, _BOOL = 1, 2, 3, 4, 5, 6, 7, 8
_STRING, _MESSAGE, _BYTES, _UINT32, _ENUM = 9, 11, 12, 13, 14
_SFIXED32, _SFIXED64, _SINT32, _SINT64 = 15, 16, 17, 18


@functools.cache
def _table() -> dict[str, dict[str, Any]]:
    text = resources.files("sandbox.apiserver").joinpath("protobuf_fields.json").read_text()
    table: dict[str, dict[str, Any]] = json.loads(text)
    return table


def _unsupported(message: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", message)


def _scalar(kind: int, value: int | bytes) -> Any:
    if isinstance(value, bytes):
        if kind == _STRING:
            return value.decode("utf-8", errors="replace")
        return base64.b64encode(value).decode()
    if kind in (_INT64, _SFIXED64):
        return signed(value)
    if kind in (_INT32, _SFIXED32, _ENUM):
        return signed(value & 0xFFFFFFFF, 32) if kind != _ENUM else value
    if kind in (_SINT32, _SINT64):
        return (value >> 1) ^ -(value & 1)
    if kind == _BOOL:
        return bool(value)
    if kind == _DOUBLE:
        return struct.unpack("<d", struct.pack("<Q", value))[0]
    if kind == _FLOAT:
        return struct.unpack("<f", struct.pack("<I", value))[0]
    return value


def _packed(kind: int, data: bytes) -> list[Any]:
    values, position = [], 0
    while position < len(data):
        if kind in (_FIXED64, _SFIXED64, _DOUBLE):
            raw = struct.unpack_from("<Q", data, position)[0]
            position += 8
        elif kind in (_FIXED32, _SFIXED32, _FLOAT):
            raw = struct.unpack_from("<I", data, position)[0]
            position += 4
        else:
            raw, position = varint(data, position)
        values.append(_scalar(kind, raw))
    return values


def _time(message: dict[str, Any], micro: bool) -> str | None:
    seconds, nanos = int(message.get("seconds", 0)), int(message.get("nanos", 0))
    if not seconds and not nanos:
        return None
    moment = datetime.fromtimestamp(seconds + nanos / 1e9, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def _special(type_name: str, data: bytes) -> tuple[bool, Any]:
    """Types whose JSON form is not their protobuf structure."""
    if type_name == "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
        parsed = decode_message(type_name, data)
        return True, parsed.get("strVal", "") if parsed.get("type") == 1 else parsed.get(
            "intVal", 0
        )
    if type_name == "k8s.io.apimachinery.pkg.api.resource.Quantity":
        return True, decode_message(type_name, data).get("string", "0")
    if type_name in (f"{_META}.Time", f"{_META}.MicroTime"):
        return True, _time(decode_message(type_name, data), type_name.endswith("MicroTime"))
    if type_name == f"{_META}.Duration":
        nanoseconds = int(decode_message(type_name, data).get("duration", 0))
        return True, f"{nanoseconds / 1e9:g}s"
    if type_name in ("k8s.io.apimachinery.pkg.runtime.RawExtension", f"{_META}.FieldsV1"):
        raw = next((v for t, _, v in fields(data) if t == 1 and isinstance(v, bytes)), b"")
        return True, json.loads(raw) if raw else {}
    return False, None


def decode_message(type_name: str, data: bytes) -> dict[str, Any]:
    """One protobuf message as the dict its JSON form would be."""
    spec = _table().get(type_name)
    if spec is None:
        raise _unsupported(f"the sandbox cannot decode protobuf type {type_name}")
    result: dict[str, Any] = {}
    for number, wire_type, value in fields(data):
        field = spec.get(str(number))
        if field is None:
            continue
        name, kind, child_type, repeated, inline = field
        decoded: Any
        if kind == _MESSAGE and isinstance(value, bytes):
            handled, decoded = _special(child_type, value)
            if not handled:
                decoded = decode_message(child_type, value)
            if _table().get(child_type, {}).get("$map"):
                result.setdefault(name, {})[decoded.get("key", "")] = decoded.get("value", "")
                continue
            if inline:
                result.update(decoded)
                continue
        elif repeated and wire_type == LENGTH and kind not in (_STRING, _BYTES):
            assert isinstance(value, bytes)
            result.setdefault(name, []).extend(_packed(kind, value))
            continue
        else:
            decoded = _scalar(kind, value)
        if repeated:
            result.setdefault(name, []).append(decoded)
        elif (
            decoded is not None
            and decoded != ""
            and not (type_name == _OBJECT_META and decoded == 0)
        ):
            # gogo-protobuf writes every non-pointer field; Go's JSON omits empty strings and a
            # zero generation.  Other zeros stay: they may be pointers set on purpose.
            result[name] = decoded
    return result


def _candidates(api_version: str, kind: str) -> list[str]:
    group, _, version = api_version.rpartition("/")
    package = group.split(".")[0] if group else "core"
    return [f"k8s.io.api.{package}.{version}.{kind}", f"{_META}.{kind}"]


def decode(body: bytes) -> dict[str, Any]:
    """A Kubernetes protobuf request body as a JSON-shaped object (415 if it cannot be read)."""
    if not body.startswith(MAGIC):
        raise _unsupported("the protobuf body does not start with the Kubernetes magic bytes")
    try:
        envelope = decode_message(_UNKNOWN, body[len(MAGIC) :])
        type_meta = envelope.get("typeMeta") or {}
        api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
        raw = base64.b64decode(envelope.get("raw", ""))
        type_name = next(
            (name for name in _candidates(api_version, kind) if name in _table()), None
        )
        if type_name is None:
            raise _unsupported(
                f"the sandbox cannot decode a protobuf {kind} ({api_version}); send JSON"
            )
        obj = decode_message(type_name, raw)
    except (WireError, struct.error, ValueError) as error:
        raise ApiError.bad_request(f"the protobuf request body is malformed: {error}") from error
    return {"apiVersion": api_version, "kind": kind, **obj}
