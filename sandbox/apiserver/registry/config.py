"""ConfigMaps and Secrets (pkg/registry/core/configmap, secret): valid keys, 1 MiB of data at
most, ``immutable: true`` freezing the data, a Secret's type fixed and its required keys."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from sandbox.apimachinery import field
from sandbox.apimachinery.field import ErrorList, Path
from sandbox.apiserver.registry import meta, names
from sandbox.apiserver.registry.strategy import Strategy
from sandbox.apiserver.registry.values import Obj, mapping, text
from sandbox.storage.store import Store

MAX_SIZE = 1024 * 1024
IMMUTABLE = "field is immutable when `immutable` is set"
_DATA = Path("data")
_SERVICE_ACCOUNT_NAME = "kubernetes.io/service-account.name"


def _decoded(value: Any) -> bytes:
    """A []byte field's bytes (the JSON holds base64)."""
    try:
        return base64.b64decode(text(value), validate=True)
    except (binascii.Error, ValueError):
        return text(value).encode()


def _key_errors(keys: Any, path: Path) -> ErrorList:
    return [
        field.invalid(path.key(key), key, message)
        for key in mapping(keys)
        for message in names.is_config_map_key(key)
    ]


def _frozen(obj: Obj, old: Obj, keys: tuple[str, ...]) -> ErrorList:
    """What an update may not do to an object created with ``immutable: true``."""
    if old.get("immutable") is not True:
        return []
    errors: ErrorList = []
    if obj.get("immutable") is not True:
        errors.append(field.forbidden(Path("immutable"), IMMUTABLE))
    for key in keys:
        if mapping(obj.get(key)) != mapping(old.get(key)):
            errors.append(field.forbidden(Path(key), IMMUTABLE))
    return errors


class ConfigMapStrategy(Strategy):
    def validate(self, obj: Obj) -> ErrorList:
        errors = super().validate(obj)
        data, binary = mapping(obj.get("data")), mapping(obj.get("binaryData"))
        size = 0
        for key, value in data.items():
            errors.extend(
                field.invalid(_DATA.key(key), key, m) for m in names.is_config_map_key(key)
            )
            if key in binary:
                errors.append(
                    field.invalid(_DATA.key(key), key, "duplicate of key present in binaryData")
                )
            size += len(text(value).encode())
        errors.extend(_key_errors(binary, Path("binaryData")))
        size += sum(len(_decoded(value)) for value in binary.values())
        if size > MAX_SIZE:
            # An empty path: the error is about the whole object, and Go prints it "[]".
            errors.append(field.too_long(Path("[]"), MAX_SIZE))
        return errors

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        errors = meta.validate_object_meta_update(
            mapping(obj.get("metadata")), mapping(old.get("metadata"))
        )
        errors.extend(_frozen(obj, old, ("data", "binaryData")))
        return errors + self.validate(obj)


def _json_error(raw: bytes) -> str | None:
    """encoding/json's complaint when the document is not a JSON object (None when it is).
    Errors past the first character are reported as a truncated document."""
    stripped = raw.strip()
    if not stripped:
        return "unexpected end of JSON input"
    try:
        value = json.loads(stripped)
    except ValueError:
        first = chr(stripped[0])
        if first not in '{["-0123456789tfn':
            return f"invalid character '{first}' looking for beginning of value"
        return "unexpected end of JSON input"
    if isinstance(value, dict) or value is None:
        return None
    kinds = {list: "array", str: "string", bool: "bool"}
    kind = kinds.get(type(value), "number")
    return f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"


def _type_errors(secret: Obj) -> ErrorList:
    """The keys each built-in Secret type requires."""
    kind = secret.get("type")
    data = mapping(secret.get("data"))
    errors: ErrorList = []
    if kind == "kubernetes.io/service-account-token":
        annotations = mapping(mapping(secret.get("metadata")).get("annotations"))
        if not text(annotations.get(_SERVICE_ACCOUNT_NAME)):
            errors.append(field.required(Path("metadata.annotations").key(_SERVICE_ACCOUNT_NAME)))
    elif kind in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = ".dockercfg" if kind == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if key not in data:
            errors.append(field.required(_DATA.key(key)))
        elif (problem := _json_error(_decoded(data[key]))) is not None:
            errors.append(field.invalid(_DATA.key(key), "<secret contents redacted>", problem))
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errors.append(field.required(_DATA.key("username")))
            errors.append(field.required(_DATA.key("password")))
    elif kind == "kubernetes.io/ssh-auth":
        if not _decoded(data.get("ssh-privatekey")):
            errors.append(field.required(_DATA.key("ssh-privatekey")))
    elif kind == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in data:
                errors.append(field.required(_DATA.key(key)))
    return errors


class SecretStrategy(Strategy):
    def default(self, obj: Obj, old: Obj | None, store: Store) -> None:
        obj.setdefault("type", "Opaque")
        string_data = mapping(obj.pop("stringData", None))
        data = obj.get("data")
        if not isinstance(data, dict):
            data = obj["data"] = {}
        # What converting v1 to the internal type does: stringData wins over data.
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        if not data:
            obj.pop("data")

    def validate(self, obj: Obj) -> ErrorList:
        errors = super().validate(obj)
        data = mapping(obj.get("data"))
        errors.extend(_key_errors(data, _DATA))
        if sum(len(_decoded(value)) for value in data.values()) > MAX_SIZE:
            errors.append(field.too_long(_DATA, MAX_SIZE))
        return errors + _type_errors(obj)

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        errors = meta.validate_object_meta_update(
            mapping(obj.get("metadata")), mapping(old.get("metadata"))
        )
        errors.extend(meta.immutable(obj.get("type"), old.get("type"), Path("type")))
        errors.extend(_frozen(obj, old, ("data",)))
        return errors + self.validate(obj)
