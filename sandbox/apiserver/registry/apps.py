"""Deployments and ReplicaSets (pkg/registry/apps): their defaults, ValidateDeploymentSpec and
ValidateReplicaSetSpec, and the apps/v1 rule that a selector never changes."""

from __future__ import annotations

from typing import Any

from sandbox.apimachinery import field
from sandbox.apimachinery.field import ErrorList, GoValue, Path, go_quote
from sandbox.apiserver.registry import meta, names, podspec, podwarnings
from sandbox.apiserver.registry.values import Obj, child, integer, mapping, text
from sandbox.storage.store import Store

SPEC = Path("spec")
_STRATEGIES = ("Recreate", "RollingUpdate")


def int_or_string_value(value: Any) -> GoValue:
    """An intstr.IntOrString as field errors print it (%#v)."""
    if isinstance(value, str):
        return GoValue(f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{go_quote(value)}}}")
    return GoValue(f'intstr.IntOrString{{Type:0, IntVal:{integer(value) or 0}, StrVal:""}}')


def percent(value: Any) -> int | None:
    """getIntOrPercentValue's percent: the number of a valid "N%" string."""
    if isinstance(value, str) and not names.is_valid_percent(value):
        return int(value[:-1])
    return None


def int_or_percent(value: Any) -> int:
    """getIntOrPercentValue: the percent or the int (a malformed string counts as 0)."""
    found = percent(value)
    return found if found is not None else (integer(value) or 0)


def validate_positive_int_or_percent(value: Any, path: Path) -> ErrorList:
    if isinstance(value, str):
        return [
            field.invalid(path, int_or_string_value(value), m)
            for m in names.is_valid_percent(value)
        ]
    return meta.nonnegative(value, path)


def not_more_than_100_percent(value: Any, path: Path) -> ErrorList:
    found = percent(value)
    if found is None or found <= 100:
        return []
    return [field.invalid(path, int_or_string_value(value), "must not be greater than 100%")]


def validate_selector_and_template(spec: Obj, path: Path) -> ErrorList:
    """The selector part of ValidateDeploymentSpec / ValidateReplicaSetSpec, then
    ValidatePodTemplateSpecForReplicaSet."""
    errors: ErrorList = []
    selector = spec.get("selector")
    if selector is None:
        errors.append(field.required(path.child("selector")))
    else:
        errors.extend(meta.validate_label_selector(selector, path.child("selector")))
        if meta.selector_is_empty(selector):
            errors.append(
                field.invalid(
                    path.child("selector"),
                    meta.selector_value(selector),
                    "empty selector is invalid for deployment",
                )
            )
    template = mapping(spec.get("template"))
    labels = mapping(template.get("metadata")).get("labels")
    # A missing selector selects nothing, so it cannot match; an empty one is not checked.
    if (selector is None or not meta.selector_is_empty(selector)) and not meta.selector_matches(
        selector, labels
    ):
        errors.append(
            field.invalid(
                path.child("template", "metadata", "labels"),
                GoValue.string_map(labels if isinstance(labels, dict) else None),
                "`selector` does not match template `labels`",
            )
        )
    errors.extend(podspec.validate_template(template, path.child("template")))
    pod_spec = mapping(template.get("spec"))
    restart = pod_spec.get("restartPolicy")
    if restart != "Always":
        errors.append(
            field.not_supported(
                path.child("template", "spec", "restartPolicy"), restart, ("Always",)
            )
        )
    if pod_spec.get("activeDeadlineSeconds") is not None:
        errors.append(
            field.forbidden(
                path.child("template", "spec", "activeDeadlineSeconds"),
                "activeDeadlineSeconds in ReplicaSet is not Supported",
            )
        )
    return errors


def _strategy_value(strategy: Obj) -> GoValue:
    rolling = "(*apps.RollingUpdateDeployment)(nil)"
    if strategy.get("rollingUpdate") is not None:
        rolling = f"(*apps.RollingUpdateDeployment)(0xc{id(strategy) & 0xFFFFFFFFF:09x})"
    kind = go_quote(text(strategy.get("type")))
    return GoValue(f"apps.DeploymentStrategy{{Type:{kind}, RollingUpdate:{rolling}}}")


