"""Kubernetes label and field selectors: parse the query-string syntax and match objects."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from sandbox.apimachinery.field import go_quote
from sandbox.resources import BY_PLURAL

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


# ------------------------------------------------------------------ field selectors
#
# As kube-apiserver reads ?fieldSelector=: fields.ParseSelector splits the terms (a backslash
# escapes ``,`` ``=`` and ``\\`` in values), sorts them, and takes ``!=``, ``==`` or ``=``
# at their first occurrence; then each kind's field label conversion (the
# AddFieldLabelConversionFunc calls of pkg/apis/*/v1/conversion.go) refuses a label it does
# not know, and the registry's GetAttrs (pkg/registry/*/strategy.go) gives each label's value.

FieldGetter = Callable[[dict[str, Any]], str]

_CORE_REFUSAL = "field label not supported: {label}"
_DEFAULT_LABELS = ("metadata.name", "metadata.namespace")


def _path(*keys: str) -> FieldGetter:
    def read(obj: dict[str, Any]) -> str:
        value: Any = obj
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return "" if value is None else str(value)

    return read


def _go_bool(*keys: str) -> FieldGetter:
    read = _path(*keys)
    return lambda obj: "true" if read(obj) == "True" else "false"


def _pod_ip(pod: dict[str, Any]) -> str:
    # The internal PodStatus keeps only podIPs; v1's podIP alone converts to podIPs[0].
    status = pod.get("status") or {}
    ips = status.get("podIPs") or []
    if ips and isinstance(ips[0], dict):
        return str(ips[0].get("ip") or "")
    return str(status.get("podIP") or "")


def _event_source(event: dict[str, Any]) -> str:
    source = _path("source", "component")(event)
    return source or _path("reportingComponent")(event)


@dataclass(frozen=True)
class FieldLabels:
    """What one kind's field label conversion accepts, how it refuses the rest, the labels
    it renames, and the values its GetAttrs selects (beyond the metadata ones)."""

    accepted: tuple[str, ...]
    refusal: str
    fields: dict[str, FieldGetter]
    renames: dict[str, str] = dc_field(default_factory=dict)


FIELD_LABELS: dict[str, FieldLabels] = {
    "pods": FieldLabels(
        (
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ),
        _CORE_REFUSAL,
        {
            "spec.nodeName": _path("spec", "nodeName"),
            "spec.restartPolicy": _path("spec", "restartPolicy"),
            "spec.schedulerName": _path("spec", "schedulerName"),
            "spec.serviceAccountName": _path("spec", "serviceAccountName"),
            "spec.hostNetwork": _go_bool("spec", "hostNetwork"),
            "status.phase": _path("status", "phase"),
            "status.podIP": _pod_ip,
            "status.nominatedNodeName": _path("status", "nominatedNodeName"),
        },
        # For old v1 clients that sent spec.host.
        {"spec.host": "spec.nodeName"},
    ),
    "nodes": FieldLabels(
        ("metadata.name", "spec.unschedulable"),
        _CORE_REFUSAL,
        {"spec.unschedulable": _go_bool("spec", "unschedulable")},
    ),
    "events": FieldLabels(
        (
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
            "metadata.namespace",
            "metadata.name",
        ),
        _CORE_REFUSAL,
        {
            **{
                f"involvedObject.{key}": _path("involvedObject", key)
                for key in (
                    "kind",
                    "namespace",
                    "name",
                    "uid",
                    "apiVersion",
                    "resourceVersion",
                    "fieldPath",
                )
            },
            "reason": _path("reason"),
            "reportingComponent": _path("reportingComponent"),
            "source": _event_source,
            "type": _path("type"),
        },
    ),
    "namespaces": FieldLabels(
        ("status.phase", "metadata.name"), _CORE_REFUSAL, {"status.phase": _path("status", "phase")}
    ),
    "secrets": FieldLabels(
        ("type", "metadata.namespace", "metadata.name"), _CORE_REFUSAL, {"type": _path("type")}
    ),
    "services": FieldLabels(
        ("metadata.namespace", "metadata.name", "spec.clusterIP", "spec.type"),
        _CORE_REFUSAL,
        {"spec.clusterIP": _path("spec", "clusterIP"), "spec.type": _path("spec", "type")},
    ),
    "jobs": FieldLabels(
        ("metadata.name", "metadata.namespace", "status.successful"),
        'field label "{label}" not supported for Job',
        {"status.successful": lambda job: str(int((job.get("status") or {}).get("succeeded", 0)))},
    ),
}
# DefaultMetaV1FieldSelectorConversion, for the kinds that register none.
_DEFAULT = FieldLabels(
    _DEFAULT_LABELS,
    '{quoted} is not a known field selector: only "metadata.name", "metadata.namespace"',
    {},
)


def _split_field_terms(selector: str) -> list[str]:
    terms, start, escaped = [], 0, False
    for index, char in enumerate(selector):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(selector[start:index])
            start = index + 1
    terms.append(selector[start:])
    return terms


def _split_field_term(term: str) -> tuple[str, str, str] | None:
    for index in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, index):
                return term[:index], op, term[index + len(op) :]
    return None


def _unescape(value: str) -> str:
    out, escaped = [], False
    for char in value:
        if escaped:
            if char not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{char}")
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            # Go formats the rune with %v: its code point.
            raise SelectorError(
                f"invalid field selector: unescaped character in value: {ord(char)}"
            )
        else:
            out.append(char)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _field_getter(resource: str, label: str) -> FieldGetter:
    """The value a kind's GetAttrs gives a field label ("" for one it does not set)."""
    if label == "metadata.name":
        return _path("metadata", "name")
    if label == "metadata.namespace":
        known = BY_PLURAL.get(resource)
        # ObjectMetaFieldsSet of a cluster-scoped object has no metadata.namespace.
        if known is None or known.namespaced:
            return _path("metadata", "namespace")
    return FIELD_LABELS.get(resource, _DEFAULT).fields.get(label, lambda obj: "")


def field_matcher(selector: str | None, resource: str) -> Matcher:
    """A predicate for a field selector such as ``metadata.name=x,status.phase!=Running`` on
    objects of ``resource``; SelectorError (a 400) for bad syntax or a label the kind does
    not support, in kube-apiserver's words."""
    if not selector:
        return lambda obj: True
    parsed = []
    for term in sorted(_split_field_terms(selector)):
        if term == "":
            continue
        split = _split_field_term(term)
        if split is None:
            raise SelectorError(f"invalid selector: '{selector}'; can't understand '{term}'")
        label, op, value = split
        parsed.append((label, op, _unescape(value)))
    labels = FIELD_LABELS.get(resource, _DEFAULT)
    tests: list[Matcher] = []
    for label, op, value in parsed:
        if label not in labels.accepted and label not in labels.renames:
            raise SelectorError(labels.refusal.format(label=label, quoted=go_quote(label)))
        tests.append(
            _field_test(_field_getter(resource, labels.renames.get(label, label)), op, value)
        )
    return lambda obj: all(test(obj) for test in tests)


def _field_test(read: FieldGetter, op: str, value: str) -> Matcher:
    if op == "!=":
        return lambda obj: read(obj) != value
    return lambda obj: read(obj) == value
