"""pods/binding: how a scheduler assigns a pod to a node (POST .../pods/NAME/binding)."""

from __future__ import annotations

from typing import Any

from sandbox.apimachinery import field
from sandbox.apimachinery.errors import ApiError
from sandbox.apimachinery.field import Path
from sandbox.storage.store import Store

Obj = dict[str, Any]


def bind(store: Store, namespace: str, name: str, binding: Any) -> Obj:
    """Set the pod's spec.nodeName to the Binding's target; a pod is bound once only."""
    target = binding.get("target") if isinstance(binding, dict) else None
    node = (target or {}).get("name") if isinstance(target, dict) else None
    if not node:
        raise ApiError.invalid("pods", name, [field.required(Path("target.name"))])

    def assign(pod: Obj) -> None:
        current = pod["spec"].get("nodeName")
        if current:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is '
                f'already assigned to node "{current}"',
            )
        pod["spec"]["nodeName"] = node

    store.mutate("pods", namespace, name, assign)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
