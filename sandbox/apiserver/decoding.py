"""Structural decoding of request bodies, as kube-apiserver decodes them into its Go types.

The real server reads every write into a Go struct before anything else happens, so a body
whose shape does not fit the type is refused, and fields the type lacks are dropped or reported
as the ``fieldValidation`` parameter says (``Strict``: refused; ``Warn``, the default: dropped
with a ``Warning`` header; ``Ignore``: dropped). The shapes come from the OpenAPI schemas the
sandbox serves; the messages are the ones each decoder writes:

* creates, updates and the results of JSON and merge patches go through ``sigs.k8s.io/json``
  (``json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type
  int32``, ``strict decoding error: unknown field "spec.foo"``);
* strategic merge patch results go through the unstructured converter (``unrecognized type:
  int32``), its message quoted with the patch printed as Go prints a map;
* apply patches go through structured-merge-diff's typed conversion, whose errors the server
  answers with a 500 (``.spec.foo: field not declared in schema``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import copy
import functools
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import yaml

from sandbox.apimachinery import field, quantity
from sandbox.apimachinery.errors import ApiError
from sandbox.apimachinery.field import Path, go_quote
from sandbox.apiserver import openapi
from sandbox.resources import Resource

Obj = dict[str, Any]

STRICT, WARN, IGNORE = "Strict", "Warn", "Ignore"
DIRECTIVES = (IGNORE, STRICT, WARN)
_REF = "#/$defs/"
# Types with their own UnmarshalJSON, and what they accept.
_SPECIAL = {
    "io.k8s.apimachinery.pkg.api.resource.Quantity": "quantity",
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": "intstr",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": "time",
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": "time",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1": "any",
    "io.k8s.apimachinery.pkg.runtime.RawExtension": "any",
}
_INT_RANGE = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}

_warnings: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "decoding_warnings", default=None
)


# ------------------------------------------------------------------- shapes


class Shape:
    """What one Go type accepts: ``kind`` is struct, map, list, int, float, bool, string,
    bytes, quantity, intstr, time or any; ``go`` is the type as Go's ``%v`` prints it."""

    __slots__ = ("_elem", "_fields", "go", "keys", "kind", "name", "schema")

    def __init__(self, kind: str, go: str, schema: openapi.Schema, name: str = "") -> None:
        self.kind = kind
        self.go = go
        self.name = name
        self.schema = schema
        self.keys: tuple[str, ...] = ()
        self._fields: dict[str, Shape] = {}
        self._elem: Shape | None = None

    def field(self, key: str) -> Shape | None:
        """The shape of a struct's field; None when the type has no such field."""
        found = self._fields.get(key)
        if found is None:
            properties = self.schema.get("properties") or {}
            if key not in properties:
                return None
            found = self._fields[key] = shape(properties[key])
        return found

    def fields(self) -> list[str]:
        return sorted(self.schema.get("properties") or {})

    @property
    def elem(self) -> Shape:
        """The shape of a list's items or a map's values."""
        if self._elem is None:
            key = "items" if self.kind == "list" else "additionalProperties"
            self._elem = shape(self.schema.get(key) or {})
        return self._elem


_ANY = Shape("any", "interface {}", {})


@functools.cache
def _definition(name: str) -> Shape:
    special = _SPECIAL.get(name)
    schema = openapi.definitions().get(name, {})
    if special == "any":
        return _ANY
    parts = name.split(".")
    go = f"{parts[-2]}.{parts[-1]}"
    if special:
        return Shape(special, go, schema)
    found = _inline(schema)
    if found.kind == "struct":
        found.name, found.go = parts[-1], go
    return found