def _deployment_strategy(strategy: Obj, path: Path) -> ErrorList:
    kind = strategy.get("type")
    if kind == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            return [
                field.forbidden(
                    path.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                )
            ]
        return []
    if kind != "RollingUpdate":
        return [field.not_supported(path, _strategy_value(strategy), _STRATEGIES)]
    rolling = strategy.get("rollingUpdate")
    where = path.child("rollingUpdate")
    if not isinstance(rolling, dict):
        return [field.required(where, "this should be defaulted and never be nil")]
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    errors = validate_positive_int_or_percent(unavailable, where.child("maxUnavailable"))
    errors.extend(validate_positive_int_or_percent(surge, where.child("maxSurge")))
    if int_or_percent(unavailable) == 0 and int_or_percent(surge) == 0:
        errors.append(
            field.invalid(
                where.child("maxUnavailable"),
                int_or_string_value(unavailable),
                "may not be 0 when `maxSurge` is 0",
            )
        )
    errors.extend(not_more_than_100_percent(unavailable, where.child("maxUnavailable")))
    return errors


class ReplicaSetStrategy(podwarnings.TemplateOwnerStrategy):
    def default(self, obj: Obj, old: Obj | None, store: Store) -> None:
        spec = child(obj, "spec")
        spec.setdefault("replicas", 1)
        podspec.default_template(spec)
        obj.setdefault("status", {"replicas": 0})

    def validate(self, obj: Obj) -> ErrorList:
        spec = mapping(obj.get("spec"))
        errors = super().validate(obj)
        errors.extend(meta.nonnegative(spec.get("replicas"), SPEC.child("replicas")))
        errors.extend(meta.nonnegative(spec.get("minReadySeconds"), SPEC.child("minReadySeconds")))
        errors.extend(validate_selector_and_template(spec, SPEC))
        return errors

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        errors = super().validate_update(obj, old)
        return errors + _selector_unchanged(obj, old)


def _selector_unchanged(obj: Obj, old: Obj) -> ErrorList:
    new_selector = mapping(obj.get("spec")).get("selector")
    return meta.immutable(
        new_selector,
        mapping(old.get("spec")).get("selector"),
        SPEC.child("selector"),
        meta.selector_value(new_selector),
    )


class DeploymentStrategy(podwarnings.TemplateOwnerStrategy):
    def generation_bumped(self, obj: Obj, old: Obj) -> bool:
        # Annotations are copied to the replica sets, so they bump it too.
        annotations = mapping(obj.get("metadata")).get("annotations")
        old_annotations = mapping(old.get("metadata")).get("annotations")
        changed = not meta.semantic_equal(annotations, old_annotations)
        return changed or super().generation_bumped(obj, old)

    def default(self, obj: Obj, old: Obj | None, store: Store) -> None:
        spec = child(obj, "spec")
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = child(spec, "strategy")
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = child(strategy, "rollingUpdate")
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
        podspec.default_template(spec)
        obj.setdefault("status", {})

    def validate(self, obj: Obj) -> ErrorList:
        spec = mapping(obj.get("spec"))
        errors = super().validate(obj)
        errors.extend(meta.nonnegative(spec.get("replicas"), SPEC.child("replicas")))
        errors.extend(validate_selector_and_template(spec, SPEC))
        errors.extend(_deployment_strategy(mapping(spec.get("strategy")), SPEC.child("strategy")))
        errors.extend(meta.nonnegative(spec.get("minReadySeconds"), SPEC.child("minReadySeconds")))
        errors.extend(
            meta.nonnegative(spec.get("revisionHistoryLimit"), SPEC.child("revisionHistoryLimit"))
        )
        deadline = integer(spec.get("progressDeadlineSeconds"))
        if deadline is not None:
            where = SPEC.child("progressDeadlineSeconds")
            errors.extend(meta.nonnegative(deadline, where))
            if deadline <= (integer(spec.get("minReadySeconds")) or 0):
                errors.append(
                    field.invalid(where, deadline, "must be greater than minReadySeconds")
                )
        return errors

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        errors = super().validate_update(obj, old)
        return errors + _selector_unchanged(obj, old)
