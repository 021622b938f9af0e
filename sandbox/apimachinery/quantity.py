"""Kubernetes resource quantities ("500m", "1Gi", "2e3"), as k8s.io/apimachinery's
resource.Quantity has them: ``parse`` (the exact value), ``parse_error`` (what ParseQuantity
answers for a value that is not one), ``rounded`` (the value the API keeps, rounded up to nano
units) and ``canonical`` (its String(): ``1000m`` is ``1``, ``1024Mi`` is ``1Gi``)."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

DECIMAL = ["n", "u", "m", "", "k", "M", "G", "T", "P", "E"]
BINARY = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
_SUFFIXES = {
    **{suffix: Fraction(10) ** (3 * (i - 3)) for i, suffix in enumerate(DECIMAL)},
    **{suffix: Fraction(2) ** (10 * i) for i, suffix in enumerate(BINARY) if suffix},
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$")
_NANO = Fraction(1, 10**9)
# resource.ErrFormatWrong, ErrSuffix: what Quantity.UnmarshalJSON answers for a bad value.
FORMAT_ERROR = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
SUFFIX_ERROR = "unable to parse quantity's suffix"


def parse(value: object) -> Fraction:
    """The value of a quantity; ValueError when it is not one."""
    if isinstance(value, int | float):
        return Fraction(value)
    match = _QUANTITY.match(str(value).strip())
    if not match or match[1] in ("", ".", "+", "-"):
        raise ValueError(f"quantities must match the regular expression: {value!r}")
    number = Fraction(match[1])
    if match[2]:
        return number * Fraction(10) ** int(match[2][1:])
    return number * _SUFFIXES[match[3] or ""]


def parse_error(value: Any) -> str | None:
    """What resource.ParseQuantity answers for a value (None: it is a quantity)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        return None
    elif isinstance(value, str):
        text = value.strip()
    else:
        return FORMAT_ERROR
    if not text:
        return FORMAT_ERROR
    match = re.match(r"^[+-]?[0-9]*(?:\.[0-9]*)?", text)
    rest = text[match.end() if match else 0 :]
    suffix = re.match(r"^[eEinumkKMGTP]*[-+]?[0-9]*", rest)
    if suffix is None or suffix.end() != len(rest):
        return FORMAT_ERROR
    if rest in _SUFFIXES or re.fullmatch(r"[eE][-+]?[0-9]+", rest):
        return None
    return SUFFIX_ERROR


def rounded(value: Any) -> Fraction | None:
    """The quantity's value, rounded up to nano units as the API rounds it; None if invalid."""
    if isinstance(value, bool):
        return None
    try:
        exact = parse(value)
    except (ValueError, ZeroDivisionError):
        return None
    return Fraction(math.ceil(exact / _NANO)) * _NANO


def _format(value: Any) -> str:
    raw = str(value).strip()
    if raw.endswith(tuple(BINARY[1:])):
        return "BinarySI"
    if "e" in raw.lower() and not raw.endswith("E"):
        return "DecimalExponent"
    return "DecimalSI"


def _decimal(value: Fraction, exponent_style: bool) -> str:
    if value == 0:
        return "0"
    for position in range(len(DECIMAL) - 1, -1, -1):
        exponent = 3 * (position - 3)
        mantissa = value / Fraction(10) ** exponent
        if mantissa.denominator == 1:
            if exponent_style:
                return f"{mantissa.numerator}" + (f"e{exponent}" if exponent else "")
            return f"{mantissa.numerator}{DECIMAL[position]}"
    return str(value)


def canonical(value: Any) -> str:
    """resource.Quantity.String() of a valid quantity (the input itself if it is not one)."""
    parsed = rounded(value)
    if parsed is None:
        return str(value)
    style = _format(value)
    if style == "BinarySI" and -1024 < parsed < 1024:
        style = "DecimalSI"
    if style == "BinarySI" and parsed.denominator != 1:
        style = "DecimalSI"
    if style != "BinarySI":
        return _decimal(parsed, style == "DecimalExponent")
    number = parsed.numerator
    power = 0
    while power < len(BINARY) - 1 and number % 1024 == 0:
        number //= 1024
        power += 1
    return f"{number}{BINARY[power]}"