def shape(schema: openapi.Schema) -> Shape:
    """The shape a schema fragment describes (a ``$ref``, an ``allOf`` of one, or inline)."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF):
        return _definition(ref[len(_REF) :])
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        return shape(all_of[0])
    return _inline(schema)


def _inline(schema: openapi.Schema) -> Shape:
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return _ANY
    kinds = schema.get("type")
    if isinstance(kinds, list):
        kinds = next((kind for kind in kinds if kind != "null"), None)
    if "oneOf" in schema:
        options = {str(option.get("type")) for option in schema["oneOf"]}
        kinds = "intstr" if any("integer" in option for option in options) else "quantity"
        return Shape(kinds, "intstr.IntOrString" if kinds == "intstr" else "resource.Quantity", {})
    if kinds == "object":
        if schema.get("properties"):
            return Shape("struct", "struct", schema)
        if isinstance(schema.get("additionalProperties"), dict):
            found = Shape("map", "", schema)
            elem = found.elem
            found.go = "v1.ResourceList" if elem.kind == "quantity" else f"map[string]{elem.go}"
            return found
        return _ANY
    if kinds == "array":
        found = Shape("list", "", schema)
        found.go = f"[]{found.elem.go}"
        if schema.get("x-kubernetes-list-type") == "map":
            found.keys = tuple(schema.get("x-kubernetes-list-map-keys") or ())
        elif "merge" in str(schema.get("x-kubernetes-patch-strategy", "")).split(","):
            merge_key = schema.get("x-kubernetes-patch-merge-key")
            found.keys = (merge_key,) if merge_key else ()
        return found
    if kinds == "integer":
        return Shape("int", str(schema.get("format") or "int64"), schema)
    if kinds == "number":
        return Shape("float", "float64", schema)
    if kinds == "boolean":
        return Shape("bool", "bool", schema)
    if kinds == "string":
        if schema.get("format") == "byte":
            return Shape("bytes", "[]uint8", schema)
        return Shape("string", "string", schema)
    return _ANY


@functools.cache
def kind_shape(plural: str, version: str = "") -> Shape:
    """The shape of one resource's objects in ``version`` (default: the stored one; ``any``
    for a kind without a schema)."""
    schema = openapi.kind_schema(plural, version)
    name = next((n for n, s in openapi.definitions().items() if s is schema and schema), None)
    return _definition(name) if name else _ANY


# ------------------------------------------------------------------ warnings


@contextlib.contextmanager
def collecting_warnings() -> Iterator[list[str]]:
    """Gather the warnings of one request, for its ``Warning`` headers."""
    found: list[str] = []
    token = _warnings.set(found)
    try:
        yield found
    finally:
        _warnings.reset(token)


def warn(messages: list[str]) -> None:
    gathered = _warnings.get()
    if gathered is not None:
        gathered.extend(message for message in messages if message not in gathered)


def warning_header(message: str) -> str:
    """``299 - "text"``, the value of a Warning header as the apiserver writes it."""
    escaped = message.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{escaped}"'


# --------------------------------------------------------------- JSON reading


class _Duplicated(dict[str, Any]):
    """An object in which some keys were given more than once (the last one wins): in JSON
    (``duplicates``, by key) or in an apply patch's YAML (``yaml_duplicates``, by line)."""

    duplicates: list[str]
    yaml_duplicates: list[tuple[int, str]]


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    marked = _Duplicated(result)
    seen: set[str] = set()
    marked.duplicates = []
    for key, _ in pairs:
        if key in seen and key not in marked.duplicates:
            marked.duplicates.append(key)
        seen.add(key)
    return marked


def load_json(body: bytes) -> Any:
    """Parse JSON, keeping note of duplicated keys; ValueError in Go's words when invalid.
    (Go reads invalid UTF-8 in strings as U+FFFD, and so does this.)"""
    try:
        return json.loads(body.decode(errors="replace"), object_pairs_hook=_pairs)
    except json.JSONDecodeError as error:
        raise ValueError(go_syntax_error(error)) from error


def go_syntax_error(error: json.JSONDecodeError) -> str:
    """encoding/json's SyntaxError text for what Python's parser stopped at."""
    text, pos = error.doc, error.pos
    if pos >= len(text) or error.msg.startswith("Unterminated string"):
        return "unexpected end of JSON input"
    char = _quote_char(text[pos])
    if error.msg == "Expecting property name enclosed in double quotes":
        return f"invalid character {char} looking for beginning of object key string"
    if error.msg == "Expecting ':' delimiter":
        return f"invalid character {char} after object key"
    if error.msg == "Expecting ',' delimiter":
        inside = _innermost(text, pos)
        where = "object key:value pair" if inside == "{" else "array element"
        return f"invalid character {char} after {where}"
    if error.msg == "Extra data":
        return f"invalid character {char} after top-level value"
    if error.msg.startswith("Invalid control character"):
        return f"invalid character {char} in string literal"
    return f"invalid character {char} looking for beginning of value"


