"""Kubernetes label and field selectors: parse the query-string syntax and match objects."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Matcher = Callable[[dict[str, Any]], bool]

_SET_EXPR = re.compile(r"^\s*(!?)\s*([^\s!=<>(),]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_CMP_EXPR = re.compile(r"^\s*([^\s!=(),]+)\s*(==|!=|=)\s*([^\s!=(),]*)\s*$")


class SelectorError(ValueError):
    """A selector string that cannot be parsed; the server answers 400 with this message."""


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside a parenthesised value set."""
    terms, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term for term in terms if term.strip()]


def _label_term(term: str) -> Callable[[dict[str, str]], bool]:
    if match := _CMP_EXPR.match(term):
        key, op, value = match.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _SET_EXPR.match(term):
        negated, key, op, values_text = match.groups()
        if op is None:
            if negated:
                return lambda labels: key not in labels
            return lambda labels: key in labels
        if negated:
            raise SelectorError(f"invalid label selector term {term.strip()!r}")
        values = {value.strip() for value in values_text.split(",") if value.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    raise SelectorError(f"invalid label selector term {term.strip()!r}")


def label_matcher(selector: str | None) -> Matcher:
    """A predicate over whole objects for a label selector such as ``app=x,tier in (a,b)``."""
    if not selector or not selector.strip():
        return lambda obj: True
    tests = [_label_term(term) for term in _split_terms(selector)]

    def matches(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(test(labels) for test in tests)

    return matches


def match_labels(selector: dict[str, Any] | None, labels: dict[str, str] | None) -> bool:
    """Match a structured LabelSelector (matchLabels + matchExpressions) against labels.

    An empty or missing selector matches nothing, as controllers treat it.
    """
    if not selector:
        return False
    labels = labels or {}
    match_labels_ = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels_ and not expressions:
        return False
    if any(labels.get(key) != value for key, value in match_labels_.items()):
        return False
    for expression in expressions:
        key, op = expression.get("key"), expression.get("operator")
        values = set(expression.get("values") or [])
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and key in labels and labels[key] in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def field_value(obj: dict[str, Any], path: str) -> str:
    """The string value of a dotted field path (missing fields read as the empty string)."""
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part)
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def field_matcher(selector: str | None) -> Matcher:
    """A predicate for a field selector such as ``metadata.name=x,status.phase!=Running``."""
    if not selector or not selector.strip():
        return lambda obj: True
    tests = [_field_term(term) for term in _split_terms(selector)]
    return lambda obj: all(test(obj) for test in tests)


def _field_term(term: str) -> Matcher:
    match = _CMP_EXPR.match(term)
    if not match:
        raise SelectorError(f"invalid field selector term {term.strip()!r}")
    path, op, value = match.groups()
    if op == "!=":
        return lambda obj: field_value(obj, path) != value
    return lambda obj: field_value(obj, path) == value
