"""Deployments -> ReplicaSets: rolling updates, Recreate, scaling, revisions and status.

A ReplicaSet per pod template, named ``<deployment>-<pod-template-hash>``. A rolling update
scales the new ReplicaSet up within maxSurge and the old ones down while keeping at least
``replicas - maxUnavailable`` pods available, so with maxUnavailable 0 a new pod is ready
before an old one goes. The status and conditions are those ``kubectl rollout status`` reads.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sandbox.apimachinery.errors import ApiError
from sandbox.apiserver import decoding
from sandbox.clock import format_time, parse_time
from sandbox.controllers.base import (
    NAME_ALPHABET,
    Controller,
    Obj,
    controller_ref,
    owner_reference,
    set_condition,
)
from sandbox.controllers.queue import Key

log = logging.getLogger(__name__)

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
# Deployment conditions carry lastUpdateTime, unlike most kinds'.
_condition = partial(set_condition, update_time=True)


class DeploymentController(Controller):
    resource = "deployments"
    kind = "Deployment"
    watches = ("replicasets", "pods")
    component = "deployment-controller"

    def _on_event(self, event_type: str, resource: str, obj: Obj) -> None:
        # Of pods only their going matters (the deletePod handler): a Recreate rollout waits
        # for the last old one to be gone.
        if resource != "pods" or event_type == "DELETED":
            super()._on_event(event_type, resource, obj)

    def keys_for(self, resource: str, obj: Obj) -> Iterable[Key]:
        """A replica set's deployment; a pod's, through its replica set."""
        if resource == "pods":
            ref = controller_ref(obj)
            if not ref or ref.get("kind") != "ReplicaSet":
                return
            obj = self.get("replicasets", obj["metadata"].get("namespace") or "", ref["name"]) or {}
        yield from super().keys_for(resource, obj)

    def reconcile(self, namespace: str, name: str) -> float | None:
        deployment = self.get("deployments", namespace, name)
        if deployment is None:
            return None
        if deployment["metadata"].get("deletionTimestamp"):
            return None  # being deleted: the garbage collector now decides what its pods become
        problem = decoding.type_error("deployments", deployment)
        if problem:
            # The API refuses such objects; one stored before it did is left alone, not
            # retried: nothing but a new write can change it.
            log.warning("deployment %s/%s is not a valid Deployment: %s", namespace, name, problem)
            return None
        self.adopt("replicasets", deployment)
        spec = deployment.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        owned = self.owned("replicasets", deployment)
        template = spec.get("template") or {}
        collisions = int((deployment.get("status") or {}).get("collisionCount", 0))
        pod_hash = template_hash(template, collisions)
        new = next((rs for rs in owned if _same_template(rs, template, pod_hash)), None)
        old = sorted(
            (rs for rs in owned if rs is not new),
            key=lambda rs: rs["metadata"].get("creationTimestamp") or "",
        )
        surge, unavailable = _rolling_bounds(spec, desired)
        created = False
        if not spec.get("paused"):
            revision = 1 + max((_revision(rs) for rs in old), default=0)
            if new is None:
                new = self._create_replicaset(deployment, old, pod_hash, revision, desired, surge)
                if new is None:
                    return 1.0
                created = True
            elif _revision(new) < revision:
                new = self._annotate_revision(new, revision)
            if (deployment["metadata"].get("annotations") or {}).get(REVISION) != str(
                _revision(new)
            ):
                deployment = self.store.mutate(
                    "deployments", namespace, name, lambda d: _set_revision(d, _revision(new))
                )
            if (spec.get("strategy") or {}).get("type") == "Recreate":
                self._recreate(deployment, new, old, desired)
            else:
                self._roll(deployment, new, old, desired, surge, unavailable)
            self._prune_history(spec, old)
        self._write_status(deployment, new, desired, unavailable, created)
        return (
            1.0
            if not _complete(deployment, self.owned("replicasets", deployment), new, desired)
            else None
        )

    # ---- replica sets

    def _create_replicaset(
        self,
        deployment: Obj,
        old: list[Obj],
        pod_hash: str,
        revision: int,
        desired: int,
        surge: int,
    ) -> Obj | None:
        spec = deployment["spec"]
        template = copy.deepcopy(spec.get("template") or {})
        labels = {**((template.get("metadata") or {}).get("labels") or {}), HASH_LABEL: pod_hash}
        template.setdefault("metadata", {})["labels"] = labels
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            replicas = 0 if any(_replicas(rs) for rs in old) else desired
        else:
            current = sum(_replicas(rs) for rs in old)
            replicas = max(0, min(desired + surge - current, desired))
        name = f"{deployment['metadata']['name']}-{pod_hash}"
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": deployment["metadata"]["namespace"],
                "labels": labels,
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": str(desired),
                    "deployment.kubernetes.io/max-replicas": str(desired + surge),
                    REVISION: str(revision),
                },
                "ownerReferences": [owner_reference(deployment)],
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": spec.get("minReadySeconds", 0),
                "selector": selector,
                "template": template,
            },
        }
        try:
            created = self.create("replicasets", rs)
        except ApiError as error:
            if error.code == 409:
                return None  # our list was older than the store; look again
            raise
        if replicas:
            self.event(
                deployment,
                "ScalingReplicaSet",
                f"Scaled up replica set {name} from 0 to {replicas}",
            )
        return created

    def _annotate_revision(self, rs: Obj, revision: int) -> Obj:
        meta = rs["metadata"]
        return self.store.mutate(
            "replicasets",
            meta["namespace"],
            meta["name"],
            lambda obj: (
                obj["metadata"].setdefault("annotations", {}).update({REVISION: str(revision)})
            ),
        )

    def _scale(self, deployment: Obj, rs: Obj, replicas: int) -> None:
        before = _replicas(rs)
        if before == replicas:
            return
        meta = rs["metadata"]

        def apply(obj: Obj) -> None:
            obj["spec"]["replicas"] = replicas
            obj["metadata"].setdefault("annotations", {})[
                "deployment.kubernetes.io/desired-replicas"
            ] = str((deployment.get("spec") or {}).get("replicas", 1))

        rs.update(self.store.mutate("replicasets", meta["namespace"], meta["name"], apply))
        direction = "up" if replicas > before else "down"
        self.event(
            deployment,
            "ScalingReplicaSet",
            f"Scaled {direction} replica set {meta['name']} from {before} to {replicas}",
        )

    def _roll(
        self, deployment: Obj, new: Obj, old: list[Obj], desired: int, surge: int, unavailable: int
    ) -> None:
        total = _replicas(new) + sum(_replicas(rs) for rs in old)
        if _replicas(new) < desired:
            up = min(desired + surge - total, desired - _replicas(new))
            if up > 0:
                self._scale(deployment, new, _replicas(new) + up)
        elif _replicas(new) > desired:
            self._scale(deployment, new, desired)
        if not old:
            return
        total = _replicas(new) + sum(_replicas(rs) for rs in old)
        min_available = desired - unavailable
        new_unavailable = _replicas(new) - _available(new)
        budget = total - min_available - new_unavailable
        # first drop old pods that are not available anyway, then available ones
        for rs in old:
            unhealthy = _replicas(rs) - _available(rs)
            if budget <= 0:
                break
            if unhealthy > 0:
                down = min(budget, unhealthy)
                self._scale(deployment, rs, _replicas(rs) - down)
                budget -= down
        available = _available(new) + sum(min(_available(rs), _replicas(rs)) for rs in old)
        to_remove = available - min_available
        for rs in old:
            if to_remove <= 0:
                break
            down = min(_replicas(rs), to_remove)
            if down > 0:
                self._scale(deployment, rs, _replicas(rs) - down)
                to_remove -= down

    def _recreate(self, deployment: Obj, new: Obj, old: list[Obj], desired: int) -> None:
        for rs in old:
            self._scale(deployment, rs, 0)
        if self._old_pods_running(old):
            return  # wait for the old pods to be gone, Terminating ones included
        self._scale(deployment, new, desired)

    def _old_pods_running(self, old: list[Obj]) -> bool:
        """oldPodsRunning: an old replica set still counts replicas, or one of its pods is
        not finished, even if it is being deleted."""
        if any((rs.get("status") or {}).get("replicas") for rs in old):
            return True
        uids = {rs["metadata"]["uid"] for rs in old}
        namespace = old[0]["metadata"]["namespace"] if old else None
        pods = self.store.list("pods", namespace)[0] if old else []
        return any(
            (controller_ref(pod) or {}).get("uid") in uids
            and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            for pod in pods
        )

    def _prune_history(self, spec: Obj, old: list[Obj]) -> None:
        limit = int(spec.get("revisionHistoryLimit", 10))
        idle = [
            rs for rs in old if not _replicas(rs) and not (rs.get("status") or {}).get("replicas")
        ]
        for rs in idle[: max(0, len(idle) - limit)]:
            self.delete("replicasets", rs["metadata"]["namespace"], rs["metadata"]["name"])

    # ---- status

    def _write_status(
        self, deployment: Obj, new: Obj | None, desired: int, unavailable: int, created: bool
    ) -> None:
        meta = deployment["metadata"]
        spec = deployment.get("spec") or {}
        owned = self.owned("replicasets", deployment)
        new = next(
            (rs for rs in owned if new and rs["metadata"]["uid"] == new["metadata"]["uid"]), None
        )
        replicas = sum(int((rs.get("status") or {}).get("replicas", 0)) for rs in owned)
        ready = sum(int((rs.get("status") or {}).get("readyReplicas", 0)) for rs in owned)
        available = sum(_available(rs) for rs in owned)
        updated = int((new.get("status") or {}).get("replicas", 0)) if new else 0
        previous = deployment.get("status") or {}
        counts = {
            "replicas": replicas,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": max(desired - available, 0),
        }
        progressed = created or any(previous.get(k, 0) != v for k, v in counts.items())
        now = format_time()
        conditions = list(previous.get("conditions") or [])
        if available >= desired - unavailable:
            conditions = _condition(
                conditions,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                now,
            )
        else:
            conditions = _condition(
                conditions,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                now,
            )
        rs_name = new["metadata"]["name"] if new else ""
        if spec.get("paused"):
            conditions = _condition(
                conditions,
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused",
                now,
            )
        elif new is not None and _complete(deployment, owned, new, desired):
            conditions = _condition(
                conditions,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
                now,
            )
        elif created:
            conditions = _condition(
                conditions,
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                f'Created new replica set "{rs_name}"',
                now,
            )
        elif progressed or not _timed_out(conditions, spec):
            conditions = _condition(
                conditions,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                f'ReplicaSet "{rs_name}" is progressing.',
                now,
                touch=progressed,
            )
        else:
            conditions = _condition(
                conditions,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
                now,
            )
        status: Obj = {"observedGeneration": meta.get("generation", 1)}
        status.update({k: v for k, v in counts.items() if v})  # the API omits zero counts
        status["conditions"] = conditions
        if "collisionCount" in previous:
            status["collisionCount"] = previous["collisionCount"]

        def apply(obj: Obj) -> None:
            obj["status"] = status

        self.store.mutate(
            "deployments", meta["namespace"], meta["name"], apply, subresource="status"
        )


def template_hash(template: Obj, collisions: int = 0) -> str:
    """The pod-template-hash: FNV-1a of the template, spelled in the safe name alphabet."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collisions:
        data += str(collisions).encode()
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(NAME_ALPHABET[ord(c) % len(NAME_ALPHABET)] for c in str(value))