def _innermost(text: str, pos: int) -> str:
    depth: list[str] = []
    in_string = escaped = False
    for char in text[:pos]:
        if in_string:
            escaped = not escaped and char == "\\"
            in_string = escaped or char != '"'
            continue
        if char == '"':
            in_string = True
        elif char in "{[":
            depth.append(char)
        elif char in "}]" and depth:
            depth.pop()
    return depth[-1] if depth else ""


def _quote_char(char: str) -> str:
    """encoding/json's quoteChar: ``'x'``, with ``'\\''`` and ``'"'`` special."""
    if char == "'":
        return "'\\''"
    if char == '"':
        return "'\"'"
    return "'" + go_quote(char)[1:-1] + "'"


# -------------------------------------------------------- sigs.k8s.io/json


class _Abort(Exception):
    """An error the decoder returns at once (an UnmarshalJSON's), not one it saves."""


class _JsonDecoder:
    """Go's json decoder into a typed value: the first type error is kept while decoding goes
    on, an UnmarshalJSON's error stops it, and unknown and duplicate fields are collected
    (and unknown ones removed from the value, as a Go struct has nowhere to keep them)."""

    def __init__(self) -> None:
        self.error: str | None = None
        self.strict: list[str] = []

    def decode(self, value: Any, shape: Shape) -> None:
        self._value(value, shape, "", (), "")

    def _type_error(self, what: str, go: str, struct: str, stack: tuple[str, ...]) -> str:
        if struct or stack:
            return (
                f"json: cannot unmarshal {what} into Go struct field "
                f"{struct}.{'.'.join(stack)} of type {go}"
            )
        return f"json: cannot unmarshal {what} into Go value of type {go}"

    def _save(self, what: str, go: str, struct: str, stack: tuple[str, ...]) -> None:
        if self.error is None:
            self.error = self._type_error(what, go, struct, stack)

    def _strict(self, message: str) -> None:
        if message not in self.strict and len(self.strict) < 100:
            self.strict.append(message)

    def _value(
        self, value: Any, shape: Shape, struct: str, stack: tuple[str, ...], at: str
    ) -> None:
        kind = shape.kind
        if value is None or kind == "any":
            return
        if kind == "struct":
            if not isinstance(value, dict):
                self._save(json_kind(value), shape.go, struct, stack)
                return
            self._struct(value, shape, stack, at)
        elif kind == "map":
            if not isinstance(value, dict):
                self._save(json_kind(value), shape.go, struct, stack)
                return
            self._duplicates(value, at)
            elem = shape.elem
            for key, item in value.items():
                self._value(item, elem, struct, stack, f"{at}.{key}" if at else key)
        elif kind == "list":
            if not isinstance(value, list):
                self._save(json_kind(value), shape.go, struct, stack)
                return
            elem = shape.elem
            for position, item in enumerate(value):
                self._value(item, elem, struct, stack, f"{at}[{position}]")
        else:
            self._scalar(value, shape, struct, stack)

    def _struct(self, value: Obj, shape: Shape, stack: tuple[str, ...], at: str) -> None:
        self._duplicates(value, at)
        unknown = []
        for key, item in value.items():
            child = shape.field(key)
            path = f"{at}.{key}" if at else key
            if child is None:
                unknown.append(key)
                self._strict(f"unknown field {go_quote(path)}")
                continue
            self._value(item, child, shape.name, (*stack, key), path)
        for key in unknown:
            del value[key]

    def _duplicates(self, value: Obj, at: str) -> None:
        for key in getattr(value, "duplicates", ()):
            self._strict(f"duplicate field {go_quote(f'{at}.{key}' if at else key)}")

    def _scalar(self, value: Any, shape: Shape, struct: str, stack: tuple[str, ...]) -> None:
        kind = shape.kind
        if kind == "quantity":
            problem = quantity.parse_error(value)
            if problem:
                raise _Abort(problem)
        elif kind == "intstr":
            if isinstance(value, str):
                return
            problem = _int_problem(value, "int32")
            if problem:
                raise _Abort(self._type_error(problem, "int32", struct, stack))
        elif kind == "time":
            if not isinstance(value, str):
                raise _Abort(self._type_error(json_kind(value), "string", struct, stack))
        elif kind == "int":
            problem = _int_problem(value, shape.go)
            if problem:
                self._save(problem, shape.go, struct, stack)
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                self._save(json_kind(value), shape.go, struct, stack)
        elif kind == "bool":
            if not isinstance(value, bool):
                self._save(json_kind(value), shape.go, struct, stack)
        elif kind == "bytes":
            if not isinstance(value, str):
                self._save(json_kind(value), shape.go, struct, stack)
            elif self.error is None:
                self.error = _base64_error(value)
        elif not isinstance(value, str):
            self._save(json_kind(value), shape.go, struct, stack)


