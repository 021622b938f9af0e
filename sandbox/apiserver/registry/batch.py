"""Jobs and CronJobs (pkg/registry/batch): the Job's generated selector and labels, the
defaults, ValidateJob / ValidateJobSpecUpdate and ValidateCronJob with its schedule and time
zone."""

from __future__ import annotations

import re
from typing import Any

from sandbox.apimachinery import field
from sandbox.apimachinery.field import ErrorList, GoValue, Path
from sandbox.apiserver.registry import cron, meta, names, podspec, podwarnings
from sandbox.apiserver.registry.values import Obj, child, mapping, text
from sandbox.storage.store import Store

SPEC = Path("spec")
UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
_COMPLETION_MODES = ("NonIndexed", "Indexed")
_REPLACEMENT_POLICIES = ("Failed", "TerminatingOrFailed")
_CONCURRENCY = ("Allow", "Forbid", "Replace")
_TIME_ZONE_PART = re.compile(r"[A-Za-z.\-_0-9+]{1,14}")
# The cronjob controller appends an 11-character suffix to the Job name (63 at most).
_CRONJOB_NAME_MAX = names.DNS1035_LABEL_MAX - 11


def _manual(spec: Obj) -> bool:
    return spec.get("manualSelector") is True


def validate_job_spec(spec: Obj, path: Path) -> ErrorList:
    """validateJobSpec: the counts, the completion mode, the template and its restartPolicy."""
    errors: ErrorList = []
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit"):
        errors.extend(meta.nonnegative(spec.get(key), path.child(key)))
    errors.extend(
        meta.nonnegative(spec.get("ttlSecondsAfterFinished"), path.child("ttlSecondsAfterFinished"))
    )
    errors.extend(
        meta.nonnegative(spec.get("backoffLimitPerIndex"), path.child("backoffLimitPerIndex"))
    )
    if spec.get("maxFailedIndexes") is not None:
        errors.extend(meta.nonnegative(spec["maxFailedIndexes"], path.child("maxFailedIndexes")))
        if spec.get("backoffLimitPerIndex") is None:
            errors.append(
                field.required(
                    path.child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"
                )
            )
    mode = spec.get("completionMode")
    if mode is not None:
        if mode not in _COMPLETION_MODES:
            errors.append(
                field.not_supported(path.child("completionMode"), mode, _COMPLETION_MODES)
            )
        if mode == "Indexed" and spec.get("completions") is None:
            errors.append(
                field.required(path.child("completions"), "when completion mode is Indexed")
            )
    if mode in (None, "NonIndexed"):
        for key in ("backoffLimitPerIndex", "maxFailedIndexes"):
            if spec.get(key) is not None:
                errors.append(
                    field.invalid(path.child(key), spec[key], "requires indexed completion mode")
                )
    policy = spec.get("podReplacementPolicy")
    if policy is not None:
        allowed = ("Failed",) if spec.get("podFailurePolicy") is not None else _REPLACEMENT_POLICIES
        if policy not in allowed:
            errors.append(field.not_supported(path.child("podReplacementPolicy"), policy, allowed))
    template = mapping(spec.get("template"))
    errors.extend(podspec.validate_template(template, path.child("template")))
    restart = mapping(template.get("spec")).get("restartPolicy")
    where = path.child("template", "spec", "restartPolicy")
    if restart in ("Always", "", None):
        errors.append(field.required(where, 'valid values: "OnFailure", "Never"'))
    elif restart not in ("OnFailure", "Never"):
        errors.append(field.not_supported(where, restart, ("OnFailure", "Never")))
    elif spec.get("podFailurePolicy") is not None and restart != "Never":
        errors.append(
            field.invalid(
                where, restart, 'only "Never" is supported when podFailurePolicy is specified'
            )
        )
    return errors


def _validate_full_job_spec(spec: Obj, path: Path) -> ErrorList:
    """ValidateJobSpec: validateJobSpec, then the selector and that it selects the template."""
    errors = validate_job_spec(spec, path)
    selector = spec.get("selector")
    if selector is None:
        errors.append(field.required(path.child("selector")))
    else:
        errors.extend(meta.validate_label_selector(selector, path.child("selector")))
    labels = mapping(mapping(spec.get("template")).get("metadata")).get("labels")
    if not meta.selector_matches(selector, labels) and not (
        isinstance(selector, dict) and meta.selector_is_empty(selector)
    ):
        errors.append(
            field.invalid(
                path.child("template", "metadata", "labels"),
                GoValue.string_map(labels if isinstance(labels, dict) else None),
                "`selector` does not match template `labels`",
            )
        )
    return errors


