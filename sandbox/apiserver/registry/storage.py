"""PersistentVolumeClaims, PersistentVolumes and StorageClasses (pkg/registry/core/
persistentvolumeclaim, persistentvolume; storage/storageclass): the admission plugins'
default class and protection finalizers, ValidatePersistentVolumeClaimSpec, a claim's spec
frozen after creation (but a bound claim's storage request), and the PersistentVolumeClaimResize
admission plugin: a claim grows only if bound, and only if its class allows expansion."""

from __future__ import annotations

import copy

from sandbox.apimachinery import field, quantity
from sandbox.apimachinery.errors import ApiError
from sandbox.apimachinery.field import ErrorList, Path
from sandbox.apiserver.registry import meta, names
from sandbox.apiserver.registry.strategy import Strategy
from sandbox.apiserver.registry.values import Obj, child, items, mapping, text
from sandbox.storage.store import Store, now_rfc3339
from sandbox.storageclasses import claim_class, default_class, expandable

PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
SPEC = Path("spec")
ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
VOLUME_MODES = ("Block", "Filesystem")
_IMMUTABLE_SPEC = (
    "spec is immutable after creation except resources.requests and volumeAttributesClassName "
    "for bound claims"
)


def _protect(obj: Obj, finalizer: str) -> None:
    """The StorageObjectInUseProtection admission plugin: every new claim and volume carries
    the finalizer its protection controller removes once nothing uses it."""
    finalizers = child(obj, "metadata").get("finalizers")
    if not isinstance(finalizers, list):
        finalizers = obj["metadata"]["finalizers"] = []
    if finalizer not in finalizers:
        finalizers.append(finalizer)


def _storage_request(spec: Obj) -> object:
    return mapping(mapping(spec.get("resources")).get("requests")).get("storage")


def _claim_spec(spec: Obj, path: Path) -> ErrorList:
    """ValidatePersistentVolumeClaimSpec."""
    errors: ErrorList = []
    modes = items(spec.get("accessModes"))
    if not modes:
        errors.append(
            field.required(path.child("accessModes"), "at least 1 access mode is required")
        )
    if spec.get("selector") is not None:
        errors.extend(meta.validate_label_selector(spec["selector"], path.child("selector")))
    for mode in modes:
        if mode not in ACCESS_MODES:
            errors.append(field.not_supported(path.child("accessModes"), mode, ACCESS_MODES))
    if "ReadWriteOncePod" in modes and any(
        m in ACCESS_MODES and m != "ReadWriteOncePod" for m in modes
    ):
        errors.append(
            field.forbidden(
                path.child("accessModes"), "may not use ReadWriteOncePod with other access modes"
            )
        )
    where = path.child("resources").key("storage")
    request = _storage_request(spec)
    amount = quantity.rounded(request)
    if request is None:
        errors.append(field.required(where))
    elif amount is not None and amount <= 0:
        errors.append(
            field.invalid(where, quantity.canonical(request), "must be greater than zero")
        )
    class_name = text(spec.get("storageClassName"))
    if class_name:
        errors.extend(
            field.invalid(path.child("storageClassName"), class_name, m)
            for m in names.name_is_dns_subdomain(class_name, False)
        )
    mode = spec.get("volumeMode")
    if mode is not None and mode not in VOLUME_MODES:
        errors.append(field.not_supported(path.child("volumeMode"), mode, VOLUME_MODES))
    return errors


class ClaimStrategy(Strategy):
    def default(self, obj: Obj, old: Obj | None, store: Store) -> None:
        spec = child(obj, "spec")
        spec.setdefault("volumeMode", "Filesystem")
        if old is None:
            # Only a claim without the field gets the default: "" asks for no class at all.
            if spec.get("storageClassName") is None and (name := default_class(store)):
                spec["storageClassName"] = name
            _protect(obj, PVC_PROTECTION)
        obj.setdefault("status", {"phase": "Pending"})

    def validate(self, obj: Obj) -> ErrorList:
        return super().validate(obj) + _claim_spec(mapping(obj.get("spec")), SPEC)

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        errors = super().validate_update(obj, old)
        spec, old_spec = mapping(obj.get("spec")), mapping(old.get("spec"))
        new_view, old_view = copy.deepcopy(spec), copy.deepcopy(old_spec)
        if not old_spec.get("volumeName"):
            # The binder sets volumeName once.
            old_view["volumeName"] = new_view.get("volumeName")
        if old_spec.get("storageClassName") is None and spec.get("storageClassName") is not None:
            old_view["storageClassName"] = spec["storageClassName"]
        bound = mapping(obj.get("status")).get("phase") == "Bound"
        if bound:
            requests = mapping(mapping(new_view.get("resources")).get("requests"))
            if "storage" in requests or _storage_request(old_spec) is not None:
                child(child(new_view, "resources"), "requests")["storage"] = _storage_request(
                    old_spec
                )
        if not meta.semantic_equal(new_view, old_view):
            errors.append(field.forbidden(SPEC, _IMMUTABLE_SPEC))
        new_size = quantity.rounded(_storage_request(spec))
        old_size = quantity.rounded(_storage_request(old_spec))
        capacity = quantity.rounded(
            mapping(mapping(old.get("status")).get("capacity")).get("storage")
        )
        # RecoverVolumeExpansionFailure (on in 1.32): shrinking is refused only below capacity.
        shrunk = new_size is not None and old_size is not None and new_size < old_size
        if shrunk and capacity is not None and new_size is not None and new_size <= capacity:
            errors.append(
                field.forbidden(
                    Path("spec.resources.requests.storage"),
                    "field can not be less than status.capacity",
                )
            )
        # Named without "spec", as the real validator names it.
        errors.extend(
            meta.immutable(spec.get("volumeMode"), old_spec.get("volumeMode"), Path("volumeMode"))
        )
        return errors

    def admit(self, obj: Obj, old: Obj | None, store: Store) -> None:
        """PersistentVolumeClaimResize: only a bound claim of a class that allows expansion
        may ask for more storage (shrinking is validation's to refuse)."""
        if old is None:
            return
        new_size = quantity.rounded(_storage_request(mapping(obj.get("spec"))))
        old_size = quantity.rounded(_storage_request(mapping(old.get("spec")))) or 0
        if new_size is None or new_size <= old_size:
            return
        name = text(mapping(obj.get("metadata")).get("name"))
        if mapping(old.get("status")).get("phase") != "Bound":
            raise ApiError.forbidden(
                "persistentvolumeclaims",
                name,
                "Only bound persistent volume claims can be expanded",
            )
        wanted, held = claim_class(obj), claim_class(old)
        if wanted != held or not expandable(store, wanted):
            raise ApiError.forbidden(
                "persistentvolumeclaims",
                name,
                "only dynamically provisioned pvc can be resized and the storageclass that "
                "provisions the pvc must support resize",
            )


class VolumeStrategy(Strategy):
    def default(self, obj: Obj, old: Obj | None, store: Store) -> None:
        spec = child(obj, "spec")
        spec.setdefault("volumeMode", "Filesystem")
        spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
        if isinstance(spec.get("hostPath"), dict):
            spec["hostPath"].setdefault("type", "")  # HostPathUnset
        if old is None:
            _protect(obj, PV_PROTECTION)
            obj["status"] = {"phase": "Pending", "lastPhaseTransitionTime": now_rfc3339()}