def json_kind(value: Any) -> str:
    """How Go's decoder names a JSON value that does not fit (``UnmarshalTypeError.Value``)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "number"


def _int_problem(value: Any, go: str) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return json_kind(value)
    low, high = _INT_RANGE.get(go, _INT_RANGE["int64"])
    if isinstance(value, float) or not low <= value <= high:
        return f"number {_number_text(value)}"
    return None


def _number_text(value: int | float) -> str:
    return json.dumps(value)


def _base64_error(text: str) -> str | None:
    """encoding/base64's CorruptInputError for a bad []byte field, None when it decodes."""
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        alphabet = re.compile(r"[A-Za-z0-9+/=]")
        bad = next((i for i, char in enumerate(text) if not alphabet.match(char)), None)
        position = bad if bad is not None else len(text) - len(text) % 4
        return f"illegal base64 data at input byte {position}"
    return None


def directive_of(value: str | None, options: str) -> str:
    """The fieldValidation parameter, Warn when absent (as the server defaults it); a value
    it does not know is refused as ValidateCreateOptions (Update, Patch) refuses it."""
    if not value:
        return WARN
    if value not in DIRECTIVES:
        error = field.not_supported(Path("fieldValidation"), value, ("", *DIRECTIVES))
        raise ApiError(
            422,
            "Invalid",
            f'{options}.meta.k8s.io "" is invalid: {error}',
            {"group": "meta.k8s.io", "kind": options, "causes": [error.cause()]},
        )
    return value


def _header(resource: Resource, obj: Any) -> str:
    """``Deployment in version "v1" cannot be handled as a Deployment``."""
    kind = resource.kind
    version = resource.version
    if isinstance(obj, dict):
        sent = obj.get("kind")
        kind = sent if isinstance(sent, str) and sent else kind
        api_version = obj.get("apiVersion")
        if isinstance(api_version, str) and api_version:
            version = api_version.rsplit("/", 1)[-1]
    return f"{kind} in version {go_quote(version)} cannot be handled as a {resource.kind}"


def decode_object(resource: Resource, body: bytes, directive: str) -> Any:
    """The body of a create or an update, decoded as the server decodes it into its type:
    a 400 for a type error or (Strict) an unknown or duplicate field, a warning each (Warn)."""
    try:
        obj = load_json(body) if body.strip() else None
        if obj is None:
            raise ValueError("unexpected end of JSON input")
    except ValueError as error:
        raise ApiError.bad_request(
            f"the object provided is unrecognized (must be of type {resource.kind}): "
            f"couldn't get version/kind; json parse error: {error} ({_summary(body)})"
        ) from error
    if not isinstance(obj, dict):
        return obj
    decoder = _JsonDecoder()
    try:
        decoder.decode(obj, kind_shape(resource.plural, resource.version))
    except _Abort as error:
        raise ApiError.bad_request(f"{_header(resource, obj)}: {error}") from error
    if decoder.error:
        raise ApiError.bad_request(f"{_header(resource, obj)}: {decoder.error}")
    _settle(decoder.strict, directive, lambda text: f"{_header(resource, obj)}: {text}")
    return obj


def type_error(plural: str, obj: Obj) -> str | None:
    """Why a stored object would not decode into its type (None when it would): for
    controllers, which must not act on what the server would never have stored."""
    decoder = _JsonDecoder()
    try:
        decoder.decode(copy.deepcopy(obj), kind_shape(plural))
    except _Abort as error:
        return str(error)
    return decoder.error


def _summary(body: bytes, limit: int = 30) -> str:
    """summarizeData: an object's first bytes as text, anything else's in hex."""
    if not body:
        return "<empty>"
    shown = body[:limit]
    text = shown.decode(errors="replace") if body[:1] == b"{" else shown.hex()
    return text + " ..." if len(body) > limit else text


def _settle(strict: list[str], directive: str, refusal: Any) -> None:
    if not strict or directive == IGNORE:
        return
    if directive == WARN:
        warn(strict)
        return
    raise ApiError.bad_request(refusal(strict_message(strict)))


def strict_message(errors: list[str]) -> str:
    """runtime.NewStrictDecodingError's text."""
    return "strict decoding error: " + ", ".join(errors)


