"""Create, replace, patch and delete, with defaulting, dry runs and the scale subresource.

Plain synchronous functions over the store; the HTTP layer decodes requests and calls them.
A write in a served version other than the stored one (autoscaling/v1) is converted to the
stored version first; a patch is applied to the object as that version serves it. What they
return is stored objects: the HTTP layer converts them for the client.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from sandbox.apimachinery import field
from sandbox.apimachinery.errors import ApiError
from sandbox.apimachinery.field import Path
from sandbox.apiserver import conversion, decoding, openapi, ownership, registry
from sandbox.apiserver.patch import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    json_patch,
    managed_fields,
    merge_patch,
    record_manager,
    server_side_apply,
    strategic_merge,
)
from sandbox.clock import format_time
from sandbox.resources import Resource
from sandbox.storage.store import Store, deletion_finalizers, now_rfc3339

Obj = dict[str, Any]

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# The kinds whose REST strategy orphans dependents unless told otherwise (batch/v1 Jobs, for
# compatibility with clients older than the garbage collector).
ORPHAN_BY_DEFAULT = ("jobs",)


@dataclass
class WriteOptions:
    """The query parameters of a write, and who makes it (``manager``: the fieldManager
    parameter, else the client's User-Agent name, as the real server does); ``validation``
    is the fieldValidation directive."""

    dry_run: bool = False
    field_manager: str = ""
    manager: str = ""
    force: bool = False
    validation: str = decoding.WARN


def decode_body(body: bytes, content_type: str = "application/json") -> Any:
    """Parse a request body (JSON, or YAML for apply patches) into Python values."""
    try:
        if content_type == APPLY_PATCH:
            return yaml.load(body, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        return json.loads(body or b"null")
    except (ValueError, yaml.YAMLError) as error:
        raise ApiError.bad_request(f"the request body is not valid: {error}") from error


def _require_object(value: Any) -> Obj:
    if not isinstance(value, dict):
        raise ApiError.bad_request("the request body must be a JSON object")
    return value


class ObjectApi:
    """What the API server does to objects on writes."""

    def __init__(self, store: Store):
        self.store = store

    # ---------------------------------------------------------------- helpers

    def _check_namespace(
        self, resource: Resource, namespace: str | None, obj: Obj, *, creating: bool = False
    ) -> None:
        meta = obj.setdefault("metadata", {})
        if not resource.namespaced:
            meta.pop("namespace", None)
            return
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise ApiError.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        meta["namespace"] = namespace
        try:
            owner = self.store.get("namespaces", None, namespace or "")
        except ApiError as error:
            raise ApiError.not_found("namespaces", namespace or "") from error
        if creating and owner["metadata"].get("deletionTimestamp"):
            # The NamespaceLifecycle admission plugin's refusal (of creations only: what is
            # there may still be updated), cause included.
            cause = {
                "reason": "NamespaceTerminating",
                "message": f"namespace {namespace} is being terminated",
                "field": "metadata.namespace",
            }
            raise ApiError.forbidden(
                resource.plural,
                # Admission runs before the name is generated: it names the prefix instead.
                meta.get("name") or meta.get("generateName") or "Unknown",
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
                [cause],
            )

    def _finish_dry_run(self, new: Obj, old: Obj | None) -> Obj:
        meta = new["metadata"]
        if old is None:
            meta["creationTimestamp"] = now_rfc3339()
            meta["generation"] = 1
            meta.pop("resourceVersion", None)
        else:
            generation = old["metadata"].get("generation", 1)
            changed = new.get("spec") != old.get("spec")
            meta["generation"] = generation + 1 if changed else generation
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        return new

    # ----------------------------------------------------------------- writes

    def create(
        self, resource: Resource, namespace: str | None, body: Any, options: WriteOptions
    ) -> Obj:
        obj = conversion.to_storage(resource, copy.deepcopy(_require_object(body)))
        resource = resource.stored()
        self._check_namespace(resource, namespace, obj, creating=True)
        meta = obj["metadata"]
        if options.manager and not meta.get("managedFields"):
            ownership.record_update(
                obj, None, options.manager, openapi.kind_schema(resource.plural)
            )
        registry.prepare(resource, obj, None, self.store)
        decoding.warn(registry.warnings(resource, obj, None))
        if options.dry_run:
            try:
                self.store.get(resource.plural, namespace, meta["name"])
            except ApiError:
                return self._finish_dry_run(obj, None)
            raise ApiError.already_exists(resource.plural, meta["name"])
        return self.store.create(resource.plural, obj)

    def replace(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        body: Any,
        subresource: str | None,
        options: WriteOptions,
    ) -> Obj:
        obj = conversion.to_storage(resource, copy.deepcopy(_require_object(body)))
        resource = resource.stored()
        self._check_namespace(resource, namespace, obj)
        if obj["metadata"].get("name") != name:
            raise ApiError.bad_request("the name of the object does not match the name on the URL")
        old = self.store.get(resource.plural, namespace, name)
        if subresource == "scale":
            return self._scale_write(resource, old, obj, options)
        if subresource == "finalize":
            return self._finalize(old, obj, options)
        wanted = obj["metadata"].get("resourceVersion")
        if wanted and str(wanted) != old["metadata"]["resourceVersion"]:
            raise ApiError.conflict(
                resource.plural,
                name,
                "the object has been modified; please apply your changes to the latest "
                "version and try again",
            )
        if subresource == "status":
            new = registry.prepare_status(resource, obj, old)
        else:
            new = registry.prepare(resource, obj, old, self.store)
            decoding.warn(registry.warnings(resource, new, old))
            schema = openapi.kind_schema(resource.plural)
            ownership.record_update(new, old, options.manager, schema, subresource or "")
        if options.dry_run:
            return self._finish_dry_run(new, old)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        return self.store.update(resource.plural, new, subresource=subresource)

    def patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        patch_type: str,
        body: bytes,
        subresource: str | None,
        options: WriteOptions,
    ) -> tuple[Obj, bool]:
        """Apply a patch; returns the object and whether it was created (apply patches)."""
        if subresource == "finalize":
            raise ApiError(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        document, patch_strict = decoding.load_patch(body, patch_type, options.validation)
        # The patch applies to the object as the request's version serves it.
        served, stored = resource, resource.stored()
        schema = openapi.kind_schema(resource.plural, served.version)
        if patch_type == APPLY_PATCH:
            applied = _require_object(document)
            if not options.field_manager:
                raise ApiError.bad_request(
                    "PATCH with apply requires a fieldManager query parameter"
                )
            if subresource != "scale":
                decoding.check_apply(resource, applied, options.validation)
            try:
                self.store.get(resource.plural, namespace, name)
            except ApiError as error:
                if error.code != 404 or subresource:
                    raise
                return self._apply_create(resource, namespace, name, applied, options), True
        if subresource == "scale":
            old = self.store.get(resource.plural, namespace, name)
            scale = _apply_patch(_scale_of(resource, old), patch_type, document, {}, options)
            return self._scale_write(resource, old, scale, options), False

        def change(obj: Obj) -> None:
            old = copy.deepcopy(obj)
            current = conversion.to_served(served, obj)
            if patch_type == APPLY_PATCH:
                ownership.check_apply(
                    current, document, options.field_manager, schema, options.force
                )
            new = _apply_patch(current, patch_type, document, schema, options)
            if patch_type != APPLY_PATCH:
                decoding.check_patched(
                    served, patch_type, new, document, options.validation, patch_strict
                )
            new = conversion.to_storage(served, new)
            new_meta = new.setdefault("metadata", {})
            for fixed in ("name", "namespace", "uid", "creationTimestamp", "resourceVersion"):
                if fixed in old["metadata"]:
                    new_meta[fixed] = old["metadata"][fixed]
            if subresource == "status":
                new = registry.prepare_status(stored, new, old)
            else:
                registry.prepare(stored, new, old, self.store)
                decoding.warn(registry.warnings(stored, new, old))
                if patch_type != APPLY_PATCH:
                    ownership.record_update(
                        new, old, options.manager, openapi.kind_schema(stored.plural)
                    )
            obj.clear()
            obj.update(new)

        if options.dry_run:
            old = self.store.get(resource.plural, namespace, name)
            new = copy.deepcopy(old)
            change(new)
            return self._finish_dry_run(new, old), False
        return self.store.mutate(resource.plural, namespace, name, change), False

    def _apply_create(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        applied: Obj,
        options: WriteOptions,
    ) -> Obj:
        obj = copy.deepcopy(applied)
        obj.setdefault("metadata", {})["name"] = name
        schema = openapi.kind_schema(resource.plural, resource.version)
        record_manager(obj, options.field_manager, "Apply", managed_fields(obj, schema))
        return self.create(resource, namespace, obj, WriteOptions(dry_run=options.dry_run))

    def delete(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        propagation: str | None,
        dry_run: bool,
        grace_period: int | None = None,
    ) -> Obj:
        if resource.plural == "namespaces":
            return self._terminate_namespace(name, propagation, dry_run)
        default = "Orphan" if resource.plural in ORPHAN_BY_DEFAULT else "Background"
        if dry_run:
            obj = self.store.get(resource.plural, namespace, name)
            meta = obj["metadata"]
            finalizers = deletion_finalizers(meta.get("finalizers") or [], propagation, default)
            if finalizers:
                meta["finalizers"] = finalizers
                meta.setdefault("deletionTimestamp", now_rfc3339())
                meta["deletionGracePeriodSeconds"] = 0
            return obj
        if resource.plural == "pods":
            terminating = self._terminate_pod(namespace, name, grace_period)
            if terminating is not None:
                return terminating
        return self.store.delete(
            resource.plural, namespace, name, propagation, default_policy=default
        )

    def _terminate_pod(self, namespace: str | None, name: str, grace: int | None) -> Obj | None:
        """A graceful delete: a bound, unfinished pod is marked and kept for its kubelet to stop
        (and then delete with grace 0); None when it goes at once.

        As the pod strategy's CheckGracefulDelete: the grace period is the request's, else
        the pod's terminationGracePeriodSeconds; an unbound or finished pod, or grace 0
        (``--force``), is deleted now; a second delete may only shorten the grace period.
        """
        pod = self.store.get("pods", namespace, name)
        spec, meta = pod.get("spec") or {}, pod["metadata"]
        finished = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        if grace is None:
            grace = int(spec.get("terminationGracePeriodSeconds", 30))
        if not spec.get("nodeName") or finished or grace <= 0:
            return None
        current = meta.get("deletionGracePeriodSeconds")
        if current is not None and grace >= current:
            return pod

        def mark(obj: Obj) -> None:
            deadline = datetime.now(UTC) + timedelta(seconds=grace)
            obj["metadata"]["deletionTimestamp"] = format_time(deadline)
            obj["metadata"]["deletionGracePeriodSeconds"] = grace

        return self.store.mutate("pods", namespace, name, mark)

    def _finalize(self, old: Obj, obj: Obj, options: WriteOptions) -> Obj:
        """PUT namespaces/<name>/finalize: the only write that changes spec.finalizers; the
        last one gone deletes a namespace being deleted."""
        wanted = list((obj.get("spec") or {}).get("finalizers") or [])
        if options.dry_run:
            new = copy.deepcopy(old)
            new.setdefault("spec", {})["finalizers"] = wanted
            return new

        def finalize(ns: Obj) -> None:
            ns.setdefault("spec", {})["finalizers"] = wanted

        return self.store.mutate("namespaces", None, old["metadata"]["name"], finalize)

    def _terminate_namespace(self, name: str, propagation: str | None, dry_run: bool) -> Obj:
        """The namespace registry's delete: the first one marks the namespace Terminating (the
        namespace controller then empties it and removes its ``kubernetes`` finalizer); a
        later one deletes it only once spec.finalizers is empty."""
        if name in SYSTEM_NAMESPACES:
            raise ApiError.forbidden("namespaces", name, "this namespace may not be deleted")
        current = self.store.get("namespaces", None, name)
        if current["metadata"].get("deletionTimestamp"):
            if (current.get("spec") or {}).get("finalizers") or dry_run:
                return current
            return self.store.delete("namespaces", None, name, propagation)

        def terminate(obj: Obj) -> None:
            meta = obj["metadata"]
            meta.setdefault("deletionTimestamp", now_rfc3339())
            finalizers = deletion_finalizers(
                meta.get("finalizers") or [], propagation, "Background"
            )
            meta["finalizers"] = finalizers
            obj.setdefault("status", {})["phase"] = "Terminating"

        if dry_run:
            terminate(current)
            return current
        return self.store.mutate("namespaces", None, name, terminate)

    def delete_collection(
        self,
        resource: Resource,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        propagation: str | None,
        dry_run: bool,
        grace_period: int | None = None,
    ) -> Obj:
        items, version = self.store.list(
            resource.plural,
            namespace,
            label_selector=label_selector,
            field_selector=field_selector,
        )
        deleted = []
        for item in items:
            meta = item["metadata"]
            try:
                deleted.append(
                    self.delete(
                        resource,
                        meta.get("namespace"),
                        meta["name"],
                        propagation,
                        dry_run,
                        grace_period,
                    )
                )
            except ApiError as error:
                if error.code != 404:
                    raise
        return {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.api_version,
            "metadata": {"resourceVersion": str(version)},
            "items": deleted,
        }

    # ------------------------------------------------------------------ scale

    def scale(self, resource: Resource, namespace: str | None, name: str) -> Obj:
        return _scale_of(resource, self.store.get(resource.plural, namespace, name))

    def _scale_write(self, resource: Resource, old: Obj, scale: Obj, options: WriteOptions) -> Obj:
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError.invalid(
                "scale",
                old["metadata"]["name"],
                [
                    field.invalid(
                        Path("spec.replicas"), replicas, "must be greater than or equal to 0"
                    )
                ],
            )
        if options.dry_run:
            new = copy.deepcopy(old)
            new["spec"]["replicas"] = replicas
            decoding.warn(registry.warnings(resource, new, old))
            return _scale_of(resource, new)
        meta = old["metadata"]

        def set_replicas(obj: Obj) -> None:
            before = copy.deepcopy(obj)
            obj.setdefault("spec", {})["replicas"] = replicas
            # The scale subresource updates through the kind's strategy, warnings included.
            decoding.warn(registry.warnings(resource, obj, before))
            schema = openapi.kind_schema(resource.plural)
            ownership.record_update(obj, before, options.manager, schema, "scale")

        updated = self.store.mutate(
            resource.plural, meta.get("namespace"), meta["name"], set_replicas
        )
        return _scale_of(resource, updated)


def _apply_patch(
    obj: Obj, patch_type: str, document: Any, schema: openapi.Schema, options: WriteOptions
) -> Obj:
    if patch_type == JSON_PATCH:
        if not isinstance(document, list):
            raise ApiError.bad_request("a JSON patch must be a list of operations")
        return json_patch(obj, document)
    if patch_type == MERGE_PATCH:
        return merge_patch(obj, _require_object(document))
    if patch_type == STRATEGIC_PATCH:
        return strategic_merge(obj, _require_object(document), schema)
    if patch_type == APPLY_PATCH:
        applied = copy.deepcopy(_require_object(document))
        applied.pop("status", None)
        return server_side_apply(obj, applied, options.field_manager, schema)
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the patch type {patch_type!r} is not supported; use one of "
        f"{JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC_PATCH}, {APPLY_PATCH}",
    )


def _scale_of(resource: Resource, obj: Obj) -> Obj:
    meta = obj["metadata"]
    selector = (obj.get("spec") or {}).get("selector") or {}
    labels = selector.get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: meta[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in meta
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{key}={value}" for key, value in labels.items()),
        },
    }
