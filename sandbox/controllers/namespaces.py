"""Namespaces: report them Active and give each its ``default`` ServiceAccount."""

from __future__ import annotations

from sandbox.controllers.base import Controller, Obj


class NamespaceController(Controller):
    resource = "namespaces"
    kind = "Namespace"
    resync_seconds = 30.0

    def reconcile(self, namespace: str, name: str) -> float | None:
        ns = self.get("namespaces", "", name)
        if ns is None:
            return None
        if (ns.get("status") or {}).get("phase") != "Active":
            self.store.mutate("namespaces", None, name, _active, subresource="status")
        if self.get("serviceaccounts", name, "default") is None:
            self.create(
                "serviceaccounts",
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": "default", "namespace": name},
                },
            )
        return None


def _active(ns: Obj) -> None:
    ns["status"] = {"phase": "Active"}