# -------------------------------------------------------------------- patches


def load_patch(body: bytes, patch_type: str, directive: str) -> tuple[Any, list[str]]:
    """A patch body and the strict errors its own decoding found (duplicates; unknown fields of
    JSON patch operations), refused as the patch handler refuses malformed ones."""
    checking = directive != IGNORE
    if patch_type == "application/apply-patch+yaml":
        return _load_apply(body), []
    try:
        document = load_json(body)
    except ValueError as error:
        if patch_type == "application/strategic-merge-patch+json":
            raise ApiError.bad_request(str(error)) from error
        if checking:
            raise ApiError.bad_request(f"error decoding patch: {error}") from error
        if patch_type == "application/merge-patch+json":
            raise ApiError.bad_request("Invalid JSON Patch") from error  # json-patch's own
        raise ApiError.bad_request(str(error)) from error
    strict: list[str] = []
    if patch_type == "application/json-patch+json":
        if not isinstance(document, list):
            # Strict and Warn read the operations into the handler's type, Ignore into
            # json-patch's own.
            into = "[]handlers.jsonPatchOp" if checking else "jsonpatch.Patch"
            prefix = "error decoding patch: " if checking else ""
            raise ApiError.bad_request(
                f"{prefix}json: cannot unmarshal {json_kind(document)} into Go value of type {into}"
            )
        if checking:
            for position, operation in enumerate(document):
                if not isinstance(operation, dict):
                    continue
                for key in getattr(operation, "duplicates", ()):
                    strict.append(f'json patch duplicate field "[{position}].{key}"')
                for key in operation:
                    if key not in ("op", "path", "from", "value"):
                        strict.append(f'json patch unknown field "[{position}].{key}"')
        return document, strict
    if not isinstance(document, dict):
        prefix = "error decoding patch: " if patch_type.startswith("application/merge") else ""
        raise ApiError.bad_request(
            f"{prefix}json: cannot unmarshal {json_kind(document)} into Go value of type "
            "map[string]interface {}"
        )
    if checking:
        _collect_duplicates(document, "", strict)
    return document, strict


def _collect_duplicates(value: Any, at: str, found: list[str]) -> None:
    if isinstance(value, dict):
        for key in getattr(value, "duplicates", ()):
            found.append(f"duplicate field {go_quote(f'{at}.{key}' if at else key)}")
        for key, item in value.items():
            _collect_duplicates(item, f"{at}.{key}" if at else key, found)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            _collect_duplicates(item, f"{at}[{position}]", found)


def check_patched(
    resource: Resource,
    patch_type: str,
    patched: Obj,
    patch: Any,
    directive: str,
    patch_strict: list[str],
) -> None:
    """Decode the result of a JSON, merge or strategic merge patch into the kind's type: a 422
    ``patch: Invalid value`` as the patch handler writes it when it does not fit."""
    strategic = patch_type == "application/strategic-merge-patch+json"
    if strategic:
        problem, strict = _convert(
            patched, kind_shape(resource.plural, resource.version), directive != IGNORE
        )
        shown = go_print(patch)
    else:
        decoder = _JsonDecoder()
        try:
            decoder.decode(patched, kind_shape(resource.plural, resource.version))
            problem = decoder.error
        except _Abort as error:
            problem = str(error)
        strict = decoder.strict if directive != IGNORE else []
        shown = go_json(patched)
    if problem:
        raise _patch_invalid(shown, problem)
    strict = patch_strict + strict
    if not strict or directive == IGNORE:
        return
    if directive == WARN:
        warn(strict)
        return
    raise _patch_invalid(shown, strict_message(strict))


def _patch_invalid(shown: str, detail: str) -> ApiError:
    error = field.invalid(Path("patch"), shown, detail)
    return ApiError(
        422,
        "Invalid",
        f' "" is invalid: {error}',
        {"causes": [error.cause()]},
    )


def go_json(value: Any) -> str:
    """encoding/json's output for a map: sorted keys, no spaces, HTML characters escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def go_print(value: Any) -> str:
    """``fmt.Sprintf("%+v", value)`` of decoded JSON: ``map[a:1 b:[x y]]``."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_print(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_print(item) for item in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _go_float(value: float) -> str:
    """``%v`` of a float64 (strconv's shortest %g: exponent form below 1e-4 and from 1e6)."""
    if value == 0 or value != value or value in (float("inf"), float("-inf")):
        return {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}.get(repr(value), "0")
    number = Decimal(repr(value)).normalize()
    sign, digit_tuple, _ = number.as_tuple()
    digits = "".join(map(str, digit_tuple))
    exponent = number.adjusted()
    prefix = "-" if sign else ""
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    return prefix + format(number, "f")