def _generated_selector(obj: Obj) -> ErrorList:
    """validateGeneratedSelector: the labels the server put on the template are still there."""
    spec = mapping(obj.get("spec"))
    if _manual(spec) or spec.get("selector") is None:
        return []
    job_meta = mapping(obj.get("metadata"))
    uid, name = text(job_meta.get("uid")), text(job_meta.get("name"))
    errors: ErrorList = []
    if not uid:
        errors.append(field.required(Path("metadata.uid")))
    labels = mapping(mapping(mapping(spec.get("template")).get("metadata")).get("labels"))
    where = Path("spec.template.metadata").child("labels")
    for key, expected in (
        (UID_LABELS[1], uid),
        (NAME_LABELS[1], name),
        (UID_LABELS[0], uid),
        (NAME_LABELS[0], name),
    ):
        if key not in labels:
            errors.append(field.required(where.key(key), f"must be '{expected}'"))
        elif labels[key] != expected:
            errors.append(
                field.invalid(where.key(key), GoValue.string_map(labels), f"must be '{expected}'")
            )
    expected_labels = {
        UID_LABELS[0]: uid,
        NAME_LABELS[0]: name,
        UID_LABELS[1]: uid,
        NAME_LABELS[1]: name,
    }
    if not meta.selector_matches(spec.get("selector"), expected_labels):
        errors.append(
            field.invalid(
                SPEC.child("selector"),
                meta.selector_value(spec.get("selector")),
                "`selector` not auto-generated",
            )
        )
    return errors


class JobStrategy(podwarnings.TemplateOwnerStrategy):
    def default(self, obj: Obj, old: Obj | None, store: Store) -> None:
        spec = child(obj, "spec")
        job_meta = child(obj, "metadata")
        if spec.get("completions") is None and spec.get("parallelism") is None:
            spec["completions"] = 1
        spec.setdefault("parallelism", 1)
        spec.setdefault(
            "backoffLimit", 2**31 - 1 if spec.get("backoffLimitPerIndex") is not None else 6
        )
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        failure_policy = spec.get("podFailurePolicy") is not None
        spec.setdefault(
            "podReplacementPolicy", "Failed" if failure_policy else "TerminatingOrFailed"
        )
        template = podspec.default_template(spec)
        if old is None and not _manual(spec):
            uid, name = text(job_meta.get("uid")), text(job_meta.get("name"))
            labels = child(child(template, "metadata"), "labels")
            for key in UID_LABELS:
                labels.setdefault(key, uid)
            for key in NAME_LABELS:
                labels.setdefault(key, name)
            selector = child(spec, "selector")
            child(selector, "matchLabels").setdefault(UID_LABELS[0], uid)
        obj.setdefault("status", {})

    def validate(self, obj: Obj) -> ErrorList:
        spec = mapping(obj.get("spec"))
        errors = super().validate(obj)
        errors.extend(_generated_selector(obj))
        errors.extend(_validate_full_job_spec(spec, SPEC))
        return errors

    def template_warnings(self, obj: Obj) -> list[str]:
        return podwarnings.job_spec_warnings(SPEC, obj.get("spec"))

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        errors = meta.validate_object_meta_update(
            mapping(obj.get("metadata")), mapping(old.get("metadata"))
        )
        spec, old_spec = mapping(obj.get("spec")), mapping(old.get("spec"))
        errors.extend(_validate_full_job_spec(spec, SPEC))
        errors.extend(
            meta.immutable(
                spec.get("completions"), old_spec.get("completions"), SPEC.child("completions")
            )
        )
        errors.extend(
            meta.immutable(
                spec.get("selector"),
                old_spec.get("selector"),
                SPEC.child("selector"),
                meta.selector_value(spec.get("selector")),
            )
        )
        for key in (
            "template",
            "completionMode",
            "podFailurePolicy",
            "backoffLimitPerIndex",
            "managedBy",
            "successPolicy",
        ):
            errors.extend(meta.immutable(spec.get(key), old_spec.get(key), SPEC.child(key)))
        return errors


def _schedule(schedule: str, time_zone: Any, allow_tz: bool, path: Path) -> ErrorList:
    """validateScheduleFormat."""
    errors: ErrorList = []
    try:
        cron.parse_standard(schedule)
    except cron.CronError as error:
        errors.append(field.invalid(path, schedule, str(error)))
    if allow_tz and "TZ" in schedule and time_zone is not None:
        errors.append(
            field.invalid(
                path, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"
            )
        )
    elif not allow_tz and "TZ" in schedule:
        errors.append(
            field.invalid(
                path, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
            )
        )
    return errors


def _time_zone(time_zone: Any, path: Path) -> ErrorList:
    """validateTimeZone: IANA names only (LoadLocation's own check last)."""
    if time_zone is None:
        return []
    zone = text(time_zone)
    if not zone:
        return [field.invalid(path, zone, "timeZone must be nil or non-empty string")]
    for part in zone.split("/"):
        if part in (".", "..") or part.startswith("-") or not _TIME_ZONE_PART.fullmatch(part):
            return [field.invalid(path, zone, f"unknown time zone {zone}")]
    errors: ErrorList = []
    if zone.lower() == "local":
        errors.append(
            field.invalid(
                path,
                zone,
                "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
            )
        )
    if not cron.valid_location(zone):
        errors.append(field.invalid(path, zone, f"unknown time zone {zone}"))
    return errors


def _cronjob_spec(spec: Obj, old_spec: Obj | None, path: Path) -> ErrorList:
    """validateCronJobSpec."""
    errors: ErrorList = []
    schedule = text(spec.get("schedule"))
    if not schedule:
        errors.append(field.required(path.child("schedule")))
    else:
        allow_tz = old_spec is not None and "TZ" in text(old_spec.get("schedule"))
        errors.extend(_schedule(schedule, spec.get("timeZone"), allow_tz, path.child("schedule")))
    errors.extend(
        meta.nonnegative(spec.get("startingDeadlineSeconds"), path.child("startingDeadlineSeconds"))
    )
    if old_spec is None or old_spec.get("timeZone") != spec.get("timeZone"):
        errors.extend(_time_zone(spec.get("timeZone"), path.child("timeZone")))
    policy = spec.get("concurrencyPolicy")
    if policy in (None, ""):
        errors.append(field.required(path.child("concurrencyPolicy")))
    elif policy not in _CONCURRENCY:
        errors.append(field.not_supported(path.child("concurrencyPolicy"), policy, _CONCURRENCY))
    job_spec = mapping(mapping(spec.get("jobTemplate")).get("spec"))
    job_path = path.child("jobTemplate", "spec")
    errors.extend(validate_job_spec(job_spec, job_path))
    if job_spec.get("selector") is not None:
        errors.append(
            field.invalid(
                job_path.child("selector"),
                meta.selector_value(job_spec["selector"]),
                "`selector` will be auto-generated",
            )
        )
    if _manual(job_spec):
        errors.append(field.not_supported(job_path.child("manualSelector"), True, ("nil", "false")))
    for key in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        errors.extend(meta.nonnegative(spec.get(key), path.child(key)))
    return errors


class CronJobStrategy(podwarnings.TemplateOwnerStrategy):
    def default(self, obj: Obj, old: Obj | None, store: Store) -> None:
        spec = child(obj, "spec")
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        job_template = child(spec, "jobTemplate")
        child(job_template, "metadata")
        podspec.default_template(child(job_template, "spec"))
        obj.setdefault("status", {})

    def validate(self, obj: Obj) -> ErrorList:
        errors = super().validate(obj)
        errors.extend(_cronjob_spec(mapping(obj.get("spec")), None, SPEC))
        name = text(mapping(obj.get("metadata")).get("name"))
        if len(name) > _CRONJOB_NAME_MAX:
            errors.append(
                field.invalid(
                    Path("metadata.name"),
                    name,
                    f"must be no more than {_CRONJOB_NAME_MAX} characters",
                )
            )
        return errors

    def template_warnings(self, obj: Obj) -> list[str]:
        job_template = mapping(mapping(obj.get("spec")).get("jobTemplate"))
        return podwarnings.job_spec_warnings(
            SPEC.child("jobTemplate", "spec"), job_template.get("spec")
        )

    def warnings_on_update(self, obj: Obj, old: Obj) -> list[str]:
        warnings = super().warnings_on_update(obj, old)
        # Creations refuse a time zone in the schedule; one kept from before is only warned of.
        if "TZ" in text(mapping(obj.get("spec")).get("schedule")):
            warnings.append(
                "cannot use TZ or CRON_TZ in spec.spec.schedule, use timeZone instead, see "
                "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more "
                "details"
            )
        return warnings

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        errors = meta.validate_object_meta_update(
            mapping(obj.get("metadata")), mapping(old.get("metadata"))
        )
        old_spec = mapping(old.get("spec"))
        return errors + _cronjob_spec(mapping(obj.get("spec")), old_spec, SPEC)
