"""ObjectMeta, labels, annotations and label selectors, as apimachinery validates them.

ValidateObjectMeta and ValidateObjectMetaUpdate (api/validation/objectmeta.go), ValidateLabels
and ValidateLabelSelector (apis/meta/v1/validation), plus the immutable-field check every
strategy's update uses.
"""

from __future__ import annotations

from typing import Any

from sandbox.apimachinery import field
from sandbox.apimachinery.field import ErrorList, GoValue, Path, go_quote
from sandbox.apiserver.registry import names
from sandbox.apiserver.registry.values import Obj, items, mapping, text

METADATA = Path("metadata")
FIELD_IMMUTABLE = "field is immutable"
IS_NEGATIVE = "must be greater than or equal to 0"
TOTAL_ANNOTATION_SIZE = 256 * 1024
_STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")
_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_labels(labels: Any, path: Path) -> ErrorList:
    errors: ErrorList = []
    for key, value in mapping(labels).items():
        errors.extend(validate_label_name(str(key), path))
        for message in names.is_label_value(text(value)):
            errors.append(field.invalid(path, text(value), message))
    return errors


def validate_label_name(name: str, path: Path) -> ErrorList:
    return [field.invalid(path, name, message) for message in names.is_qualified_name(name)]


def validate_annotations(annotations: Any, path: Path) -> ErrorList:
    # The rule is the qualified name's, but case does not matter.
    errors: ErrorList = []
    size = 0
    for key, value in mapping(annotations).items():
        errors.extend(
            field.invalid(path, key, message) for message in names.is_qualified_name(key.lower())
        )
        size += len(key.encode()) + len(text(value).encode())
    if size > TOTAL_ANNOTATION_SIZE:
        errors.append(field.too_long(path, TOTAL_ANNOTATION_SIZE))
    return errors


def validate_label_selector(selector: Any, path: Path) -> ErrorList:
    """ValidateLabelSelector, label values in expressions checked (AllowInvalidLabelValue off)."""
    if not isinstance(selector, dict):
        return []
    errors = validate_labels(selector.get("matchLabels"), path.child("matchLabels"))
    for position, requirement in enumerate(items(selector.get("matchExpressions"))):
        where = path.child("matchExpressions").index(position)
        requirement = mapping(requirement)
        operator = requirement.get("operator")
        values = items(requirement.get("values"))
        if operator in ("In", "NotIn"):
            if not values:
                errors.append(
                    field.required(
                        where.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    )
                )
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                errors.append(
                    field.forbidden(
                        where.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        else:
            errors.append(
                field.invalid(where.child("operator"), operator, "not a valid selector operator")
            )
        errors.extend(validate_label_name(text(requirement.get("key")), where.child("key")))
        for index, value in enumerate(values):
            errors.extend(
                field.invalid(where.child("values").index(index), text(value), message)
                for message in names.is_label_value(text(value))
            )
    return errors


def selector_matches(selector: Any, labels: Any) -> bool:
    """LabelSelectorAsSelector(selector).Matches(labels); a missing selector matches nothing,
    an empty one everything."""
    if not isinstance(selector, dict):
        return False
    labels = mapping(labels)
    for key, value in mapping(selector.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    for requirement in items(selector.get("matchExpressions")):
        requirement = mapping(requirement)
        key, operator = text(requirement.get("key")), requirement.get("operator")
        values = set(map(str, items(requirement.get("values"))))
        present = key in labels
        if (
            (operator == "In" and labels.get(key) not in values)
            or (operator == "NotIn" and present and labels[key] in values)
            or (operator == "Exists" and not present)
            or (operator == "DoesNotExist" and present)
        ):
            return False
    return True


def selector_is_empty(selector: Any) -> bool:
    selector = mapping(selector)
    return not (mapping(selector.get("matchLabels")) or items(selector.get("matchExpressions")))


def selector_value(selector: Any) -> GoValue:
    """A *metav1.LabelSelector as field errors print it (%#v of the struct it points to)."""
    selector = mapping(selector)
    labels = selector.get("matchLabels")
    match_labels = GoValue.string_map(labels if isinstance(labels, dict) else None).text
    expressions = selector.get("matchExpressions")
    if isinstance(expressions, list):
        listed = ", ".join(_requirement_value(mapping(e)) for e in expressions)
        match_expressions = "[]v1.LabelSelectorRequirement{" + listed + "}"
    else:
        match_expressions = "[]v1.LabelSelectorRequirement(nil)"
    return GoValue(
        f"v1.LabelSelector{{MatchLabels:{match_labels}, MatchExpressions:{match_expressions}}}"
    )


def _requirement_value(requirement: Obj) -> str:
    values = requirement.get("values")
    listed = (
        GoValue.string_list([text(v) for v in values]).text
        if isinstance(values, list)
        else "[]string(nil)"
    )
    return (
        f"v1.LabelSelectorRequirement{{Key:{go_quote(text(requirement.get('key')))}, "
        f"Operator:{go_quote(text(requirement.get('operator')))}, Values:{listed}}}"
    )


def _finalizer_errors(finalizers: Any, path: Path) -> ErrorList:
    errors: ErrorList = []
    listed = [text(f) for f in items(finalizers)]
    for name in listed:
        errors.extend(field.invalid(path, name, m) for m in names.is_qualified_name(name))
    if "orphan" in listed and "foregroundDeletion" in listed:
        errors.append(
            field.invalid(
                path,
                GoValue.string_list(listed),
                "finalizer orphan and foregroundDeletion cannot be both set",
            )
        )
    return errors


def _kube_finalizer_errors(finalizers: Any, path: Path) -> ErrorList:
    """core's extra rule: an unprefixed finalizer must be one of the standard ones."""
    return [
        field.invalid(
            path.index(position),
            text(name),
            "name is neither a standard finalizer name nor is it fully qualified",
        )
        for position, name in enumerate(items(finalizers))
        if "/" not in text(name) and text(name) not in _STANDARD_FINALIZERS
    ]


def _common(meta: Obj, path: Path) -> ErrorList:
    errors = validate_labels(meta.get("labels"), path.child("labels"))
    errors.extend(validate_annotations(meta.get("annotations"), path.child("annotations")))
    errors.extend(
        _owner_reference_errors(meta.get("ownerReferences"), path.child("ownerReferences"))
    )
    errors.extend(_finalizer_errors(meta.get("finalizers"), path.child("finalizers")))
    return errors


def _owner_reference_errors(references: Any, path: Path) -> ErrorList:
    errors: ErrorList = []
    controller = ""
    for reference in items(references):
        reference = mapping(reference)
        api_version = text(reference.get("apiVersion"))
        if not api_version.rsplit("/", 1)[-1]:
            errors.append(
                field.invalid(path.child("apiVersion"), api_version, "version must not be empty")
            )
        for key in ("kind", "name", "uid"):
            if not text(reference.get(key)):
                errors.append(
                    field.invalid(path.child(key), text(reference.get(key)), "must not be empty")
                )
        if reference.get("controller") is True:
            current = f"{text(reference.get('kind'))}/{text(reference.get('name'))}"
            if controller:
                errors.append(
                    field.invalid(
                        path,
                        GoValue("[]v1.OwnerReference{...}"),
                        'Only one reference can have Controller set to true. Found "true" in '
                        f"references for {controller} and {current}",
                    )
                )
            else:
                controller = current
    return errors


def validate_object_meta(meta: Obj, name_rule: names.NameRule) -> ErrorList:
    """ValidateObjectMeta on create (the name already generated), core's finalizer rule
    included."""
    path = METADATA
    errors: ErrorList = []
    generate = text(meta.get("generateName"))
    name = text(meta.get("name"))
    if generate:
        errors.extend(
            field.invalid(path.child("generateName"), generate, message)
            for message in name_rule(generate, True)
        )
    if name:
        errors.extend(
            field.invalid(path.child("name"), name, message) for message in name_rule(name, False)
        )
    elif not generate:
        errors.append(field.required(path.child("name"), "name or generateName is required"))
    generation = meta.get("generation")
    if isinstance(generation, int) and generation < 0:
        errors.append(field.invalid(path.child("generation"), generation, IS_NEGATIVE))
    errors.extend(_common(meta, path))
    errors.extend(_kube_finalizer_errors(meta.get("finalizers"), path.child("finalizers")))
    return errors


def validate_object_meta_update(new: Obj, old: Obj) -> ErrorList:
    """ValidateObjectMetaUpdate: an object being deleted takes no new finalizers; labels,
    annotations, owners and finalizers stay valid. (Identity fields the API layer restores.)"""
    path = METADATA
    errors: ErrorList = []
    if old.get("deletionTimestamp"):
        before = set(map(str, items(old.get("finalizers"))))
        extra = sorted(set(map(str, items(new.get("finalizers")))) - before)
        if extra:
            errors.append(
                field.forbidden(
                    path.child("finalizers"),
                    "no new finalizers can be added if the object is being deleted, found new "
                    f"finalizers {GoValue.string_list(extra).text}",
                )
            )
    errors.extend(_common(new, path))
    return errors


def _semantic(value: Any) -> Any:
    """What apimachinery's semantic DeepEqual compares: empty and missing are the same."""
    if isinstance(value, dict):
        kept = {k: _semantic(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def semantic_equal(a: Any, b: Any) -> bool:
    return bool(_semantic(a) == _semantic(b))


def immutable(new: Any, old: Any, path: Path, shown: Any = None) -> ErrorList:
    """ValidateImmutableField: the new value, then ``field is immutable``."""
    if semantic_equal(new, old):
        return []
    return [field.invalid(path, new if shown is None else shown, FIELD_IMMUTABLE)]


def nonnegative(value: Any, path: Path) -> ErrorList:
    """ValidateNonnegativeField, for a value that may be absent."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        return [field.invalid(path, value, IS_NEGATIVE)]
    return []