# ------------------------------------------------- the unstructured converter


def _convert(value: Obj, shape: Shape, collect: bool) -> tuple[str | None, list[str]]:
    """runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation: the first error
    (fields visited in the type's order), else the unknown fields, sorted."""
    unknown: list[str] = []
    try:
        _from(value, shape, "", unknown)
    except _Abort as error:
        return str(error), []
    return None, sorted(f"unknown field {go_quote(path)}" for path in unknown) if collect else []


def _go_kind(value: Any) -> str:
    """reflect.Kind of a decoded JSON value, as the converter names it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map"
    return "slice"


def _from(value: Any, shape: Shape, at: str, unknown: list[str]) -> None:
    kind = shape.kind
    if value is None or kind == "any":
        return
    source = _go_kind(value)
    if kind in ("int", "float", "bool", "string"):
        _convert_scalar(value, source, kind, shape.go)
    elif kind in ("quantity", "intstr", "time"):
        # Types with an UnmarshalJSON get the value through JSON, out of any field's context.
        _JsonDecoder()._scalar(value, shape, "", ())
    elif kind == "bytes":
        if source not in ("string", "slice"):
            raise _Abort(f"cannot restore slice from {source}")
        problem = _base64_error(value) if source == "string" else None
        if problem:
            raise _Abort(f"error decoding from json: {problem}")
    elif kind == "list":
        if source != "slice":
            raise _Abort(f"cannot restore slice from {source}")
        for position, item in enumerate(value):
            _from(item, shape.elem, f"{at}[{position}]", unknown)
    elif kind == "map":
        if source != "map":
            raise _Abort(f"cannot restore map from {source}")
        for item in value.values():
            _from(item, shape.elem, at, unknown)
    else:
        if source != "map":
            raise _Abort(f"cannot restore struct from: {source}")
        for key in shape.fields():
            if key in value:
                child = shape.field(key)
                assert child is not None
                _from(value[key], child, f"{at}.{key}" if at else key, unknown)
        extra = [key for key in value if shape.field(key) is None]
        for key in extra:
            unknown.append(f"{at}.{key}" if at else key)
            del value[key]


def _convert_scalar(value: Any, source: str, kind: str, go: str) -> None:
    numeric = source in ("int64", "float64")
    if kind == "string" and source == "string":
        return
    if kind == "bool" and source == "bool":
        return
    if kind == "int" and numeric:
        if source == "int64" or float(value).is_integer():
            return
        raise _Abort(f"cannot convert float64 to {go}")
    if kind == "float" and numeric:
        return
    if kind == "string" and source == "int64":
        raise _Abort(f"cannot convert int64 to {go}")
    raise _Abort(f"unrecognized type: {'string' if kind == 'string' else go}")


# ------------------------------------------------------------ apply patches


def check_apply(resource: Resource, applied: Obj, directive: str) -> None:
    """What the field manager says of an applied configuration that its typed conversion
    refuses (a 500, as the server answers errors that are not a Status), then the strict YAML
    check of duplicated keys."""
    errors: list[str] = []
    _typed(applied, kind_shape(resource.plural, resource.version), "", errors)
    if errors:
        text = errors[0] if len(errors) == 1 else "errors:\n" + "\n".join(f"  {e}" for e in errors)
        raise ApiError(
            500, "", f"failed to create typed patch object ({_gvknn(resource, applied)}): {text}"
        )
    decoder = _JsonDecoder()
    try:
        decoder.decode(applied, kind_shape(resource.plural, resource.version))
        problem = decoder.error
    except _Abort as error:
        problem = str(error)
    if problem:
        raise ApiError(
            500,
            "",
            f"failed to convert new object ({_gvknn(resource, applied)}) to proper version "
            f"({resource.api_version}): {problem}",
        )
    duplicates = getattr(applied, "yaml_duplicates", None)
    if duplicates and directive != IGNORE:
        message = "error converting YAML to JSON: yaml: unmarshal errors:\n" + "\n".join(
            f"  line {line}: key {go_quote(key)} already set in map" for line, key in duplicates
        )
        if directive == WARN:
            warn([line.strip() for line in message.split("\n")[1:]])
        else:
            raise ApiError.bad_request(f"error strict decoding YAML: {message}")


def _gvknn(resource: Resource, obj: Obj) -> str:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    api_version = obj.get("apiVersion") or resource.api_version
    group, _, version = str(api_version).rpartition("/")
    kind = obj.get("kind") or resource.kind
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}; {group}/{version}, Kind={kind}"


def _go_syntax(value: Any) -> str:
    """``%#v`` of a decoded value."""
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, dict):
        items = ", ".join(f"{go_quote(k)}:{_go_syntax(value[k])}" for k in sorted(value))
        return f"map[string]interface {{}}{{{items}}}"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go_syntax(item) for item in value) + "}"
    return str(value)


