"""Field errors, as k8s.io/apimachinery/pkg/util/validation/field writes them.

Validation collects ``FieldError``s; the API server turns them into a 422 whose message and
``details.causes`` are what kubectl prints: ``spec.replicas: Invalid value: -1: must be
greater than or equal to 0``. Values are printed the way Go's ``%v``/``%q``/``%#v`` print them,
since that is what users of a real cluster read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
TYPE_INVALID = "FieldValueTypeInvalid"
DUPLICATE = "FieldValueDuplicate"
NOT_FOUND = "FieldValueNotFound"
NOT_SUPPORTED = "FieldValueNotSupported"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
INTERNAL = "InternalError"

_TYPE_TEXT = {
    REQUIRED: "Required value",
    INVALID: "Invalid value",
    TYPE_INVALID: "Invalid value",
    DUPLICATE: "Duplicate value",
    NOT_FOUND: "Not found",
    NOT_SUPPORTED: "Unsupported value",
    FORBIDDEN: "Forbidden",
    TOO_LONG: "Too long",
    TOO_MANY: "Too many",
    INTERNAL: "Internal error",
}
# The types whose message leaves the value out.
_NO_VALUE = {REQUIRED, FORBIDDEN, TOO_LONG, INTERNAL}


class Path:
    """A field path such as ``spec.template.spec.containers[0].image``."""

    __slots__ = ("_text",)

    def __init__(self, text: str = "") -> None:
        self._text = text

    def child(self, *names: str) -> Path:
        text = self._text
        for name in names:
            text = f"{text}.{name}" if text else name
        return Path(text)

    def index(self, position: int) -> Path:
        return Path(f"{self._text}[{position}]")

    def key(self, name: str) -> Path:
        return Path(f"{self._text}[{name}]")

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Path({self._text!r})"


class GoValue:
    """A value printed as Go prints a typed value with ``%#v`` (maps, structs)."""

    def __init__(self, text: str) -> None:
        self.text = text

    @classmethod
    def string_map(cls, mapping: dict[str, Any] | None) -> GoValue:
        """``map[string]string{"a":"b", "c":"d"}`` (Go sorts map keys when printing)."""
        if mapping is None:
            return cls("map[string]string(nil)")
        items = ", ".join(f"{go_quote(k)}:{go_quote(str(v))}" for k, v in sorted(mapping.items()))
        return cls(f"map[string]string{{{items}}}")

    @classmethod
    def string_list(cls, values: list[str]) -> GoValue:
        return cls("[]string{" + ", ".join(go_quote(v) for v in values) + "}")


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(text: str) -> str:
    """Go's ``%q`` (strconv.Quote): printable runes kept, the rest escaped as Go escapes them."""
    out = ['"']
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable() or char == " ":
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


def go_value(value: Any) -> str:
    """How field errors print a bad value (``%v`` for scalars, ``%q`` for strings)."""
    if value is None:
        return "null"
    if isinstance(value, GoValue):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _go_number(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, dict):
        if all(isinstance(v, str) for v in value.values()):
            return GoValue.string_map(value).text
        return (
            "map[string]interface {}{"
            + ", ".join(f"{go_quote(str(k))}:{go_value(v)}" for k, v in sorted(value.items()))
            + "}"
        )
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return GoValue.string_list(value).text
        return "[]interface {}{" + ", ".join(go_value(v) for v in value) + "}"
    return str(value)


def _go_number(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of an object."""

    type: str
    field: str
    value: Any = None
    detail: str = ""

    def body(self) -> str:
        """The message after the field path, as ``field.Error.ErrorBody`` writes it."""
        text = _TYPE_TEXT[self.type]
        if self.type not in _NO_VALUE:
            text = f"{text}: {go_value(self.value)}"
        if self.detail:
            text = f"{text}: {self.detail}"
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"

    def cause(self) -> dict[str, str]:
        return {"reason": self.type, "message": self.body(), "field": self.field}


ErrorList = list[FieldError]


def required(path: Path, detail: str = "") -> FieldError:
    return FieldError(REQUIRED, str(path), None, detail)


def invalid(path: Path, value: Any, detail: str) -> FieldError:
    return FieldError(INVALID, str(path), value, detail)


def duplicate(path: Path, value: Any) -> FieldError:
    return FieldError(DUPLICATE, str(path), value)


def not_found(path: Path, value: Any) -> FieldError:
    return FieldError(NOT_FOUND, str(path), value)


def not_supported(path: Path, value: Any, supported: list[str] | tuple[str, ...]) -> FieldError:
    detail = "supported values: " + ", ".join(go_quote(v) for v in supported) if supported else ""
    return FieldError(NOT_SUPPORTED, str(path), value, detail)


def forbidden(path: Path, detail: str) -> FieldError:
    return FieldError(FORBIDDEN, str(path), None, detail)


def too_long(path: Path, max_length: int) -> FieldError:
    """TooLong as 1.32 words it (the value is never printed)."""
    unit = "byte" if max_length == 1 else "bytes"
    return FieldError(TOO_LONG, str(path), None, f"may not be more than {max_length} {unit}")


def too_many(path: Path, actual: int, max_items: int) -> FieldError:
    return FieldError(TOO_MANY, str(path), actual, f"must have at most {max_items} items")


def aggregate(errors: ErrorList) -> str:
    """``utilerrors.Aggregate``: one message, or ``[a, b]``; repeated messages once."""
    messages = list(dict.fromkeys(str(error) for error in errors))
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"