def _same_template(rs: Obj, template: Obj, pod_hash: str) -> bool:
    """Whether ``rs`` runs ``template``: by its hash, or equal but for the hash label."""
    rs_template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
    labels = (rs_template.get("metadata") or {}).get("labels") or {}
    if labels.pop(HASH_LABEL, None) == pod_hash:
        return True
    return _normal(rs_template) == _normal(template)


def _normal(template: Obj) -> Any:
    """A template with empty maps dropped, so {} and a missing field compare equal."""
    if isinstance(template, dict):
        return {k: _normal(v) for k, v in template.items() if v not in ({}, None)}
    if isinstance(template, list):
        return [_normal(v) for v in template]
    return template


def _replicas(rs: Obj) -> int:
    return int((rs.get("spec") or {}).get("replicas", 1))


def _available(rs: Obj) -> int:
    return int((rs.get("status") or {}).get("availableReplicas", 0))


def _revision(rs: Obj) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def _set_revision(deployment: Obj, revision: int) -> None:
    deployment["metadata"].setdefault("annotations", {})[REVISION] = str(revision)


def _rolling_bounds(spec: Obj, desired: int) -> tuple[int, int]:
    """maxSurge (rounded up) and maxUnavailable (rounded down); never both zero."""
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, desired
    rolling = strategy.get("rollingUpdate") or {}
    surge = _scaled(rolling.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = _scaled(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _scaled(value: int | str, total: int, *, round_up: bool) -> int:
    """An int-or-percent of ``total``; a value that is neither counts as the default 25%."""
    text = str(value)
    percent = text.endswith("%")
    try:
        number = int(text[:-1] if percent else text)
    except ValueError:
        number, percent = 25, True
    if percent:
        share = total * number / 100
        return math.ceil(share) if round_up else math.floor(share)
    return number


def _complete(deployment: Obj, owned: list[Obj], new: Obj | None, desired: int) -> bool:
    """All replicas updated, available, and no old pods left (DeploymentComplete)."""
    if new is None:
        return False
    new = next((rs for rs in owned if rs["metadata"]["uid"] == new["metadata"]["uid"]), new)
    total = sum(int((rs.get("status") or {}).get("replicas", 0)) for rs in owned)
    new_status = new.get("status") or {}
    return (
        _replicas(new) == desired
        and int(new_status.get("replicas", 0)) == desired
        and total == desired
        and sum(_available(rs) for rs in owned) >= desired
        and int(new_status.get("observedGeneration", 0)) >= new["metadata"].get("generation", 1)
    )


def _timed_out(conditions: list[Obj], spec: Obj) -> bool:
    deadline = spec.get("progressDeadlineSeconds", 600)
    for cond in conditions:
        if cond.get("type") == "Progressing" and cond.get("lastUpdateTime"):
            since = parse_time(cond["lastUpdateTime"])
            return (datetime.now(UTC) - since).total_seconds() > deadline
    return False