def _typed(value: Any, shape: Shape, at: str, errors: list[str]) -> None:
    """structured-merge-diff's validation of a value against its schema."""
    kind = shape.kind
    if value is None or kind == "any":
        return
    if kind == "struct" or kind == "map":
        if not isinstance(value, dict):
            errors.append(f"{at}: expected map, got &{{{go_print(value)}}}")
            return
        for key in sorted(value):
            child = shape.field(key) if kind == "struct" else shape.elem
            path = f"{at}.{key}"
            if child is None:
                errors.append(f"{path}: field not declared in schema")
                return
            _typed(value[key], child, path, errors)
    elif kind == "list":
        if not isinstance(value, list):
            errors.append(f"{at}: expected list, got &{{{go_print(value)}}}")
            return
        seen: set[str] = set()
        for position, item in enumerate(value):
            element = _element(shape, position, item)
            if element in seen:
                errors.append(f"{at}: duplicate entries for key {element}")
            seen.add(element)
            _typed(item, shape.elem, f"{at}{element}", errors)
    elif kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(f"{at}: expected numeric (int or float), got {_go_type(value)}")
    elif kind == "bool":
        if not isinstance(value, bool):
            errors.append(f"{at}: expected boolean, got &{{{go_print(value)}}}")
    elif kind in ("string", "bytes", "time"):
        if not isinstance(value, str):
            errors.append(
                f"{at}: expected string, got &value.valueUnstructured{{Value:{_go_syntax(value)}}}"
            )
    elif isinstance(value, dict | list):
        errors.append(f"{at}: expected any scalar, got &{{{go_print(value)}}}")


def _element(shape: Shape, position: int, item: Any) -> str:
    """A list element's path element: ``[name="c"]`` for keyed lists, else ``[0]``."""
    if shape.keys and isinstance(item, dict) and all(key in item for key in shape.keys):
        parts = ",".join(
            f"{key}={json.dumps(item[key], separators=(',', ':'))}" for key in sorted(shape.keys)
        )
        return f"[{parts}]"
    return f"[{position}]"


def _go_type(value: Any) -> str:
    """``%T`` of a decoded value."""
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return "[]interface {}"


def _load_apply(body: bytes) -> Any:
    """An apply patch: JSON (what kubectl sends) read as JSON, which is quicker; YAML, or JSON
    with a duplicated key, read as YAML so that duplicates are reported by line as go-yaml
    reports them."""
    if body.lstrip()[:1] == b"{":
        duplicated = False

        def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
            nonlocal duplicated
            result = dict(items)
            duplicated = duplicated or len(result) != len(items)
            return result

        try:
            document = json.loads(body.decode(errors="replace"), object_pairs_hook=pairs)
        except ValueError:
            document = None
        if isinstance(document, dict) and not duplicated:
            return document
    return _load_yaml(body)


def _load_yaml(body: bytes) -> Any:
    """An apply patch, parsed as YAML (JSON is YAML), with its duplicated keys noted."""
    loader = _DuplicateNotingLoader(body)
    try:
        document = loader.get_single_data()
    except yaml.YAMLError as error:
        raise ApiError.bad_request(f"error decoding YAML: {error}") from error
    finally:
        loader.dispose()
    if isinstance(document, dict) and loader.duplicates:
        marked = _Duplicated(document)
        marked.duplicates = []
        marked.yaml_duplicates = loader.duplicates
        return marked
    return document


class _DuplicateNotingLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    def __init__(self, stream: bytes) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = key_node.value
            if key in seen:
                self.duplicates.append((key_node.start_mark.line + 1, str(key)))
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping
