"""API discovery documents: /version, /api, /apis and one resource list per group version."""

from __future__ import annotations

from typing import Any

from sandbox.resources import Resource, group_versions

# The kubectl dispatcher runs the kubectl build matching the server's minor version.
VERSION_INFO = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-sandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_SUBRESOURCES: dict[str, tuple[str, list[str], str | None]] = {
    # name -> (kind, verbs, "group/version" when it differs from the parent's)
    "status": ("", ["get", "patch", "update"], None),
    "finalize": ("", ["update"], None),
    "log": ("PodLogOptions", ["get"], None),
    "binding": ("Binding", ["create"], None),
    "proxy": ("", ["create", "delete", "get", "patch", "update"], None),
    "scale": ("Scale", ["get", "patch", "update"], "autoscaling/v1"),
}
_PROXY_KINDS = {"pods": "PodProxyOptions", "services": "ServiceProxyOptions"}


def _resource_entries(resource: Resource) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {
        "name": resource.plural,
        "singularName": resource.singular,
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": list(resource.verbs),
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    entries = [entry]
    for sub in resource.subresources:
        kind, verbs, group_version = _SUBRESOURCES[sub]
        sub_entry: dict[str, Any] = {
            "name": f"{resource.plural}/{sub}",
            "singularName": "",
            "namespaced": resource.namespaced,
            "kind": kind or _PROXY_KINDS.get(resource.plural, resource.kind),
            "verbs": verbs,
        }
        if group_version:
            sub_entry["group"], sub_entry["version"] = group_version.split("/")
        entries.append(sub_entry)
    return entries


def core_versions() -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    }


def api_groups() -> dict[str, Any]:
    groups: dict[str, dict[str, Any]] = {}
    for group_version in group_versions():
        if "/" not in group_version:
            continue
        group, version = group_version.split("/")
        entry = {"groupVersion": group_version, "version": version}
        # The storage version comes first, and is the preferred one (autoscaling: v2, v1).
        known = groups.setdefault(group, {"name": group, "versions": [], "preferredVersion": entry})
        known["versions"].append(entry)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": list(groups.values())}


def resource_list(group_version: str) -> dict[str, Any] | None:
    resources = group_versions().get(group_version)
    if resources is None:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [entry for resource in resources for entry in _resource_entries(resource)],
    }
